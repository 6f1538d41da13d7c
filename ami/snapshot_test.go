package ami

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// DeviceStateList of 14 (after a restart, 37 devices, names with
// spaces, quotes, a backslash, UTF-8, the 79-character limit; first item
// cut across packets) is the snapshot, every name verbatim; MWIGet of the
// same recording is the mailbox snapshot. The recorded boot events that
// follow the login may land in the snapshot first; a snapshot is a set.
func TestDeviceStateListSnapshotVerbatim(t *testing.T) {
	t.Parallel()
	tr := transcript(t, "14_inst1_early_connect_after_start.transcript")
	srv := amitest.Start(t, amitest.Config{Transcripts: []*amitest.Transcript{tr}})
	rec := newRecorder()
	startClient(t, srv, rec, clientOptions{})

	var want []companion.State
	for _, ex := range tr.Exchanges() {
		if ex.Action.Action() != "DeviceStateList" {
			continue
		}
		for _, b := range amitest.SplitMessages(concat(ex.Answer)) {
			if b.Get("Event") == "DeviceStateChange" {
				st, _ := companion.ParseDeviceState(b.Get("State"))
				want = append(want, dev(b.Get("Device"), st))
			}
			if b.Get("Event") == "DeviceStateListComplete" && b.Get("ListItems") != "37" {
				t.Fatalf("recording lists %s items", b.Get("ListItems"))
			}
		}
	}
	got := rec.awaitSnapshots(t, companion.KindDevice, 1)[0]
	if len(want) != 37 || !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("snapshot (%d):\n%v\nwant (%d):\n%v", len(got), got, len(want), want)
	}
	for _, name := range []string{`Custom:a"b`, `Custom:a\b`, "Custom:q u o t e d", "Custom:äöü-漢", "Custom:sip:a@b:5060"} {
		if !slices.ContainsFunc(got, func(s companion.State) bool { return s.Key.Name == name }) {
			t.Errorf("%q missing from the snapshot", name)
		}
	}
	mb := rec.awaitSnapshots(t, companion.KindMailbox, 1)[0]
	if want := []companion.State{mbox(t, "100@default", 0, 7)}; !slices.Equal(mb, want) {
		t.Errorf("mailbox snapshot = %v, want %v", mb, want)
	}
}

// Where app_voicemail is loaded, VoicemailUsersList gives the mailbox
// snapshot and MWIGet's "unknown command" is no error.
func TestVoicemailUsersListSnapshot(t *testing.T) {
	t.Parallel()
	tr := transcript(t, "handmade_app_voicemail.transcript")
	srv := amitest.Start(t, amitest.Config{Transcripts: []*amitest.Transcript{tr, transcript(t, "01_inst1_local_devstate.transcript")}})
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{})
	sess := srv.Session(t, 1)

	mb := rec.awaitSnapshots(t, companion.KindMailbox, 1)[0]
	if want := []companion.State{mbox(t, "100@default", 1, 2), mbox(t, "101@default", 0, 0)}; !slices.Equal(mb, want) {
		t.Errorf("mailbox snapshot = %v, want %v", mb, want)
	}
	if err := sess.Send(tr.Unsolicited()...); err != nil {
		t.Fatal(err)
	}
	rec.awaitObserved(t, mbox(t, "100@default", 1, 3))
	if c.logs.count("snapshot failed") != 0 {
		t.Errorf("a missing module was logged as a failure:\n%s", c.logs)
	}
}

// An event in the login packet is lost by amigo (see
// TestAmigoLosesEventsInLoginPacket); the snapshot read after login still
// brings its state.
func TestSnapshotCoversEventLostAtLogin(t *testing.T) {
	t.Parallel()
	srv := serve(t, "handmade_event_in_login_packet.transcript")
	table, local, _ := newLocal()
	startClient(t, srv, local, clientOptions{})
	eventually(t, "Custom:bob in the table", func() bool {
		_, ok := table.Get(testEID, companion.DeviceKey("Custom:bob"))
		return ok
	})
	if e, _ := table.Get(testEID, companion.DeviceKey("Custom:bob")); e.State != dev("Custom:bob", companion.Busy) {
		t.Errorf("Custom:bob = %v", e.State)
	}
}

// Whichever of a list item and a live event for the same key comes later
// on the wire wins, whether the Observer keeps up or is stalled until all
// of it is queued (the hand-written transcript lists the cases).
func TestSnapshotOrderAgainstLiveEvents(t *testing.T) {
	t.Parallel()
	want := []companion.State{
		dev("Custom:u", companion.InUse),
		dev("Custom:v", companion.Unavailable),
		dev("Custom:w", companion.NotInUse),
		dev("Custom:x", companion.InUse),
		dev("Custom:y", companion.Ringing),
		dev("Custom:zz-end", companion.NotInUse),
	}
	end := companion.DeviceKey("Custom:zz-end")
	states := 0
	for _, ex := range transcript(t, "handmade_devicestatelist_interleaved.transcript").Exchanges() {
		for _, b := range amitest.SplitMessages(concat(ex.Answer)) {
			if b.Get("Event") == "DeviceStateChange" {
				states++
			}
		}
	}
	for _, stalled := range []bool{false, true} {
		srv := serve(t, "handmade_devicestatelist_interleaved.transcript")
		table, local, _ := newLocal()
		gate := newGate(local, stalled)
		c := startClient(t, srv, gate, clientOptions{})
		t.Cleanup(gate.open) // runs before the client's stop, which waits for the Observer
		if stalled {
			// Every state of the transcript read and the snapshot queued:
			// all of it is queued, or taken by the Observer the gate holds.
			eventually(t, "every state read", func() bool { return c.statesRead.Load() == uint64(states) })
			c.logs.await(t, "AMI device states read")
			gate.open()
		}
		// Live events reach the table as they come, the snapshot later:
		// the end marker alone may be in before the snapshot is.
		eventually(t, "the snapshot and the last event applied", func() bool {
			_, ok := table.Get(testEID, end)
			return ok && gate.snapshots.Load() > 0
		})
		if got := tableStates(table); !slices.Equal(got, want) {
			t.Errorf("stalled=%v: table = %v\nwant %v", stalled, got, want)
		}
		c.stop()
	}
}

// A user without read permission gets "Permission denied" for
// DeviceStateList (05e): no snapshot, one log line.
func TestSnapshotPermissionDenied(t *testing.T) {
	t.Parallel()
	srv := serve(t, "05e_permission_denied_readonly_user.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{})
	c.logs.await(t, "AMI snapshot failed")
	c.logs.await(t, "Permission denied")
	// The message names the setting to change.
	c.logs.await(t, "DeviceStateList: Permission denied (the AMI user may not run it: give it write = call in its manager.conf section")
	if n := len(rec.snapshots(companion.KindDevice)); n != 0 {
		t.Errorf("%d device snapshots after Permission denied", n)
	}
}

func concat(blocks [][]byte) []byte { return slices.Concat(blocks...) }

func sorted(states []companion.State) []companion.State {
	return slices.SortedFunc(slices.Values(states), func(a, b companion.State) int {
		return strings.Compare(a.Key.String(), b.Key.String())
	})
}

func newLocal() (*companion.Table, *companion.Local, *companion.Echoes) {
	table := companion.NewTable()
	echoes := companion.NewEchoes(companion.DefaultAMIDeviceName)
	return table, companion.NewLocal(table, testEID, echoes), echoes
}

func tableStates(table *companion.Table) []companion.State {
	var out []companion.State
	for _, e := range table.Entries(testEID) {
		out = append(out, e.State)
	}
	return out
}

// queued returns the state pending in the client's queue for k, as an
// event or in a snapshot.
func queued(c *Client, k companion.Key) (companion.State, bool) {
	q := c.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if i, ok := q.pending[k]; ok {
		return q.order[i], true
	}
	for _, sn := range q.snaps {
		for _, s := range sn.states {
			if s.Key == k {
				return s, true
			}
		}
	}
	return companion.State{}, false
}

// gate is an Observer that, while closed, holds every call.
type gate struct {
	next      companion.Observer
	opened    chan struct{}
	once      sync.Once
	snapshots atomic.Int32 // snapshots passed on
}

func newGate(next companion.Observer, closed bool) *gate {
	g := &gate{next: next, opened: make(chan struct{})}
	if !closed {
		g.open()
	}
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

func (g *gate) Observe(s companion.State) {
	<-g.opened
	g.next.Observe(s)
}

func (g *gate) Snapshot(kind companion.Kind, states []companion.State) {
	<-g.opened
	g.next.Snapshot(kind, states)
	g.snapshots.Add(1)
}

// eventually polls cond, for state with no notification of its own (the
// table, the queue), at most wait.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
