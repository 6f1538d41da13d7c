package companion

import "testing"

func TestEchoesDevice(t *testing.T) {
	e := NewEchoes("Custom:{device}")
	mb, _ := ParseMailboxID("100@default")
	e.WroteMailbox(mb, 1, 2)
	e.WroteDevice("custom:bob", InUse)
	for name, want := range map[string]bool{
		"Custom:PJSIP/alice":  true,  // the template's product
		"custom:PJSIP/alice":  true,  // Asterisk normalises the technology's case
		"Custom:Custom:alice": true,  // a remote Custom: device
		"Custom:alice":        false, // a plain local Custom: device
		"PJSIP/alice":         false,
		"Custom:bob":          true, // written by the sink in this run
		"Custom:BOB":          false,
		"MWI:100@default":     true, // res_mwi_devstate's twin of a written mailbox
		"MWI:200@default":     false,
	} {
		if got := e.Device(name); got != want {
			t.Errorf("Device(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestEchoesTemplateWithPeerAndEID(t *testing.T) {
	e := NewEchoes("Stasis:{peer}-{device}@{eid}")
	for name, want := range map[string]bool{
		"Stasis:p1-PJSIP/a@02:00:00:00:00:01": true,
		"Stasis:p1-PJSIP/a@02:00:00:00:00":    false,
		"Stasis:p1-alice@02:00:00:00:00:01":   false,
		"Custom:p1-PJSIP/a@02:00:00:00:00:01": false,
	} {
		if got := e.Device(name); got != want {
			t.Errorf("Device(%q) = %v, want %v", name, got, want)
		}
	}
	if NewEchoes("").Device("Custom:PJSIP/a") {
		t.Error("no template: nothing is produced")
	}
}

func TestEchoesMailboxHistory(t *testing.T) {
	e := NewEchoes("")
	mb, _ := ParseMailboxID("100@default")
	for i := range 6 {
		e.WroteMailbox(mb, 0, i)
	}
	for i, want := range []bool{false, false, true, true, true, true} {
		if got := e.Mailbox(mb, 0, i); got != want {
			t.Errorf("Mailbox(0,%d) = %v, want %v", i, got, want)
		}
	}
	if e.Mailbox(MailboxID{Box: "100"}, 0, 5) {
		t.Error("a bare box is another mailbox")
	}
}

func TestLocalLeavesOutEchoes(t *testing.T) {
	eid := mustEID("02:00:00:00:00:01")
	tab := NewTable()
	e := NewEchoes("Custom:{device}")
	l := NewLocal(tab, eid, e)
	var snaps []Kind
	l.OnSnapshot(func(k Kind) { snaps = append(snaps, k) })
	mb, _ := ParseMailboxID("100@default")
	e.WroteMailbox(mb, 0, 3)

	l.Observe(Device("Custom:PJSIP/remote", InUse, true))
	l.Observe(Mailbox(mb, 0, 3))
	l.Observe(Device("MWI:100@default", InUse, true))
	l.Observe(Device("PJSIP/local", Ringing, true))
	if got := tab.Entries(eid); len(got) != 1 || got[0].State.Key.Name != "PJSIP/local" {
		t.Fatalf("entries after events = %v", got)
	}
	l.Observe(Device("Custom:bob", Busy, true)) // local until the sink writes it
	e.WroteDevice("Custom:bob", Busy)
	l.Observe(Device("Custom:bob", Busy, true))
	if _, ok := tab.Get(eid, DeviceKey("Custom:bob")); ok {
		t.Error("a device the sink now writes is still local")
	}
	l.Observe(Mailbox(mb, 1, 3)) // not what the sink wrote: local
	l.Snapshot(KindDevice, []State{Device("PJSIP/other", NotInUse, true), Device("Custom:PJSIP/remote", Busy, true)})
	got := tab.Entries(eid)
	if len(got) != 2 || got[0].State.Key.Name != "PJSIP/other" || got[1].State.Key.Name != "100@default" {
		t.Fatalf("entries after snapshot = %v", got)
	}
	if len(snaps) != 1 || snaps[0] != KindDevice {
		t.Errorf("OnSnapshot calls = %v", snaps)
	}
}
