package ami

import (
	"context"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// What the sink writes comes back as events: the Setvar's
// DeviceStateChange (01), the MWIUpdate's MessageWaiting and its
// res_mwi_devstate twin MWI:<mailbox> (03). Wired to the real Local, none
// of them becomes a local state, while genuine local changes do. The
// source itself reports every event; leaving echoes out is Local's job.
func TestSinkEchoIsNotLocal(t *testing.T) {
	t.Parallel()
	tr01 := transcript(t, "01_inst1_local_devstate.transcript")
	tr03 := transcript(t, "03_inst1_mwi.transcript")
	srv := amitest.Start(t, amitest.Config{
		Transcripts: []*amitest.Transcript{tr01, tr03},
		// The recording's MWIGet lists counts written before this test's
		// writes; without it the echo is the mailbox's only source.
		Answer: func(s *amitest.Session, a amitest.Message) bool {
			if a.Action() != "MWIGet" {
				return false
			}
			_ = s.Send(amitest.UnknownAction(a.Get("ActionID"), "MWIGet"))
			return true
		},
	})
	table, local, echoes := newLocal()
	rec := newRecorder()
	// Recorded before Run, as the engine records before writing: the
	// snapshot lists Custom:foo too, and that is no local state either.
	echoes.WroteDevice("Custom:foo", companion.InUse)
	c := startClient(t, srv, tee{rec, local}, clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)
	rec.awaitSnapshots(t, companion.KindDevice, 1)

	ctx := context.Background()
	if err := c.ApplyDevice(ctx, "Custom:foo", companion.InUse); err != nil {
		t.Fatal(err)
	}
	mb, _ := companion.ParseMailboxID("100@default")
	echoes.WroteMailbox(mb, 1, 2)
	if err := c.ApplyMailbox(ctx, mb, 1, 2); err != nil {
		t.Fatal(err)
	}
	// Genuine local changes, later on the wire than the echoes: once they
	// are in the table, the echoes have been through Local.
	if err := sess.Send(unsolicitedWith(t, tr01, "Custom:alice", "INUSE"), unsolicitedWith(t, tr03, "MWI:500@default", "INUSE"),
		unsolicitedWith(t, tr03, "500@default", "")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []companion.State{
		dev("Custom:alice", companion.InUse), dev("MWI:500@default", companion.InUse), mbox(t, "500@default", 2, 1),
	} {
		eventually(t, s.String()+" in the table", func() bool {
			e, ok := table.Get(testEID, s.Key)
			return ok && e.State == s
		})
	}

	echoed := []companion.State{dev("Custom:foo", companion.InUse), mbox(t, "100@default", 1, 2), dev("MWI:100@default", companion.InUse)}
	for _, s := range echoed {
		rec.awaitObserved(t, s) // the source did report it...
		if e, ok := table.Get(testEID, s.Key); ok {
			t.Errorf("...but the echo %v became local state %v", s, e.State)
		}
	}
}

// unsolicitedWith returns the recording's unsolicited block with an event
// naming key (a Device or a Mailbox) and, when state is set, that State.
func unsolicitedWith(t *testing.T, tr *amitest.Transcript, key, state string) []byte {
	t.Helper()
	for _, b := range tr.Unsolicited() {
		for _, m := range amitest.SplitMessages(b) {
			if (m.Get("Device") == key && m.Get("State") == state) || (state == "" && m.Get("Mailbox") == key) {
				return b
			}
		}
	}
	t.Fatalf("%s: no unsolicited event for %s %s", tr.Name, key, state)
	return nil
}

// tee reports to another Observer, then to a recorder: once the recorder
// has a call, the other Observer has handled it.
type tee struct {
	rec  *recorder
	next companion.Observer
}

func (o tee) Observe(s companion.State) { o.next.Observe(s); o.rec.Observe(s) }
func (o tee) Snapshot(k companion.Kind, ss []companion.State) {
	o.next.Snapshot(k, ss)
	o.rec.Snapshot(k, ss)
}
