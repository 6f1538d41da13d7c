package companion

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLocalStatsCountEventsAndSnapshots(t *testing.T) {
	eid := mustEIDv("02:00:00:00:00:01")
	l := NewLocal(NewTable(), eid, NewEchoes(""))
	if s := l.Stats(); s.Events[KindDevice] != 0 || s.Snapshots[KindDevice] != 0 || !s.LastSnapshot[KindDevice].IsZero() {
		t.Fatalf("fresh stats %+v", s)
	}
	l.Observe(Device("PJSIP/a", InUse, true))
	l.Observe(Device("PJSIP/a", NotInUse, true))
	l.Observe(Mailbox(MailboxID{Box: "1", Context: "default"}, 0, 1))
	l.Observe(Device("bad\x00name", InUse, true))
	l.Snapshot(KindDevice, []State{Device("PJSIP/b", Busy, true)})
	s := l.Stats()
	if s.Events[KindDevice] != 3 || s.Events[KindMailbox] != 1 || s.BadNames != 1 {
		t.Errorf("events %v, bad names %d; want device 3, mailbox 1, bad 1", s.Events, s.BadNames)
	}
	if s.Snapshots[KindDevice] != 1 || s.Snapshots[KindMailbox] != 0 || s.LastSnapshot[KindDevice].IsZero() || !s.LastSnapshot[KindMailbox].IsZero() {
		t.Errorf("snapshots %v at %v", s.Snapshots, s.LastSnapshot)
	}
}

func TestReceiverStatsCountAcceptedFilteredAndHeld(t *testing.T) {
	g := newReceiverRig(t)
	a := g.ok(pub("open", "asterisk-devicestate", "", 60, devAlice))
	g.ok(pub("open", "asterisk-devicestate", a.ETag, 60, devBob))
	// Passes the switches, fails device_state_filter: answered 200, dropped.
	g.ok(pub("open", "asterisk-devicestate", "", 60, `{"type":"devicestate","device":"SIP/x","state":"INUSE","cachable":1,"eid":"`+peerEID+`"}`))
	g.ok(pub("open", "asterisk-mwi", "", 60, mbox100))
	g.ok(pub("open", "asterisk-mwi", "", 60, `{"type":"refresh","eid":"`+peerEID+`"}`))
	g.now = g.now.Add(time.Second)
	g.ok(pub("deaf", "asterisk-devicestate", "", 60, `{"type":"devicestate","device":"PJSIP/z","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:03"}`))
	if a := g.do(pub("nowhere", "asterisk-devicestate", "", 60, devAlice)); a.Status != 404 {
		t.Fatalf("unknown resource answered %d", a.Status)
	}

	s := g.r.Stats()
	if s.StatesAccepted != 3 || s.StatesFiltered != 2 {
		t.Errorf("accepted %d filtered %d, want 3 and 2 (SIP/x by the filter, PJSIP/z by deaf's switches)", s.StatesAccepted, s.StatesFiltered)
	}
	if s.Refusals[RefusedUnknownResource] != 1 {
		t.Errorf("refusals %v", s.Refusals)
	}
	open := s.Peers["open"]
	if open.Received != 5 || open.States != 3 || open.EIDs != 1 || open.Publications[EventDeviceState] != 2 || open.Publications[EventMWI] != 2 {
		t.Errorf("open: %+v", open)
	}
	if deaf := s.Peers["deaf"]; deaf.Received != 1 || deaf.States != 0 || !deaf.LastReceived.Equal(g.now) || !open.LastReceived.Before(deaf.LastReceived) {
		t.Errorf("deaf: %+v (open last %v)", deaf, open.LastReceived)
	}
	if locked, ok := s.Peers["locked"]; !ok || locked.Received != 0 || !locked.LastReceived.IsZero() {
		t.Errorf("locked: %+v, %v; want listed with nothing received", locked, ok)
	}
	if !IsBoundReason(RefusedTooManyKeys) || IsBoundReason(RefusedCredentials) {
		t.Error("IsBoundReason")
	}
}

func TestApplyStatsCountWrites(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	var mu sync.Mutex
	failing := true
	d.fail = func(call string) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && strings.HasSuffix(call, "BUSY") {
			return errors.New("Response: Error")
		}
		return nil
	}
	peer := mustEIDv("02:00:00:00:00:02")
	a := NewApply(applyCfg, remote, d, d, NewEchoes(""), func(EntityID) string { return "p" }, ApplyOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	stop := startApply(t, a)
	defer stop()
	remote.Set(peer, Device("PJSIP/a", InUse, true))
	waitFor(t, "one write", func() bool { return a.Stats().WritesOK == 1 })
	remote.Set(peer, Device("PJSIP/b", Busy, true))
	waitFor(t, "failed writes", func() bool { return a.Stats().WritesFailed >= 2 })
	mu.Lock()
	failing = false
	mu.Unlock()
	waitFor(t, "the retry succeeds", func() bool { return a.Stats().WritesOK == 2 })
	if s := a.Stats(); uint64(d.count("device ")) != s.WritesOK+s.WritesFailed {
		t.Errorf("stats %+v, but %d writes made", s, d.count("device "))
	}
}
