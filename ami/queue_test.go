package ami

import (
	"context"
	"slices"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestQueueKeepsNewestPerKeyInFirstPendingOrder(t *testing.T) {
	q := newQueue()
	q.put(dev("a", companion.InUse))
	q.put(dev("b", companion.Busy))
	q.put(dev("a", companion.NotInUse))
	if n := q.pendingKeys(); n != 2 {
		t.Fatalf("%d pending, want 2", n)
	}
	_, got := q.take(nil, nil)
	if want := []companion.State{dev("a", companion.NotInUse), dev("b", companion.Busy)}; !slices.Equal(got, want) {
		t.Errorf("take = %v, want %v", got, want)
	}
	if _, again := q.take(nil, nil); len(again) != 0 || q.pendingKeys() != 0 {
		t.Errorf("after take: %v pending", again)
	}
}

// A snapshot supersedes the states of its kind queued before it, not
// those of the other kind, nor those queued after it; a newer snapshot of
// the same kind replaces an undelivered one.
func TestQueueSnapshotSupersedesEarlierStatesOfItsKind(t *testing.T) {
	q := newQueue()
	mb := mbox(t, "100@default", 0, 1)
	q.put(dev("a", companion.InUse))
	q.put(mb)
	q.putSnapshot(companion.KindDevice, []companion.State{dev("a", companion.Busy)})
	q.put(dev("a", companion.Ringing))
	q.putSnapshot(companion.KindMailbox, nil)
	q.putSnapshot(companion.KindMailbox, []companion.State{mb})

	snaps, states := q.take(nil, nil)
	if len(snaps) != 2 || snaps[0].kind != companion.KindDevice || !slices.Equal(snaps[1].states, []companion.State{mb}) {
		t.Errorf("snapshots = %+v", snaps)
	}
	if want := []companion.State{dev("a", companion.Ringing)}; !slices.Equal(states, want) {
		t.Errorf("states = %v, want %v (the mailbox update went with its snapshot)", states, want)
	}
}

func TestQueueRunDeliversSnapshotBeforeLaterStates(t *testing.T) {
	q := newQueue()
	rec := newRecorder()
	g := newGate(rec, true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx, g); close(done) }()
	defer func() { cancel(); g.open(); <-done }()

	q.put(dev("x", companion.InUse)) // taken at once; the gate holds it
	eventually(t, "the first state taken", func() bool { return q.pendingKeys() == 0 })
	q.putSnapshot(companion.KindDevice, []companion.State{dev("a", companion.Busy)})
	q.put(dev("a", companion.Ringing))
	g.open()
	calls := rec.awaitObserved(t, dev("a", companion.Ringing))
	if len(calls) != 3 || calls[0].snapshot || !calls[1].snapshot || calls[2].snapshot {
		t.Errorf("calls:\n%s", formatCalls(calls))
	}
}
