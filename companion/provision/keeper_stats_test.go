package provision

import (
	"strings"
	"testing"
	"time"
)

func TestKeeperStatsCountRunsAndFailures(t *testing.T) {
	p := newScriptedProvision(unreachable(), unreachable())
	k := startKeeper(t, p)
	if s := k.Stats(); s.Runs != 0 || !s.LastRun.IsZero() {
		t.Fatalf("stats before any run: %+v", s)
	}
	k.Use(configWithSorcery("bob"))
	p.await(t, 3) // two failures, then success
	deadline := time.Now().Add(5 * time.Second)
	for k.Stats().Runs < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s := k.Stats()
	if s.Runs != 3 || s.Failures != 2 || s.LastError != "" || s.LastRun.IsZero() {
		t.Errorf("stats %+v, want 3 runs, 2 failures, no error after the success", s)
	}

	// A permanent failure is not retried: its error stays the last.
	p2 := newScriptedProvision(&StoreError{Op: "PUT", Kind: ErrReadOnly, Status: 403, Message: "Cannot update sorcery objects"})
	k2 := startKeeper(t, p2)
	k2.Use(configWithSorcery("bob"))
	p2.await(t, 1)
	for k2.Stats().Runs < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := k2.Stats(); s.Runs != 1 || s.Failures != 1 || !strings.Contains(s.LastError, "Cannot update") {
		t.Errorf("stats %+v, want the failure and its error", s)
	}
}
