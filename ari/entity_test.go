package ari

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
)

// eid = "auto" reads entity_id from GET /asterisk/info.
func TestEntityIDFromAsteriskInfo(t *testing.T) {
	s := aritest.New(t)
	s.SetInfo(aritest.InfoBody("02:42:ac:11:00:07", "ast7"))
	eid, err := newClient(t, s).EntityID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := companion.ParseEntityID("02:42:ac:11:00:07")
	if eid != want {
		t.Fatalf("eid %s, want %s", eid, want)
	}
}

// ari/v6 fails on a timestamp it cannot parse; the entity_id next to it is
// still good.
func TestEntityIDDespiteLibraryDecodeError(t *testing.T) {
	s := aritest.New(t)
	s.SetInfo(`{"system":{"version":"22.10.1","entity_id":"02:00:00:00:00:09"},"status":{"startup_time":"yesterday"}}`)
	eid, err := newClient(t, s).EntityID(context.Background())
	if err != nil || eid.String() != "02:00:00:00:00:09" {
		t.Fatalf("eid %s, err %v", eid, err)
	}
}

func TestEntityIDErrors(t *testing.T) {
	s := aritest.New(t)
	s.SetInfo(`{"system":{"version":"22.10.1","entity_id":"not-an-eid"}}`)
	_, err := newClient(t, s).EntityID(context.Background())
	if err == nil || !strings.Contains(err.Error(), `entity_id "not-an-eid"`) {
		t.Errorf("bad eid: %v", err)
	}

	s = aritest.New(t)
	cfg := s.ARIConfig(t)
	cfg.Password = companion.NewSecret("wrong", "inline")
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EntityID(context.Background())
	if !errors.Is(err, companion.ErrARIUnauthorized) || !strings.Contains(err.Error(), "/asterisk/info") {
		t.Errorf("401: %v", err)
	}

	s = aritest.New(t)
	s.FailRequest(1, aritest.Fault{Drop: true})
	_, err = newClient(t, s).EntityID(context.Background())
	if !errors.Is(err, companion.ErrARIUnreachable) || !strings.Contains(err.Error(), s.URL()) {
		t.Errorf("dropped: %v", err)
	}
}
