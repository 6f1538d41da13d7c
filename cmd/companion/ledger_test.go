package main

import (
	"strings"
	"testing"
	"time"
)

// B applies A's mailbox and device to its Asterisk, which keeps them
// (res_mwi_external, astdb). B restarts: its snapshot lists them beside its
// own states. They must not be taken for B's and published back to A,
// whose real mailbox they would overwrite (seen with 5000@default: new 4,
// old 2 became 1/0, then 0/0).
func TestRestartDoesNotPublishBackWhatWasWrittenForPeers(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	a.ast.SetMailbox("5000@default", 2, 4)
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	accept := "device_state = true\nmailbox_state = true"
	a.start(t, b, "02:00:00:00:00:01", "", accept)
	b.start(t, a, "02:00:00:00:00:02", "", accept)
	b.await(t, "MWIUpdate 5000@default 2/4")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE")

	// B goes and comes back; its Asterisk keeps what B wrote.
	b.stop()
	b.stop = nil
	b.ast.SetDevice("PJSIP/bob", "BUSY") // B's own, to show B publishes again
	b.start(t, a, "02:00:00:00:00:02", "", accept)
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=BUSY")
	// B took none of them for its own (the peer's defence, that a remote
	// state never overwrites a local one, is tested on its own below).
	for _, e := range b.node.x.LocalTable.Entries(b.node.eid) {
		if n := e.State.Key.Name; n != "PJSIP/bob" {
			t.Errorf("B took %q for a local state after its restart", n)
		}
	}

	// A's real states were never touched, and nothing of A's came back as
	// B's: neither the mailbox, nor its MWI: twin, nor the device.
	a.never(t, "MWIUpdate 5000@default")
	a.never(t, "Custom:MWI:5000")
	a.never(t, "Custom:Custom:")
	// A's mailbox changes again and B follows: B still applies it.
	a.ast.SetMailbox("5000@default", 3, 4)
	b.await(t, "MWIUpdate 5000@default 3/4")
	a.never(t, "MWIUpdate 5000@default")
}

// A remote state never overwrites a mailbox local to this Asterisk.
func TestRemoteNeverOverwritesLocalMailbox(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	a.ast.SetMailbox("6000@default", 0, 7) // A's own
	b.ast.SetMailbox("6000@default", 0, 1) // also B's own: a naming clash
	b.ast.SetMailbox("7000@default", 0, 2)
	accept := "device_state = true\nmailbox_state = true"
	a.start(t, b, "02:00:00:00:00:01", "", accept)
	b.start(t, a, "02:00:00:00:00:02", "", accept)
	a.await(t, "MWIUpdate 7000@default 0/2") // B's states reached A
	// A's 6000@default (local) is kept: give the exchange a moment to
	// misbehave after B's states were applied.
	time.Sleep(200 * time.Millisecond)
	for _, w := range a.ast.allWrites() {
		if strings.HasPrefix(w, "MWIUpdate 6000@default") {
			t.Errorf("A's local mailbox overwritten: %q", w)
		}
	}
	if got := a.ast.mailbox("6000@default"); got != [2]int{0, 7} {
		t.Errorf("A's 6000@default = %v, want its own 0/7", got)
	}
}
