package companion

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLedgerRoundTripAndDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "applied.json")
	l, err := OpenLedger(path)
	if err != nil || len(l.Entries()) != 0 {
		t.Fatalf("missing file: %v, %v", l.Entries(), err)
	}
	origin := EntityID{2, 0, 0, 0, 0, 2}
	l.Record(KindMailbox, "5000@default", origin)
	l.Record(KindDevice, "Custom:PJSIP/alice", origin)
	l.Record(KindDevice, "Custom:PJSIP/gone", origin)
	l.Forget(KindDevice, "Custom:PJSIP/gone")
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	back, err := OpenLedger(path)
	if err != nil {
		t.Fatal(err)
	}
	got := back.Entries()
	if len(got) != 2 || got[0] != (LedgerEntry{KindDevice, "Custom:PJSIP/alice", origin}) || got[1] != (LedgerEntry{KindMailbox, "5000@default", origin}) {
		t.Errorf("read back %v", got)
	}
	if !back.Has(KindMailbox, "5000@default") || back.Has(KindDevice, "Custom:PJSIP/gone") {
		t.Error("Has disagrees with the file")
	}
	for name, body := range map[string]string{
		"not JSON":      "{",
		"other version": `{"version":2,"entries":[]}`,
		"bad kind":      `{"version":1,"entries":[{"kind":"x","name":"a","origin":"02:00:00:00:00:02"}]}`,
		"bad origin":    `{"version":1,"entries":[{"kind":"device","name":"a","origin":"zz"}]}`,
		"control char":  `{"version":1,"entries":[{"kind":"device","name":"a\r\nAction: Originate","origin":"02:00:00:00:00:02"}]}`,
	} {
		p := filepath.Join(t.TempDir(), "applied.json")
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := OpenLedger(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
}

// After a restart, the ledger's names that no peer asserts again within
// the grace are cleared, and forgotten; one a peer asserts is written.
func TestApplyClearsLedgerNamesOfGoneOrigins(t *testing.T) {
	l, _ := OpenLedger("")
	gone, back := EntityID{2, 0, 0, 0, 0, 2}, EntityID{2, 0, 0, 0, 0, 3}
	l.Record(KindDevice, "Custom:PJSIP/alice", gone)
	l.Record(KindMailbox, "5000@default", gone)
	l.Record(KindDevice, "Custom:PJSIP/bob", back)
	remote := NewTable()
	d := newAsteriskDouble()
	a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" },
		ApplyOptions{Ledger: l, LedgerGrace: 50 * time.Millisecond})
	remote.Set(back, Device("PJSIP/bob", Busy, true)) // its peer is back
	stop := startApply(t, a)
	defer stop()
	waitFor(t, "gone origin's states cleared", func() bool {
		return d.device("Custom:PJSIP/alice") == Unavailable && d.box("5000@default") == "0/0"
	})
	waitFor(t, "forgotten", func() bool { return !l.Has(KindDevice, "Custom:PJSIP/alice") && !l.Has(KindMailbox, "5000@default") })
	if d.device("Custom:PJSIP/bob") != Busy || !l.Has(KindDevice, "Custom:PJSIP/bob") {
		t.Errorf("the returning peer's state: %v, in ledger %v", d.device("Custom:PJSIP/bob"), l.Has(KindDevice, "Custom:PJSIP/bob"))
	}
	if n := d.count("device Custom:PJSIP/bob " + Unavailable.String()); n != 0 {
		t.Errorf("the asserted name was cleared %d times", n)
	}
}

// A name in the ledger is never taken for local state, even with counts
// the sink has not written in this run.
func TestEchoesTakeLedgerNamesForEchoes(t *testing.T) {
	l, _ := OpenLedger("")
	l.Record(KindMailbox, "5000@default", EntityID{2, 0, 0, 0, 0, 2})
	l.Record(KindDevice, "Custom:x", EntityID{2, 0, 0, 0, 0, 2})
	e := NewEchoes("")
	if e.Mailbox(MailboxID{Box: "5000", Context: "default"}, 1, 4) || e.Device("Custom:x") || e.Device("MWI:5000@default") {
		t.Fatal("echoes without a ledger or a write")
	}
	e.UseLedger(l)
	if !e.Mailbox(MailboxID{Box: "5000", Context: "default"}, 1, 4) || !e.Device("Custom:x") || !e.Device("MWI:5000@default") {
		t.Error("a ledger name taken for local state")
	}
	if e.Device("Custom:y") || e.Mailbox(MailboxID{Box: "6000", Context: "default"}, 0, 1) {
		t.Error("a name outside the ledger taken for an echo")
	}
}

// A burst of new names saves the ledger before each batch of writes.
func BenchmarkLedgerSave2000(b *testing.B) {
	l, err := OpenLedger(filepath.Join(b.TempDir(), "applied.json"))
	if err != nil {
		b.Fatal(err)
	}
	origin := EntityID{2, 0, 0, 0, 0, 2}
	for i := range 2000 {
		l.Record(KindDevice, fmt.Sprintf("PJSIP/%04d", i), origin)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		l.Record(KindDevice, fmt.Sprintf("PJSIP/new-%d", i), origin) // dirty: a real save
		if err := l.Save(); err != nil {
			b.Fatal(err)
		}
	}
}
