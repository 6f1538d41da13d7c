package ami

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// The recorded DeviceStateChange events of 01 (a CLI walking Custom:alice
// through the states, then a peer changing it) become exactly these
// updates, in this order; ExtensionStatus and the login's events become
// none.
func TestDeviceStateChangeStream(t *testing.T) {
	t.Parallel()
	tr := transcript(t, "01_inst1_local_devstate.transcript")
	srv := serve(t, "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	startClient(t, srv, rec, clientOptions{})
	sess := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)

	got := playPaced(t, sess, rec, tr.Unsolicited())
	var want []companion.State
	for _, s := range []companion.DeviceState{
		companion.InUse, companion.NotInUse, companion.Busy, companion.Ringing, companion.RingInUse,
		companion.OnHold, companion.NotInUse, // "devstate change ... UNAVAILABLE" shows as the aggregate NOT_INUSE
		companion.InUse, companion.NotInUse, // the peer's changes, aggregated
	} {
		want = append(want, dev("Custom:alice", s))
	}
	if !slices.Equal(got, want) {
		t.Errorf("updates:\n got %v\nwant %v", got, want)
	}
}

// MessageWaiting (03: a peer's mailbox, ARI PUTs) becomes mailbox updates
// and res_mwi_devstate's MWI:<mailbox> events device updates; MWIGet gives
// the mailbox snapshot.
func TestMessageWaitingStream(t *testing.T) {
	t.Parallel()
	tr := transcript(t, "03_inst1_mwi.transcript")
	srv := serve(t, "01_inst1_local_devstate.transcript", "03_inst1_mwi.transcript")
	rec := newRecorder()
	startClient(t, srv, rec, clientOptions{})
	sess := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	snaps := rec.awaitSnapshots(t, companion.KindMailbox, 1)
	if want := []companion.State{mbox(t, "100@default", 3, 0), mbox(t, "300", 0, 5)}; !slices.Equal(snaps[0], want) {
		t.Errorf("mailbox snapshot = %v, want %v (MWIGet as recorded)", snaps[0], want)
	}

	got := playPaced(t, sess, rec, tr.Unsolicited())
	var mailboxes []companion.State
	for _, s := range got {
		if s.Key.Kind == companion.KindMailbox {
			mailboxes = append(mailboxes, s)
		}
	}
	// The recording's MessageWaiting events, one per line of 03; two of
	// 600@default in one packet may coalesce, so only the last is sure.
	if mailboxes[0] != mbox(t, "500@default", 2, 1) || mailboxes[1] != mbox(t, "600@default", 1, 2) ||
		mailboxes[len(mailboxes)-1] != mbox(t, "600@default", 0, 0) {
		t.Errorf("mailbox updates = %v", mailboxes)
	}
}

// playPaced sends the blocks one by one, each once the previous one has
// been observed, so that only updates within one block (one packet) can
// coalesce. It checks each block's updates against what the test reads in
// the block itself and returns everything observed.
func playPaced(t *testing.T, sess *amitest.Session, rec *recorder, blocks [][]byte) []companion.State {
	t.Helper()
	start := len(observed(rec.all()))
	seen := start
	for i, b := range blocks {
		want := expectedUpdates(t, b)
		final := map[companion.Key]companion.State{}
		for _, s := range want {
			final[s.Key] = s
		}
		if err := sess.Send(b); err != nil {
			t.Fatal(err)
		}
		calls := rec.await(t, fmt.Sprintf("the updates of block %d %v", i, want), func(cs []call) bool {
			obs := observed(cs)
			if len(obs)-seen < len(final) {
				return false
			}
			for k, s := range final {
				if latest(obs, k) != s {
					return false
				}
			}
			return true
		})
		obs := observed(calls)
		if err := coalescedFrom(obs[seen:], want); err != nil {
			t.Errorf("block %d %q: %v", i, b, err)
		}
		seen = len(obs)
	}
	// Anything observed after the last block would be an invented update:
	// a marker event flushes it out.
	end := dev("Custom:zz-end-of-test", companion.Busy)
	if err := sess.SendString("Event: DeviceStateChange\r\nDevice: Custom:zz-end-of-test\r\nState: BUSY\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	obs := observed(rec.awaitObserved(t, end))
	if extra := obs[seen : len(obs)-1]; len(extra) > 0 {
		t.Errorf("updates nothing in the recording caused: %v", extra)
	}
	return obs[start:seen]
}

// expectedUpdates reads the live DeviceStateChange and MessageWaiting
// events of one block, independently of the client's parser.
func expectedUpdates(t *testing.T, b []byte) []companion.State {
	t.Helper()
	var out []companion.State
	for _, m := range amitest.SplitMessages(b) {
		switch {
		case m.Get("Event") == "DeviceStateChange" && !m.Has("ActionID"):
			st, ok := companion.ParseDeviceState(m.Get("State"))
			if !ok {
				t.Fatalf("recording has state %q", m.Get("State"))
			}
			out = append(out, dev(m.Get("Device"), st))
		case m.Get("Event") == "MessageWaiting":
			o, _ := strconv.Atoi(m.Get("Old"))
			n, _ := strconv.Atoi(m.Get("New"))
			out = append(out, mbox(t, m.Get("Mailbox"), o, n))
		}
	}
	return out
}

func latest(obs []companion.State, k companion.Key) companion.State {
	for i := len(obs) - 1; i >= 0; i-- {
		if obs[i].Key == k {
			return obs[i]
		}
	}
	return companion.State{}
}

// coalescedFrom checks that got is want with, at most, per key, some
// values dropped in favour of a later one: per key, got's values are a
// subsequence of want's that ends with want's last.
func coalescedFrom(got, want []companion.State) error {
	keys := map[companion.Key]bool{}
	for _, s := range want {
		keys[s.Key] = true
	}
	for _, s := range got {
		if !keys[s.Key] {
			return fmt.Errorf("update %v not in the block", s)
		}
	}
	for k := range keys {
		var g, w []companion.State
		for _, s := range got {
			if s.Key == k {
				g = append(g, s)
			}
		}
		for _, s := range want {
			if s.Key == k {
				w = append(w, s)
			}
		}
		if len(g) == 0 || g[len(g)-1] != w[len(w)-1] {
			return fmt.Errorf("%s: got %v, want the last of %v", k, g, w)
		}
		j := 0
		for _, s := range g {
			for j < len(w) && w[j] != s {
				j++
			}
			if j == len(w) {
				return fmt.Errorf("%s: got %v, not an order-keeping subset of %v", k, g, w)
			}
			j++
		}
	}
	return nil
}
