package companion

import (
	"context"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion/internal/background"
)

// instantPeer answers every PUBLISH with 200, after rtt, counting the
// requests that carry a state.
type instantPeer struct {
	rtt    time.Duration
	states atomic.Int64
	etag   atomic.Int64
}

func (s *instantPeer) Publish(_ context.Context, req PublishRequest) (PublishResult, error) {
	if s.rtt > 0 {
		time.Sleep(s.rtt)
	}
	if req.Body != nil {
		s.states.Add(1)
	}
	return PublishResult{Status: 200, ETag: strconv.FormatInt(s.etag.Add(1), 10), Expires: req.Expires}, nil
}

func benchPeer(width int) *PeerConfig {
	return &PeerConfig{Name: "b", Publish: &PublishConfig{
		DeviceState: true, Expiration: time.Hour, ResendInterval: Off, MaxInFlight: width,
	}}
}

// BenchmarkPublisherEnqueue queues one change: what the dispatcher pays
// per change of the local table, 1,024 keys coalescing.
func BenchmarkPublisherEnqueue(b *testing.B) {
	for _, width := range []int{1, 32} {
		b.Run("width="+strconv.Itoa(width), func(b *testing.B) {
			p := newBenchPublisher(benchPeer(width), NewTable(), &instantPeer{})
			states := make([]State, 1024)
			for i := range states {
				states[i] = Device("PJSIP/"+strconv.Itoa(i), InUse, true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				benchEnqueue(p, Entry{Origin: meEID, State: states[i%len(states)], Version: uint64(i + 1)})
			}
		})
	}
}

// BenchmarkPublisherEnqueueDistinct queues b.N distinct keys as a full
// send does (a startup dump) to a publisher that sends nothing:
// heap-B/key, the heap it holds after GC, is what one queued key costs per
// peer and event (B/op counts the maps' growth too).
func BenchmarkPublisherEnqueueDistinct(b *testing.B) {
	p := newBenchPublisher(benchPeer(32), NewTable(), &instantPeer{})
	names := make([]string, b.N)
	for i := range names {
		names[i] = "PJSIP/" + strconv.Itoa(i)
	}
	before := heapAfterGC()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		benchEnqueueBulk(p, Entry{Origin: meEID, State: Device(names[i], InUse, true), Version: uint64(i + 1)})
	}
	b.StopTimer()
	b.ReportMetric(float64(heapAfterGC()-before)/float64(b.N), "heap-B/key")
	runtime.KeepAlive(p)
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkPublisherThroughput sets b.N distinct keys in the local table
// and waits until the peer has them all: keys/s through the whole loop
// (watcher, dispatcher, shards, encoding), at width 1 and 32, with a peer
// that answers at once and one that takes 1 ms.
func BenchmarkPublisherThroughput(b *testing.B) {
	for _, rtt := range []time.Duration{0, time.Millisecond} {
		for _, width := range []int{1, 32} {
			b.Run("rtt="+rtt.String()+"/width="+strconv.Itoa(width), func(b *testing.B) {
				local := NewTable()
				peer := &instantPeer{rtt: rtt}
				p := newBenchPublisher(benchPeer(width), local, peer)
				stop := background.Run(b, "publisher", func(ctx context.Context) { p.Run(ctx) })
				defer stop()
				names := make([]string, b.N)
				for i := range names {
					names[i] = "PJSIP/" + strconv.Itoa(i)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for _, n := range names {
					local.Set(meEID, Device(n, InUse, true))
				}
				deadline := time.Now().Add(5 * time.Minute)
				for peer.states.Load() < int64(b.N) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d keys sent", peer.states.Load(), b.N)
					}
					time.Sleep(50 * time.Microsecond)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
			})
		}
	}
}

// BenchmarkShardPick hashes a key onto one of 32 publications.
func BenchmarkShardPick(b *testing.B) {
	keys := make([]Key, 1024)
	for i := range keys {
		keys[i] = DeviceKey("PJSIP/" + strconv.Itoa(i))
	}
	b.ReportAllocs()
	sum := 0
	for i := range b.N {
		sum += shardOf(keys[i%len(keys)], 32)
	}
	if sum < 0 {
		b.Fatal(sum)
	}
}
