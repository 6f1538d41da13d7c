package companion

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeProber answers each probe with the next scripted outcome; run, if
// set, runs during the probe (a PUBLISH arriving meanwhile).
type fakeProber struct {
	mu      sync.Mutex
	script  []error // nil: answered (401, as a stock Asterisk may)
	during  func()
	probes  int
	probing chan struct{} // when set, told of each probe
}

var errNoAnswer = errors.New("no answer")

func (f *fakeProber) Probe(ctx context.Context) (int, error) {
	f.mu.Lock()
	f.probes++
	var err error
	if len(f.script) > 0 {
		err, f.script = f.script[0], f.script[1:]
	}
	during, probing := f.during, f.probing
	f.during = nil
	f.mu.Unlock()
	if probing != nil {
		probing <- struct{}{}
	}
	if during != nil {
		during()
	}
	if err != nil {
		return 0, err
	}
	return 401, nil
}

func (f *fakeProber) next(errs ...error) {
	f.mu.Lock()
	f.script = append(f.script, errs...)
	f.mu.Unlock()
}

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.b.String(), s)
}

type livenessRig struct {
	*receiverRig
	l    *Liveness
	pl   *peerLife
	f    *fakeProber
	ups  int
	logs *lockedBuffer
}

// newLivenessRig qualifies the receiver rig's peer "open" (which has
// [peer.publish]) with 2 attempts and holds a device and a mailbox of it.
func newLivenessRig(t *testing.T, opts LivenessOptions) *livenessRig {
	g := &livenessRig{receiverRig: newReceiverRig(t), f: &fakeProber{}, logs: &lockedBuffer{}}
	peer := *g.r.peers["open"]
	acc := *peer.Accept
	acc.QualifyAttempts = 2
	peer.Accept = &acc
	opts.Logger = slog.New(slog.NewTextHandler(g.logs, nil))
	g.l = NewLiveness(g.r, opts)
	g.l.Watch(&peer, g.f, func() { g.ups++ })
	g.pl = g.l.peers["open"]
	g.r.OnActivity(g.l.Seen)
	g.ok(pub("open", string(EventDeviceState), "", 3600, devAlice))
	g.ok(pub("open", string(EventMWI), "", 3600, mbox100))
	return g
}

func (g *livenessRig) probe(outcome error) {
	g.f.next(outcome)
	g.l.check(context.Background(), g.pl)
}

const downLine = "peer stopped answering OPTIONS; its states are cleared"

func TestLivenessDownAfterAttemptsAndBack(t *testing.T) {
	g := newLivenessRig(t, LivenessOptions{})
	if f, n, to := g.pl.freq, g.pl.attempts, g.pl.timeout; f != DefaultQualifyFrequency || n != 2 || to != DefaultQualifyTimeout {
		t.Fatalf("qualify %v × %d, timeout %v", f, n, to)
	}
	g.probe(nil) // a 401 is an answer
	g.probe(errNoAnswer)
	if g.l.Down("open") || len(g.remoteNames()) != 2 {
		t.Fatalf("down after one miss of two: %v", g.remoteNames())
	}
	// An answer resets the count: misses must be in a row.
	g.probe(nil)
	g.probe(errNoAnswer)
	if g.l.Down("open") {
		t.Fatal("misses not in a row counted as down")
	}
	g.probe(errNoAnswer)
	if !g.l.Down("open") || g.l.Downs("open") != 1 {
		t.Fatalf("not down after 2 misses in a row")
	}
	if got := g.remoteNames(); len(got) != 0 || g.r.PeerOf(mustEID(peerEID)) != "" || g.r.Publications() != 0 {
		t.Errorf("down peer's states %v, EID owner %q, %d publications", got, g.r.PeerOf(mustEID(peerEID)), g.r.Publications())
	}
	// Further misses change nothing and say nothing.
	g.probe(errNoAnswer)
	g.probe(errNoAnswer)
	if g.l.Downs("open") != 1 || g.logs.count(downLine) != 1 {
		t.Errorf("downs %d, %d log lines; want one each", g.l.Downs("open"), g.logs.count(downLine))
	}
	if g.ups != 0 {
		t.Errorf("onUp called while down")
	}
	// It answers: up, once.
	g.probe(nil)
	g.probe(nil)
	if g.l.Down("open") || g.ups != 1 || g.logs.count("peer is back") != 1 {
		t.Errorf("after answers: down %v, onUp %d times, %d log lines", g.l.Down("open"), g.ups, g.logs.count("peer is back"))
	}
	// Its states come with its next PUBLISHes (a stock Asterisk: 412,
	// then a new publication).
	g.ok(pub("open", string(EventDeviceState), "", 3600, devAlice))
	if got := g.remoteNames(); len(got) != 1 {
		t.Errorf("after the peer published again: %v", got)
	}
}

// A PUBLISH is a sign of life: during a probe it makes an unanswered
// probe no miss, and it brings a down peer back.
func TestLivenessPublishShowsLife(t *testing.T) {
	g := newLivenessRig(t, LivenessOptions{})
	g.probe(errNoAnswer)
	g.f.during = func() { g.ok(pub("open", string(EventDeviceState), "", 3600, devBob)) }
	g.probe(errNoAnswer)
	g.probe(errNoAnswer)
	if g.l.Down("open") {
		t.Fatal("down although it published during a probe")
	}
	g.probe(errNoAnswer)
	if !g.l.Down("open") {
		t.Fatal("not down after 2 misses in a row")
	}
	g.ok(pub("open", string(EventDeviceState), "", 3600, devAlice))
	if g.l.Down("open") || g.ups != 1 {
		t.Errorf("a PUBLISH did not bring it back: down %v, onUp %d", g.l.Down("open"), g.ups)
	}
	if got := g.remoteNames(); len(got) != 1 || got[0] != "PJSIP/alice INUSE" {
		t.Errorf("the PUBLISH that brought it back was not applied: %v", got)
	}
}

// Run probes once per tick, and ends with its ctx; a probe cut off by
// shutdown is no miss.
func TestLivenessRunPacedByTicker(t *testing.T) {
	ticks := make(chan time.Time)
	g := newLivenessRig(t, LivenessOptions{Ticker: func(d time.Duration) (<-chan time.Time, func()) {
		if d != DefaultQualifyFrequency {
			t.Errorf("ticker of %v", d)
		}
		return ticks, func() {}
	}})
	g.f.probing = make(chan struct{}, 10)
	g.f.next(errNoAnswer, errNoAnswer, errNoAnswer)
	stop := runInBackground(t, "liveness", func(ctx context.Context) { g.l.Run(ctx) })
	for range 2 {
		ticks <- time.Now()
		<-g.f.probing
	}
	// The loop takes the next tick only once the last probe's verdict is
	// in: after it, the peer is down.
	ticks <- time.Now()
	<-g.f.probing
	if !g.l.Down("open") || len(g.remoteNames()) != 0 {
		t.Errorf("not down after two unanswered ticks: %v", g.remoteNames())
	}
	stop()
	g.f.mu.Lock()
	defer g.f.mu.Unlock()
	if n := g.f.probes; n != 3 {
		t.Errorf("%d probes for 3 ticks", n)
	}
}

// A peer without [peer.publish] (nowhere to probe) or with qualify off
// is not watched.
func TestLivenessWatchesOnlyQualifiedPeers(t *testing.T) {
	g := newReceiverRig(t)
	l := NewLiveness(g.r, LivenessOptions{})
	deaf := g.r.peers["deaf"] // [peer.accept] only
	l.Watch(deaf, &fakeProber{}, nil)
	open := *g.r.peers["open"]
	acc := *open.Accept
	acc.QualifyFrequency = Off
	open.Accept = &acc
	l.Watch(&open, &fakeProber{}, nil)
	if len(l.peers) != 0 {
		t.Errorf("watched %d peers", len(l.peers))
	}
	l.Seen("deaf") // not watched: nothing to do
}

// A peer watched while Run runs is probed at once at its pace; Unwatch
// ends its loop; watching it anew keeps it down.
func TestLivenessWatchAndUnwatchWhileRunning(t *testing.T) {
	g := newLivenessRig(t, LivenessOptions{})
	ticks := make(chan time.Time)
	ended := make(chan struct{}, 2)
	g.l.tick = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() { ended <- struct{}{} } }
	g.l.Unwatch("open")
	stop := runInBackground(t, "liveness", func(ctx context.Context) { g.l.Run(ctx) })
	defer stop()

	peer := *g.r.peers["open"]
	acc := *peer.Accept
	acc.QualifyAttempts = 2
	peer.Accept = &acc
	f := &fakeProber{probing: make(chan struct{}, 10)}
	f.next(errNoAnswer, errNoAnswer, errNoAnswer)
	g.l.Watch(&peer, f, nil)
	// The loop takes a tick once the last verdict is in: after the
	// third, the peer is down (2 attempts).
	for range 3 {
		ticks <- time.Now()
		<-f.probing
	}
	g.l.Watch(&peer, f, nil)
	<-ended // the first loop ended: watched anew
	if !g.l.Down("open") || g.l.Downs("open") != 1 {
		t.Errorf("watched anew: down %v, %d downs; want down once", g.l.Down("open"), g.l.Downs("open"))
	}
	g.l.Unwatch("open")
	<-ended
	if g.l.Down("open") {
		t.Error("a peer no longer watched counts as down")
	}
}
