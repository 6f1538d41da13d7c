package companion

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// reorderingAsterisk is an Applier whose writes take 1 to 3 ms each, so
// that writes started in one order finish in another. It records how many
// are in flight, overall and per device, and the last value written.
type reorderingAsterisk struct {
	mu          sync.Mutex
	active      map[string]int
	inFlight    int
	maxInFlight int
	overlapped  []string // devices written twice at once
	last        map[string]DeviceState
	writes      int
}

func newReorderingAsterisk() *reorderingAsterisk {
	return &reorderingAsterisk{active: map[string]int{}, last: map[string]DeviceState{}}
}

func (r *reorderingAsterisk) ApplyDevice(ctx context.Context, name string, s DeviceState) error {
	r.mu.Lock()
	r.active[name]++
	if r.active[name] > 1 {
		r.overlapped = append(r.overlapped, name)
	}
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
	r.mu.Unlock()

	select {
	case <-time.After(time.Millisecond + rand.N(2*time.Millisecond)):
	case <-ctx.Done():
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[name]--
	r.inFlight--
	r.last[name] = s
	r.writes++
	return nil
}

func (r *reorderingAsterisk) ApplyMailbox(context.Context, MailboxID, int, int) error { return nil }

func (r *reorderingAsterisk) holds(want map[string]DeviceState) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, s := range want {
		if r.last[name] != s {
			return false
		}
	}
	return true
}

// Bursts of changes to a few devices, written several at a time by an
// Asterisk that answers out of order: one device is never written twice
// at once, the bound on writes in flight holds (and is used), and what
// each device holds at the end is its newest value.
func TestApplyConcurrentWritesKeepNewestPerTarget(t *testing.T) {
	for _, limit := range []int{1, 8} {
		t.Run(fmt.Sprintf("max_in_flight=%d", limit), func(t *testing.T) {
			remote := NewTable()
			d := newReorderingAsterisk()
			a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" }, ApplyOptions{MaxInFlight: limit})
			stop := startApply(t, a)
			defer stop()
			peer := mustEIDv("02:00:00:00:00:02")
			const devices, rounds = 24, 30
			want := map[string]DeviceState{}
			for round := range rounds {
				for i := range devices {
					s := benchStates[(round*7+i)%len(benchStates)]
					remote.Set(peer, Device(fmt.Sprintf("PJSIP/%02d", i), s, true))
					want[fmt.Sprintf("Custom:PJSIP/%02d", i)] = s
				}
				if round%5 == 0 {
					time.Sleep(2 * time.Millisecond) // let some writes start mid-burst
				}
			}
			waitFor(t, "every device at its newest value", func() bool { return d.holds(want) })
			stop()
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.overlapped) > 0 {
				t.Errorf("written twice at once: %v", d.overlapped)
			}
			if d.maxInFlight > limit {
				t.Errorf("%d writes in flight, max_in_flight %d", d.maxInFlight, limit)
			}
			if limit > 1 && d.maxInFlight < 2 {
				t.Errorf("never more than %d write in flight", d.maxInFlight)
			}
		})
	}
}

// gatedAsterisk holds the first write of each device until released.
type gatedAsterisk struct {
	*asteriskDouble
	gate    chan struct{}
	started chan string
	once    sync.Once
}

func (g *gatedAsterisk) ApplyDevice(ctx context.Context, name string, s DeviceState) error {
	first := false
	g.once.Do(func() { first = true })
	if first {
		g.started <- name
		select {
		case <-g.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.asteriskDouble.ApplyDevice(ctx, name, s)
}

// A write that succeeds after a Reapply (Asterisk reconnected, maybe
// restarted, while it was in flight) does not count: the value is written
// again.
func TestApplyWriteInFlightAcrossReapplyIsWrittenAgain(t *testing.T) {
	remote := NewTable()
	g := &gatedAsterisk{asteriskDouble: newAsteriskDouble(), gate: make(chan struct{}), started: make(chan string, 1)}
	a := NewApply(applyCfg, remote, g, g, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" }, ApplyOptions{})
	stop := startApply(t, a)
	defer stop()
	remote.Set(mustEIDv("02:00:00:00:00:02"), Device("PJSIP/a", Busy, true))
	select {
	case <-g.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no write started")
	}
	a.Reapply(KindDevice)
	time.Sleep(10 * time.Millisecond) // let Run take the Reapply while the write is held
	close(g.gate)
	waitFor(t, "the value written again", func() bool { return g.count("device Custom:PJSIP/a BUSY") >= 2 })
}

// The ledger is saved before new names are written, once per batch of due
// writes, not once per slot's worth: 200 new devices at 4 writes in
// flight cost a few saves, not 50.
func TestApplySavesTheLedgerOncePerBatchOfNewNames(t *testing.T) {
	l, err := OpenLedger(filepath.Join(t.TempDir(), "applied.json"))
	if err != nil {
		t.Fatal(err)
	}
	remote := NewTable()
	peer := mustEIDv("02:00:00:00:00:02")
	want := map[string]DeviceState{}
	for i := range 200 {
		remote.Set(peer, Device(fmt.Sprintf("PJSIP/%03d", i), InUse, true))
		want[fmt.Sprintf("Custom:PJSIP/%03d", i)] = InUse
	}
	d := newReorderingAsterisk()
	a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" },
		ApplyOptions{MaxInFlight: 4, Ledger: l})
	stop := startApply(t, a)
	defer stop()
	waitFor(t, "every device written", func() bool { return d.holds(want) })
	stop()
	if n := len(l.Entries()); n != 200 {
		t.Fatalf("ledger holds %d names, want 200", n)
	}
	if saves := l.saves.Load(); saves > 5 {
		t.Errorf("%d ledger saves for 200 new names, want a few", saves)
	}
}
