package companion

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// Remote states that arrive before the local Asterisk is connected wait
// for Ready and are then written, with no failure logged.
func TestApplyWaitsForReady(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	ready := make(chan struct{})
	var logs bytes.Buffer
	peer := mustEIDv("02:00:00:00:00:02")
	a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" },
		ApplyOptions{Ready: ready, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	d.fail = func(string) error {
		select {
		case <-ready:
			return nil
		default:
			t.Error("written before Ready")
			return nil
		}
	}
	stop := startApply(t, a)
	defer stop()
	remote.Set(peer, Device("PJSIP/alice", InUse, true))
	time.Sleep(20 * time.Millisecond) // room to misbehave
	close(ready)
	waitFor(t, "alice written after Ready", func() bool { return d.device("Custom:PJSIP/alice") == InUse })
	remote.Set(peer, Device("PJSIP/alice", Busy, true))
	waitFor(t, "later changes written", func() bool { return d.device("Custom:PJSIP/alice") == Busy })
	if strings.Contains(logs.String(), "level=WARN") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logged:\n%s", logs.String())
	}
}

// Run ends while waiting when its ctx does.
func TestApplyReadyWaitEndsWithCtx(t *testing.T) {
	a := NewApply(applyCfg, NewTable(), newAsteriskDouble(), nil, NewEchoes(""), func(EntityID) string { return "" },
		ApplyOptions{Ready: make(chan struct{})})
	stop := startApply(t, a)
	stop() // returns only once Run has returned
}
