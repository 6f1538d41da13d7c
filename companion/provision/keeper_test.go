package provision

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// keeperCall is one call of the ApplyFunc under test.
type keeperCall struct {
	cfg   *companion.Config
	quiet bool
}

// scriptedProvision records calls and answers each with the next scripted
// error (nil once the script is used up). A call tells entered, then
// blocks while gate is held.
type scriptedProvision struct {
	mu      sync.Mutex
	calls   []keeperCall
	script  []error
	gate    sync.Mutex
	entered chan struct{}
	called  chan struct{}
}

func newScriptedProvision(script ...error) *scriptedProvision {
	return &scriptedProvision{script: script, entered: make(chan struct{}, 100), called: make(chan struct{}, 100)}
}

func (s *scriptedProvision) apply(_ context.Context, cfg *companion.Config, quiet bool) error {
	s.entered <- struct{}{}
	s.gate.Lock()
	defer s.gate.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, keeperCall{cfg, quiet})
	var err error
	if len(s.script) > 0 {
		err, s.script = s.script[0], s.script[1:]
	}
	s.called <- struct{}{}
	return err
}

func (s *scriptedProvision) snapshot() []keeperCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]keeperCall(nil), s.calls...)
}

// await waits for n more calls.
func (s *scriptedProvision) await(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.called:
		case <-time.After(5 * time.Second):
			t.Fatalf("provisioning not called; calls so far: %d", len(s.snapshot()))
		}
	}
}

// expectNoCall fails when a call comes within d.
func (s *scriptedProvision) expectNoCall(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.called:
		t.Fatalf("unexpected provisioning call; calls: %d", len(s.snapshot()))
	case <-time.After(d):
	}
}

func startKeeper(t *testing.T, p *scriptedProvision) *Keeper {
	t.Helper()
	k := NewKeeper(p.apply, KeeperOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	t.Cleanup(runInBackground(t, "keeper", k.Run))
	return k
}

func configWithSorcery(id string) *companion.Config {
	return &companion.Config{Sorcery: []companion.SorceryObject{{Class: "res_pjsip", Type: "aor", ID: id}}}
}

func unreachable() error {
	return &StoreError{Op: "GET", Kind: companion.ErrARIUnreachable, Err: errors.New("connection refused")}
}

func TestProvisionRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{unreachable(), true},
		{&Error{Planning: true, Err: unreachable()}, true},
		{&StoreError{Op: "PUT", Kind: companion.ErrARIFailed, Status: 503, Message: "Asterisk not booted"}, true},
		{&StoreError{Op: "PUT", Kind: companion.ErrARIFailed, Status: 500}, true},
		{&StoreError{Op: "PUT", Kind: ErrRejected, Status: 400}, false},
		{&StoreError{Op: "PUT", Kind: ErrReadOnly, Status: 403}, false},
		{&StoreError{Op: "GET", Kind: companion.ErrARIUnauthorized, Status: 401}, false},
		{&StoreError{Op: "GET", Kind: ErrUnknownType, Status: 404}, false},
		{fmt.Errorf("state file: %w", errors.New("permission denied")), false},
		{fmt.Errorf("%w (x.lock holds the lock)", ErrBusy), true},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestKeeperAppliesThenRechecksQuietly(t *testing.T) {
	p := newScriptedProvision()
	k := startKeeper(t, p)
	cfg := configWithSorcery("bob")
	k.Use(cfg)
	p.await(t, 1)
	k.Recheck()
	p.await(t, 1)
	calls := p.snapshot()
	if calls[0].cfg != cfg || calls[0].quiet {
		t.Errorf("first call %+v: want the configuration handed over, not quiet", calls[0])
	}
	if calls[1].cfg != cfg || !calls[1].quiet {
		t.Errorf("recheck %+v: want the same configuration, quiet", calls[1])
	}
}

func TestKeeperRetriesWhatTimeMayCure(t *testing.T) {
	p := newScriptedProvision(unreachable(), &StoreError{Op: "GET", Kind: companion.ErrARIFailed, Status: 503})
	k := startKeeper(t, p)
	k.Use(configWithSorcery("bob"))
	p.await(t, 3) // two failures, then success
	p.expectNoCall(t, 50*time.Millisecond)
	calls := p.snapshot()
	if len(calls) != 3 || calls[0].quiet || !calls[1].quiet || !calls[2].quiet {
		t.Errorf("calls %+v: want one printed attempt, then two quiet retries", calls)
	}
}

func TestKeeperWaitsAfterAPermanentFailure(t *testing.T) {
	p := newScriptedProvision(&StoreError{Op: "PUT", Kind: ErrReadOnly, Status: 403})
	k := startKeeper(t, p)
	k.Use(configWithSorcery("bob"))
	p.await(t, 1)
	// The backoff is 1-4 ms: 50 ms would see several retries.
	p.expectNoCall(t, 50*time.Millisecond)
	k.Recheck()
	p.await(t, 1)
}

func TestKeeperTakesTheNewestConfiguration(t *testing.T) {
	p := newScriptedProvision()
	k := startKeeper(t, p)
	first := configWithSorcery("first")
	p.gate.Lock()
	k.Use(first)
	// Once the first run waits at the gate, queue two more and a recheck.
	select {
	case <-p.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the keeper did not start applying")
	}
	k.Use(configWithSorcery("second"))
	newest := configWithSorcery("third")
	k.Use(newest)
	k.Recheck()
	p.gate.Unlock()
	p.await(t, 2)
	p.expectNoCall(t, 50*time.Millisecond)
	calls := p.snapshot()
	if calls[0].cfg != first || calls[1].cfg != newest || calls[1].quiet {
		t.Errorf("calls %+v: want the first, then only the newest configuration, printed", calls)
	}
}

func TestKeeperIgnoresAFileWithoutSorcery(t *testing.T) {
	p := newScriptedProvision()
	k := startKeeper(t, p)
	k.Use(&companion.Config{})
	k.Recheck()
	p.expectNoCall(t, 50*time.Millisecond)
	k.Use(configWithSorcery("bob"))
	p.await(t, 1)
}
