package ari

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

// An Asterisk that accepts the connection and never answers (a deadlock)
// must not hold a call beyond the [ari] timeout, and nothing of the call
// may stay behind.
func TestHungAsteriskIsBounded(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := aritest.New(t)
	s.FailRequest(1, aritest.Fault{Hang: true})
	cfg := s.ARIConfig(t)
	cfg.Timeout = 200 * time.Millisecond
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), aliceAuth)
	se := sorceryErr(t, err, companion.ErrARIUnreachable)
	if !strings.Contains(se.Err.Error(), "no answer within 200ms") {
		t.Errorf("cause %v", se.Err)
	}
	// The next call works: the hung one left nothing in the way.
	if _, err := c.Get(context.Background(), aliceAuth); !errors.Is(err, provision.ErrNotFound) {
		t.Errorf("second call: %v", err)
	}
	c.Close()
	s.Close()
}

// The caller's context ends a call too (daemon shutdown).
func TestCallerContextCancels(t *testing.T) {
	s := aritest.New(t)
	s.FailRequest(1, aritest.Fault{Hang: true})
	c := newClient(t, s) // timeout 5s: the context must end it first
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.ApplyDevice(ctx, "Stasis:alice", companion.InUse) }()
	for len(s.Requests()) == 0 {
		time.Sleep(time.Millisecond) // until the request is in flight
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, companion.ErrARIUnreachable) {
			t.Errorf("error %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("cancelled call did not return")
	}
}

// The library's own client would follow a redirect over
// http.DefaultTransport, where nothing bounds it: it must not.
func TestRedirectNotFollowed(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer redirector.Close()
	c, err := New(&companion.ARIConfig{URL: redirector.URL + "/ari", Username: "u", Password: companion.NewSecret("p", "inline"), Timeout: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), aliceAuth)
	se := sorceryErr(t, err, companion.ErrARIFailed)
	if se.Status != http.StatusFound || hits.Load() != 0 {
		t.Errorf("status %d, %d requests followed the redirect", se.Status, hits.Load())
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"ftp://h/ari", "http:///ari", "http://user:pw@h/ari", "::"} {
		_, err := New(&companion.ARIConfig{URL: u, Username: "u", Password: companion.NewSecret("p", "inline")}, nil)
		if err == nil {
			t.Errorf("%q accepted", u)
		} else if strings.Contains(err.Error(), "pw@") {
			t.Errorf("error repeats credentials: %v", err)
		}
	}
}
