package companion

import (
	"fmt"
	"sync"
	"testing"
)

var (
	eidA = EntityID{2, 0, 0, 0, 0, 1}
	eidB = EntityID{2, 0, 0, 0, 0, 2}
)

func TestTableSetReportsOnlyRealChanges(t *testing.T) {
	tab := NewTable()
	e1, changed := tab.Set(eidA, Device("PJSIP/alice", InUse, true))
	if !changed || e1.Version == 0 {
		t.Fatalf("first Set: changed=%v version=%d", changed, e1.Version)
	}
	e2, changed := tab.Set(eidA, Device("PJSIP/alice", InUse, true))
	if changed || e2.Version != e1.Version {
		t.Fatalf("repeat Set: changed=%v version %d -> %d", changed, e1.Version, e2.Version)
	}
	e3, changed := tab.Set(eidA, Device("PJSIP/alice", InUse, false))
	if !changed || e3.Version <= e1.Version {
		t.Fatalf("cachable change: changed=%v version %d -> %d", changed, e1.Version, e3.Version)
	}
	got, ok := tab.Get(eidA, DeviceKey("PJSIP/alice"))
	if !ok || got != e3 {
		t.Fatalf("Get = %+v, %v; want %+v", got, ok, e3)
	}
}

func TestTableKeepsOriginsApart(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, Device("Custom:alice", InUse, true))
	tab.Set(eidB, Device("Custom:alice", NotInUse, true))
	tab.Set(eidB, Mailbox(MailboxID{"100", "default"}, 1, 2))

	removed := tab.DeleteOrigin(eidB)
	if len(removed) != 2 {
		t.Fatalf("DeleteOrigin removed %d entries, want 2: %+v", len(removed), removed)
	}
	if _, ok := tab.Get(eidB, DeviceKey("Custom:alice")); ok {
		t.Error("B's alice survived DeleteOrigin(B)")
	}
	a, ok := tab.Get(eidA, DeviceKey("Custom:alice"))
	if !ok || a.State.Device != InUse {
		t.Errorf("A's alice = %+v, %v after B expired; want INUSE", a, ok)
	}
	if got := tab.Origins(); len(got) != 1 || got[0] != eidA {
		t.Errorf("Origins() = %v, want [A]", got)
	}
}

func TestTableDelete(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, Device("x", Busy, true))
	w := tab.Watch(nil)
	defer w.Close()
	if _, ok := tab.Delete(eidA, DeviceKey("y")); ok {
		t.Error("Delete of a missing key reported success")
	}
	old, ok := tab.Delete(eidA, DeviceKey("x"))
	if !ok || old.State.Device != Busy {
		t.Fatalf("Delete = %+v, %v", old, ok)
	}
	ch := w.Changes()
	if len(ch) != 1 || !ch[0].Removed || ch[0].State.Key != DeviceKey("x") || ch[0].Version <= old.Version {
		t.Fatalf("changes after Delete = %+v", ch)
	}
}

func TestTableReplaceReportsWhatMoved(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, Device("PJSIP/alice", NotInUse, true))
	tab.Set(eidA, Device("PJSIP/bob", InUse, true))
	tab.Set(eidA, Device("PJSIP/carol", Busy, true))
	tab.Set(eidA, Mailbox(MailboxID{"100", "default"}, 0, 1))
	tab.Set(eidB, Device("PJSIP/dave", InUse, true))

	w := tab.Watch(nil)
	defer w.Close()
	// The snapshot after a reconnect: alice unchanged, bob changed, carol
	// gone, erin new. The mailbox is another kind and stays.
	changed, removed := tab.Replace(eidA, KindDevice, []State{
		Device("PJSIP/alice", NotInUse, true),
		Device("PJSIP/bob", Ringing, true),
		Device("PJSIP/erin", InUse, true),
		Mailbox(MailboxID{"999", ""}, 5, 5), // wrong kind: ignored
	})
	if changed != 2 || removed != 1 {
		t.Fatalf("Replace = %d changed, %d removed; want 2, 1", changed, removed)
	}
	got := map[string]Entry{}
	for _, e := range w.Changes() {
		got[e.State.Key.Name] = e
	}
	if len(got) != 3 {
		t.Fatalf("changes = %+v, want bob, carol, erin", got)
	}
	if got["PJSIP/bob"].State.Device != Ringing || got["PJSIP/bob"].Removed {
		t.Errorf("bob = %+v", got["PJSIP/bob"])
	}
	if !got["PJSIP/carol"].Removed {
		t.Errorf("carol = %+v, want removed", got["PJSIP/carol"])
	}
	if got["PJSIP/erin"].State.Device != InUse {
		t.Errorf("erin = %+v", got["PJSIP/erin"])
	}
	if _, ok := tab.Get(eidA, MailboxKey(MailboxID{"100", "default"})); !ok {
		t.Error("Replace of devices removed a mailbox")
	}
	if _, ok := tab.Get(eidA, MailboxKey(MailboxID{"999", ""})); ok {
		t.Error("Replace of devices stored a mailbox")
	}
	if _, ok := tab.Get(eidB, DeviceKey("PJSIP/dave")); !ok {
		t.Error("Replace for A removed B's device")
	}
}

func TestWatcherCoalescesPerKey(t *testing.T) {
	tab := NewTable()
	w := tab.Watch(func(origin EntityID, k Key) bool { return origin == eidA })
	defer w.Close()

	for i := range 100 {
		tab.Set(eidA, Mailbox(MailboxID{"100", "default"}, 0, i))
		tab.Set(eidA, Device(fmt.Sprintf("PJSIP/%d", i%3), DeviceState(i%9), true))
		tab.Set(eidB, Device("PJSIP/other", DeviceState(i%9), true)) // filtered out
	}
	select {
	case <-w.C():
	default:
		t.Fatal("no signal while changes are pending")
	}
	ch := w.Changes()
	if len(ch) != 4 {
		t.Fatalf("got %d changes, want 4 (one per key): %+v", len(ch), ch)
	}
	// oldest first, each with its newest value
	if ch[0].State != Mailbox(MailboxID{"100", "default"}, 0, 99) {
		t.Errorf("mailbox change = %+v, want the last value", ch[0].State)
	}
	for _, e := range ch[1:] {
		cur, _ := tab.Get(eidA, e.State.Key)
		if e != cur {
			t.Errorf("change %+v is not the current entry %+v", e, cur)
		}
	}
	if again := w.Changes(); len(again) != 0 {
		t.Errorf("Changes twice returned %d entries the second time", len(again))
	}
}

func TestWatcherRemovalThenReadd(t *testing.T) {
	tab := NewTable()
	w := tab.Watch(nil)
	defer w.Close()
	tab.Set(eidA, Device("x", InUse, true))
	tab.Delete(eidA, DeviceKey("x"))
	ch := w.Changes()
	if len(ch) != 1 || !ch[0].Removed {
		t.Fatalf("set+delete coalesced to %+v, want one removal", ch)
	}
	tab.Set(eidA, Device("x", InUse, true))
	ch = w.Changes()
	if len(ch) != 1 || ch[0].Removed || ch[0].State.Device != InUse {
		t.Fatalf("re-add = %+v", ch)
	}
}

func TestWatcherCloseStopsDelivery(t *testing.T) {
	tab := NewTable()
	w := tab.Watch(nil)
	w.Close()
	tab.Set(eidA, Device("x", InUse, true))
	if ch := w.Changes(); len(ch) != 0 {
		t.Fatalf("closed watcher got %+v", ch)
	}
}

// A consumer that wakes rarely must end with the newest value of every
// key, with memory bounded by the number of keys, not of changes.
func TestWatcherSlowConsumerSeesNewestValues(t *testing.T) {
	tab := NewTable()
	w := tab.Watch(nil)
	defer w.Close()

	const writers, perWriter, keys = 4, 2000, 10
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				tab.Set(eidA, Mailbox(MailboxID{Box: fmt.Sprint((g*perWriter + i) % keys)}, g, i))
			}
		}()
	}

	seen := map[Key]Entry{}
	maxBatch := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drain := func() {
		ch := w.Changes()
		maxBatch = max(maxBatch, len(ch))
		for _, e := range ch {
			if prev, ok := seen[e.State.Key]; ok && prev.Version > e.Version {
				t.Errorf("%v went back from version %d to %d", e.State.Key, prev.Version, e.Version)
			}
			seen[e.State.Key] = e
		}
	}
	for running := true; running; {
		select {
		case <-w.C():
			drain()
		case <-done:
			running = false
		}
	}
	drain()
	if maxBatch > keys {
		t.Errorf("a batch held %d changes for %d keys", maxBatch, keys)
	}
	for _, e := range tab.Entries(eidA) {
		if seen[e.State.Key] != e {
			t.Errorf("%v: consumer ended with %+v, table holds %+v", e.State.Key, seen[e.State.Key], e)
		}
	}
	if len(seen) != keys {
		t.Errorf("consumer saw %d keys, want %d", len(seen), keys)
	}
}

func BenchmarkTableSetWatched(b *testing.B) {
	tab := NewTable()
	w := tab.Watch(nil)
	defer w.Close()
	names := make([]string, 256)
	for i := range names {
		names[i] = fmt.Sprintf("PJSIP/%d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tab.Set(eidA, Device(names[i%len(names)], DeviceState(i%9), true))
		if i%64 == 0 {
			w.Changes()
		}
	}
}

func TestTableReplaceDuplicateKeyLastWins(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, Device("x", InUse, true))
	w := tab.Watch(nil)
	defer w.Close()
	changed, removed := tab.Replace(eidA, KindDevice, []State{Device("x", Busy, true), Device("x", InUse, true)})
	if changed != 0 || removed != 0 {
		t.Fatalf("Replace = %d changed, %d removed; want nothing (last value equals the held one)", changed, removed)
	}
	if ch := w.Changes(); len(ch) != 0 {
		t.Fatalf("watcher told of %+v, though nothing changed", ch)
	}
}

func TestTableNormalizesStates(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, State{Key: DeviceKey("x"), Device: InUse, Old: 3})
	if _, changed := tab.Set(eidA, Device("x", InUse, false)); changed {
		t.Error("stray mailbox counts on a device state made an equal state look different")
	}
	defer func() {
		if recover() == nil {
			t.Error("a state without a kind was stored")
		}
	}()
	tab.Set(eidA, State{Key: Key{Name: "x"}})
}

func TestWatcherCloseClosesC(t *testing.T) {
	tab := NewTable()
	w := tab.Watch(nil)
	tab.Set(eidA, Device("x", InUse, true))
	w.Close()
	w.Close() // idempotent
	<-w.C()   // the pending signal, if any
	if _, open := <-w.C(); open {
		t.Fatal("C still open after Close")
	}
	tab.Set(eidA, Device("x", Busy, true)) // must not send on the closed channel
}

// A snapshot's changes reach watchers marked Bulk, live ones not, and a
// key whose pending change is live stays live when a snapshot moves it.
func TestWatcherMarksSnapshotChangesBulk(t *testing.T) {
	tab := NewTable()
	tab.Set(eidA, Device("PJSIP/gone", InUse, true))
	w := tab.Watch(nil)
	defer w.Close()
	tab.Set(eidA, Device("PJSIP/live", InUse, true))
	tab.Replace(eidA, KindDevice, []State{
		Device("PJSIP/live", Ringing, true),
		Device("PJSIP/snap", NotInUse, true),
	})
	bulk := map[string]bool{}
	removed := map[string]bool{}
	for _, e := range w.Changes() {
		bulk[e.State.Key.Name] = e.Bulk
		removed[e.State.Key.Name] = e.Removed
	}
	want := map[string]bool{"PJSIP/live": false, "PJSIP/snap": true, "PJSIP/gone": true}
	for name, b := range want {
		if got, ok := bulk[name]; !ok || got != b {
			t.Errorf("%s: Bulk %v (seen %v), want %v", name, got, ok, b)
		}
	}
	if !removed["PJSIP/gone"] {
		t.Error("the key the snapshot left out is not removed")
	}
	if e, _ := tab.Get(eidA, DeviceKey("PJSIP/snap")); e.Bulk {
		t.Error("the stored entry is marked Bulk; only changes are")
	}
	tab.Set(eidA, Device("PJSIP/snap", InUse, true))
	for _, e := range w.Changes() {
		if e.Bulk {
			t.Errorf("a live change after the snapshot is Bulk: %v", e.State)
		}
	}
}

func TestWatchEveryKeepsEveryChange(t *testing.T) {
	tb := NewTable()
	eid := EntityID{2, 0, 0, 0, 0, 1}
	every, merged := tb.WatchEvery(nil), tb.Watch(nil)
	defer every.Close()
	defer merged.Close()
	for _, st := range []DeviceState{InUse, Ringing, NotInUse} {
		tb.Set(eid, Device("PJSIP/alice", st, true))
	}
	got := every.Changes()
	if len(got) != 3 || got[0].State.Device != InUse || got[2].State.Device != NotInUse {
		t.Fatalf("WatchEvery gave %v, want the three changes in order", got)
	}
	if n := len(merged.Changes()); n != 1 {
		t.Fatalf("Watch gave %d changes, want them merged into 1", n)
	}
}
