package fleet

import (
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

func body(t *testing.T, eid companion.EntityID, s companion.State) []byte {
	t.Helper()
	typ := companion.MessageDeviceState
	if s.Key.Kind == companion.KindMailbox {
		typ = companion.MessageMailboxState
	}
	b, err := companion.EncodeMessage(companion.Message{Type: typ, EID: eid, State: s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestViewAppliesOnlyPresentMembers(t *testing.T) {
	self, a := eidN(1), eidN(2)
	remote := companion.NewTable()
	v := newView(self, companion.FleetSwitches{DeviceState: true}, remote, 0, time.Minute)
	v.startLoad()
	v.finishLoad()

	alice := dev("PJSIP/alice", companion.InUse)
	v.put(stateKey(a, alice.Key), body(t, a, alice), 1, time.Now())
	if remote.Len(a) != 0 {
		t.Fatal("a state applied before its node's presence")
	}
	v.put(presenceKey(a), encodePresence(a), 2, time.Now())
	if !hasState(remote, a, alice) {
		t.Fatal("held state not applied when the presence appeared")
	}
	// Filtered out by [fleet.accept]: mailboxes are off.
	box := companion.Mailbox(companion.MailboxID{Box: "1", Context: "default"}, 0, 1)
	v.put(stateKey(a, box.Key), body(t, a, box), 3, time.Now())
	if remote.Len(a) != 1 {
		t.Error("a mailbox state passed an accept without mailbox_state")
	}
	// A bad value replaces the good one: the key asserts nothing valid.
	v.put(stateKey(a, alice.Key), []byte(`{"type":"devicestate"}`), 4, time.Now())
	if remote.Len(a) != 0 || v.Ignored()[IgnoredBadValue] != 1 {
		t.Errorf("after a bad value: %d states, ignored %v", remote.Len(a), v.Ignored())
	}
	v.put(stateKey(a, alice.Key), body(t, a, alice), 5, time.Now())
	if gone, ok := v.remove(presenceKey(a)); !ok || gone != a || remote.Len(a) != 0 {
		t.Errorf("presence removal: %v %v, %d states left", gone, ok, remote.Len(a))
	}
	// Our own keys are the writer's business, never remote state.
	v.put(presenceKey(self), encodePresence(self), 6, time.Now())
	v.put(stateKey(self, alice.Key), body(t, self, alice), 7, time.Now())
	if remote.Len(self) != 0 {
		t.Error("own keys entered the remote table")
	}
}

func TestViewLoadReconciles(t *testing.T) {
	self, a, b := eidN(1), eidN(2), eidN(3)
	remote := companion.NewTable()
	sip := eidN(9) // a SIP peer's origin: not the fleet's to touch
	remote.Set(sip, dev("PJSIP/sip", companion.Busy))
	v := newView(self, companion.FleetSwitches{DeviceState: true}, remote, 0, time.Minute)
	v.startLoad()
	old := time.Now().Add(-time.Hour)
	for _, m := range []companion.EntityID{a, b} {
		v.put(presenceKey(m), encodePresence(m), 1, old)
		v.put(stateKey(m, companion.DeviceKey("PJSIP/x")), body(t, m, dev("PJSIP/x", companion.InUse)), 2, old)
	}
	v.finishLoad()
	if remote.Len(a) != 1 || remote.Len(b) != 1 {
		t.Fatalf("after the first load: a %d, b %d", remote.Len(a), remote.Len(b))
	}
	// Resync: b is gone (its presence expired while we were away), a's
	// key changed.
	v.startLoad()
	v.put(presenceKey(a), encodePresence(a), 3, old)
	v.put(stateKey(a, companion.DeviceKey("PJSIP/x")), body(t, a, dev("PJSIP/x", companion.Ringing)), 4, old)
	v.put(stateKey(b, companion.DeviceKey("PJSIP/x")), body(t, b, dev("PJSIP/x", companion.InUse)), 2, old)
	v.put(stateKey(b, companion.DeviceKey("PJSIP/y")), body(t, b, dev("PJSIP/y", companion.InUse)), 5, time.Now())
	v.finishLoad()
	if !hasState(remote, a, dev("PJSIP/x", companion.Ringing)) || remote.Len(b) != 1 || remote.Len(sip) != 1 {
		t.Errorf("after the resync: a %v, b %d states, sip peer %d", remote.Entries(a), remote.Len(b), remote.Len(sip))
	}
	// b gets its TTL to come back (the server may have lost its
	// presence); it does not, and is cleared.
	if gone := v.expireMissing(time.Now()); len(gone) != 0 {
		t.Errorf("cleared before the grace: %v", gone)
	}
	if gone := v.expireMissing(time.Now().Add(2 * time.Minute)); len(gone) != 1 || gone[0] != b || remote.Len(b) != 0 || remote.Len(sip) != 1 {
		t.Errorf("after the grace: gone %v, b %d states, sip peer %d", gone, remote.Len(b), remote.Len(sip))
	}
	// b's old key is an orphan to purge; its fresh one may be a sync in
	// progress and is left alone.
	orphans := v.orphans(time.Now().Add(-time.Minute))
	if len(orphans) != 1 || len(orphans[b]) != 1 || orphans[b][companion.DeviceKey("PJSIP/x")] != 2 {
		t.Errorf("orphans = %v", orphans)
	}
	if !v.cleaner() {
		t.Error("the lowest EID is not the cleaner")
	}
}

func TestViewBoundsHeldStates(t *testing.T) {
	self, a := eidN(1), eidN(2)
	remote := companion.NewTable()
	v := newView(self, companion.FleetSwitches{DeviceState: true}, remote, 2, time.Minute)
	v.put(presenceKey(a), encodePresence(a), 1, time.Now())
	for _, n := range []string{"PJSIP/1", "PJSIP/2", "PJSIP/3"} {
		v.put(stateKey(a, companion.DeviceKey(n)), body(t, a, dev(n, companion.InUse)), 2, time.Now())
	}
	if remote.Len(a) != 2 || v.Ignored()[IgnoredTooManyKeys] != 1 {
		t.Errorf("held %d, ignored %v", remote.Len(a), v.Ignored())
	}
}

func TestWriterCoalescesAndNeverDoublesAKey(t *testing.T) {
	w := newWriter()
	k1, k2 := companion.DeviceKey("a"), companion.DeviceKey("b")
	for range 5 {
		w.mark(k1)
	}
	w.mark(k2)
	got, ok := w.take()
	if !ok || got != k1 {
		t.Fatalf("take = %v %v", got, ok)
	}
	w.mark(k1) // changed again while being written: not handed out twice
	if got, _ := w.take(); got != k2 {
		t.Fatalf("second take = %v, want b", got)
	}
	if _, ok := w.take(); ok {
		t.Fatal("a key in flight was handed out again")
	}
	w.done(k1, false) // the newer value is queued now
	if got, ok := w.take(); !ok || got != k1 {
		t.Fatalf("after done: %v %v", got, ok)
	}
	w.done(k1, true) // failed: queued again
	w.done(k2, false)
	if got, ok := w.take(); !ok || got != k1 || w.pending() != 1 {
		t.Fatalf("after a failure: %v %v, pending %d", got, ok, w.pending())
	}

	// What we write is remembered; an echo of it changes nothing, a
	// foreign value or removal queues the key to be written back.
	w = newWriter()
	if !w.claim(k1, "v1") || w.claim(k1, "v1") {
		t.Error("claim does not tell a change from a repeat")
	}
	w.seen(k1, "v1")
	if w.pending() != 0 {
		t.Error("our own echo queued a write")
	}
	w.seen(k1, "forged")
	w.seen(k2, "forged")
	if w.pending() != 2 {
		t.Errorf("foreign writes queued %d keys, want 2", w.pending())
	}
}

// FuzzViewPut: whatever a bucket holds, nothing reaches the remote table
// but states of present members whose name passes CheckName and whose
// body matches its key.
func FuzzViewPut(f *testing.F) {
	a := eidN(2)
	f.Add(stateKey(a, companion.DeviceKey("PJSIP/x")), []byte(`{"type":"devicestate","device":"PJSIP/x","state":"INUSE","cachable":1,"eid":"02:42:ac:11:00:02"}`))
	f.Add(stateKey(a, companion.DeviceKey("PJSIP/x\n")), []byte(`{"type":"devicestate","device":"PJSIP/x\n","state":"INUSE","eid":"02:42:ac:11:00:02"}`))
	f.Add(presenceKey(a), []byte(`{"eid":"02:42:ac:11:00:02"}`))
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		remote := companion.NewTable()
		v := newView(eidN(1), companion.FleetSwitches{DeviceState: true, MailboxState: true}, remote, 0, time.Minute)
		v.put(presenceKey(a), encodePresence(a), 1, time.Now())
		v.put(key, value, 2, time.Now())
		for _, o := range remote.Origins() {
			for _, e := range remote.Entries(o) {
				if err := companion.CheckName(e.State.Key.Name); err != nil {
					t.Fatalf("a bad name reached the remote table: %v", err)
				}
				if stateKey(o, e.State.Key) != key {
					t.Fatalf("entry %v under %v came from key %q", e.State, o, key)
				}
			}
		}
		v.remove(key)
	})
}
