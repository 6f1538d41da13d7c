package companion

import (
	"math"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of a Histogram's buckets: 250 µs to
// about 65 s, doubling, which covers a loopback peer and a peer that was
// down for a minute with the same few counters.
var LatencyBuckets = func() []time.Duration {
	b := make([]time.Duration, 0, 19)
	for d := 250 * time.Microsecond; d <= 70*time.Second; d *= 2 {
		b = append(b, d)
	}
	return b
}()

// Histogram counts durations in LatencyBuckets without locks, so that the
// hot path of a publisher only pays for a few atomic adds. It exists in
// the domain so that the metrics adapter reads it and the domain imports
// no metrics library.
type Histogram struct {
	counts [20]atomic.Uint64 // len(LatencyBuckets) + 1 for +Inf
	sumNs  atomic.Int64
}

// Observe records one duration; a negative one counts as zero.
func (h *Histogram) Observe(d time.Duration) {
	d = max(d, 0)
	i := len(LatencyBuckets)
	for j, b := range LatencyBuckets {
		if d <= b {
			i = j
			break
		}
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// HistogramSnapshot is a Histogram at one moment, in the shape Prometheus
// wants: cumulative counts per upper bound (seconds), then count and sum.
type HistogramSnapshot struct {
	Bounds     []float64 // seconds, ascending
	Cumulative []uint64  // observations <= Bounds[i]
	Count      uint64
	SumSeconds float64
}

// Snapshot reads h. Concurrent Observes may or may not be included.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{
		Bounds:     make([]float64, len(LatencyBuckets)),
		Cumulative: make([]uint64, len(LatencyBuckets)),
	}
	var run uint64
	for i, b := range LatencyBuckets {
		run += h.counts[i].Load()
		s.Bounds[i] = b.Seconds()
		s.Cumulative[i] = run
	}
	s.Count = run + h.counts[len(LatencyBuckets)].Load()
	s.SumSeconds = float64(h.sumNs.Load()) / float64(time.Second)
	return s
}

// Quantile estimates the q-quantile (0 < q <= 1) as the upper bound of the
// bucket holding it; +Inf when it lies above the last bound, NaN when
// nothing was observed.
func (s HistogramSnapshot) Quantile(q float64) float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(s.Count)))
	for i, c := range s.Cumulative {
		if c >= rank {
			return s.Bounds[i]
		}
	}
	return math.Inf(1)
}
