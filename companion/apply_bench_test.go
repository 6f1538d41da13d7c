package companion

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchApplier is an Applier that takes a fixed time per write (0: none)
// and signals when the writes counted reach goal.
type benchApplier struct {
	latency time.Duration
	writes  atomic.Int64
	goal    atomic.Int64
	reached chan struct{}
}

func (b *benchApplier) wrote() {
	if b.latency > 0 {
		time.Sleep(b.latency)
	}
	if b.writes.Add(1) == b.goal.Load() {
		b.reached <- struct{}{}
	}
}

func (b *benchApplier) ApplyDevice(context.Context, string, DeviceState) error {
	b.wrote()
	return nil
}

func (b *benchApplier) ApplyMailbox(context.Context, MailboxID, int, int) error {
	b.wrote()
	return nil
}

// BenchmarkApply measures applied states per second through Apply: a
// peer's burst of changes to 500 devices lands in the remote table, and
// the next burst comes once every change of the last one is written, so
// that nothing is coalesced away and each op is one write. "instant" has
// Apply's own cost only; "latency=1ms" stands for an Asterisk a LAN away,
// or a busy one, that answers each write after 1 ms whatever else is in
// flight (as ARI over several HTTP connections does; a 100 µs sleep
// lasts about 1 ms on a stock Linux kernel anyway).
func BenchmarkApply(b *testing.B) {
	for _, latency := range []time.Duration{0, time.Millisecond} {
		name := "instant"
		if latency > 0 {
			name = "latency=" + latency.String()
		}
		b.Run(name, func(b *testing.B) {
			const keys = 500
			remote := NewTable()
			d := &benchApplier{latency: latency, reached: make(chan struct{}, 1)}
			a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" }, ApplyOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { _ = a.Run(ctx) })
			defer func() { cancel(); wg.Wait() }()
			peer := mustEIDv("02:00:00:00:00:02")
			names := make([]string, keys)
			for i := range names {
				names[i] = fmt.Sprintf("PJSIP/%04d", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for done, round := 0, 0; done < b.N; round++ {
				n := min(keys, b.N-done)
				d.goal.Store(int64(done + n))
				for i := range n {
					remote.Set(peer, Device(names[i], benchStates[(round+i)%len(benchStates)], true))
				}
				select {
				case <-d.reached:
				case <-time.After(time.Minute):
					b.Fatalf("%d writes, want %d", d.writes.Load(), done+n)
				}
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "states/s")
		})
	}
}

// benchStates cycle per round, so a device's value changes every round.
var benchStates = []DeviceState{NotInUse, InUse, Busy, Ringing, OnHold}

// BenchmarkApplyHeldKeys makes Apply take b.N distinct remote keys (not
// run: no writes go out): heap-B/key is what Apply holds per remote key,
// the remote table's entries left out.
func BenchmarkApplyHeldKeys(b *testing.B) {
	remote := NewTable()
	d := &benchApplier{reached: make(chan struct{}, 1)}
	a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" }, ApplyOptions{})
	peer := mustEIDv("02:00:00:00:00:02")
	for i := range b.N {
		remote.Set(peer, Device(fmt.Sprintf("PJSIP/%07d", i), InUse, true))
	}
	keys := remote.Entries(peer)
	before := heapAfterGC()
	b.ReportAllocs()
	b.ResetTimer()
	for _, e := range keys {
		a.consider(peer, e.State.Key)
	}
	b.StopTimer()
	b.ReportMetric(float64(heapAfterGC()-before)/float64(b.N), "heap-B/key")
	runtime.KeepAlive(a)
	runtime.KeepAlive(keys)
}
