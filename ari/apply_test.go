package ari

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
)

// Device names are one path segment: '/', '+', '%', spaces and UTF-8 are
// escaped so that ARI, which splits on '/' before decoding and reads '+'
// as a space, gets the name back exactly.
func TestApplyDeviceEscapesName(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	for _, name := range []string{"Stasis:PJSIP/alice", "Stasis:a+b c%d", "Stasis:ünï/cødé?x#y"} {
		if err := c.ApplyDevice(context.Background(), name, companion.Ringing); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if st, ok := s.DeviceState(name); !ok || st != "RINGING" {
			t.Errorf("%q: state %q %v", name, st, ok)
		}
	}
	if uri := s.Requests()[0].URI; uri != "/ari/deviceStates/Stasis:PJSIP%2Falice" {
		t.Errorf("sent %s", uri)
	}
}

// ARI refuses UNKNOWN on PUT; deleting the Stasis: device gives UNKNOWN.
func TestApplyDeviceUnknownDeletes(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	ctx := context.Background()
	if err := c.ApplyDevice(ctx, "Stasis:PJSIP/bob", companion.Busy); err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyDevice(ctx, "Stasis:PJSIP/bob", companion.Unknown); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.DeviceState("Stasis:PJSIP/bob"); ok {
		t.Error("device still set")
	}
	if r := s.Requests()[1]; r.Method != "DELETE" {
		t.Errorf("sent %s %s", r.Method, r.URI)
	}
}

func TestApplyDeviceCustomUnsupported(t *testing.T) {
	s := aritest.New(t)
	err := newClient(t, s).ApplyDevice(context.Background(), "Custom:alice", companion.InUse)
	if !errors.Is(err, companion.ErrUnsupported) || !strings.Contains(err.Error(), "Stasis:") {
		t.Fatalf("error %v", err)
	}
}

// The counts travel in the query: ari/v6's Mailbox().Update sends them as
// JSON strings, which Asterisk (and the fake, like it) reads as 0.
func TestApplyMailboxCounts(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	id, _ := companion.ParseMailboxID("600@default")
	if err := c.ApplyMailbox(context.Background(), id, 1, 2); err != nil {
		t.Fatal(err)
	}
	if old, nw, ok := s.Mailbox("600@default"); !ok || old != 1 || nw != 2 {
		t.Fatalf("mailbox %d/%d %v", old, nw, ok)
	}
	if uri := s.Requests()[0].URI; uri != "/ari/mailboxes/600@default?oldMessages=1&newMessages=2" {
		t.Errorf("sent %s", uri)
	}
}

func TestApplyMailboxWithoutMwiExternal(t *testing.T) {
	s := aritest.New(t)
	s.WithoutMailboxes()
	id, _ := companion.ParseMailboxID("100@default")
	err := newClient(t, s).ApplyMailbox(context.Background(), id, 0, 1)
	if !errors.Is(err, companion.ErrUnsupported) {
		t.Fatalf("error %v, want ErrUnsupported", err)
	}
	for _, want := range []string{"res_mwi_external", "app_voicemail"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// A transient failure is not ErrUnsupported: the caller retries it.
func TestApplyTransientIsRetryable(t *testing.T) {
	s := aritest.New(t)
	s.FailRequest(1, aritest.Fault{Status: 503, Message: "Asterisk not booted"})
	err := newClient(t, s).ApplyDevice(context.Background(), "Stasis:x", companion.InUse)
	if err == nil || errors.Is(err, companion.ErrUnsupported) {
		t.Fatalf("error %v", err)
	}
}
