package ami

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

var allStates = []companion.DeviceState{
	companion.Unknown, companion.NotInUse, companion.InUse, companion.Busy, companion.Invalid,
	companion.Unavailable, companion.Ringing, companion.RingInUse, companion.OnHold,
}

// deviceEvents writes rounds × keys live DeviceStateChange events, key k
// in round r taking state (r+k) mod 9, in packets of one round.
func deviceEvents(keys, rounds int) [][]byte {
	var out [][]byte
	for r := range rounds {
		var b strings.Builder
		for k := range keys {
			fmt.Fprintf(&b, "Event: DeviceStateChange\r\nPrivilege: call,all\r\nSystemName: ast1\r\nDevice: Custom:load-%03d\r\nState: %s\r\n\r\n",
				k, allStates[(r+k)%len(allStates)])
		}
		out = append(out, []byte(b.String()))
	}
	return out
}

// An Observer that does not return stalls nothing: amigo's reader keeps
// reading (an action sent after three times amigo's 4096-event buffer of
// events is still answered), the queue holds one state per key, and once
// the Observer resumes, every key's newest state arrives.
func TestSlowObserverNeitherStallsNorGrows(t *testing.T) {
	t.Parallel()
	const keys, rounds = 50, 250 // 12500 events
	srv := serve(t, "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	g := newGate(rec, true)
	c := startClient(t, srv, g, clientOptions{actionTimeout: 5 * time.Second})
	t.Cleanup(g.open)
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)

	if err := sess.Send(deviceEvents(keys, rounds)...); err != nil {
		t.Fatal(err)
	}
	end := dev("Custom:zz-end", companion.Busy)
	if err := sess.SendString("Event: DeviceStateChange\r\nDevice: Custom:zz-end\r\nState: BUSY\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The Setvar's response is behind every event on the wire.
	if err := c.ApplyDevice(context.Background(), "Custom:foo", companion.InUse); err != nil {
		t.Fatalf("an action after %d events with the Observer stalled: %v", keys*rounds, err)
	}
	eventually(t, "the last event queued", func() bool { _, ok := queued(c.Client, end.Key); return ok })
	// keys, the end marker and the Setvar's echo; a snapshot at most
	// besides, stalled with the Observer or queued.
	if n := c.queue.pendingKeys(); n > keys+2 {
		t.Errorf("%d states pending for %d keys", n, keys+2)
	}

	g.open()
	calls := rec.awaitObserved(t, end)
	got := observed(calls)
	for k := range keys {
		want := dev(fmt.Sprintf("Custom:load-%03d", k), allStates[(rounds-1+k)%len(allStates)])
		if l := latest(got, want.Key); l != want {
			t.Errorf("%s: latest observed %v, want %v", want.Key.Name, l, want)
		}
	}
	t.Logf("%d events, %d Observe calls", keys*rounds, len(got))
}
