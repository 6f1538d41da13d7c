package companion

import (
	"math"
	"testing"
	"time"
)

func TestHistogramCumulativeAndQuantile(t *testing.T) {
	var h Histogram
	if !math.IsNaN(h.Snapshot().Quantile(0.5)) {
		t.Fatal("an empty histogram must have no quantile")
	}
	for range 98 {
		h.Observe(100 * time.Microsecond) // first bucket (<= 250 µs)
	}
	h.Observe(3 * time.Millisecond) // <= 4 ms
	h.Observe(2 * time.Minute)      // above the last bound
	s := h.Snapshot()
	if s.Count != 100 {
		t.Fatalf("count %d, want 100", s.Count)
	}
	if s.Cumulative[0] != 98 || s.Cumulative[len(s.Cumulative)-1] != 99 {
		t.Fatalf("cumulative %v", s.Cumulative)
	}
	if q := s.Quantile(0.5); q != 0.00025 {
		t.Fatalf("p50 %v, want 0.00025", q)
	}
	if q := s.Quantile(0.99); q != 0.004 {
		t.Fatalf("p99 %v, want 0.004", q)
	}
	if q := s.Quantile(1); !math.IsInf(q, 1) {
		t.Fatalf("p100 %v, want +Inf", q)
	}
	want := 98*100e-6 + 3e-3 + 120
	if math.Abs(s.SumSeconds-want) > 1e-9 {
		t.Fatalf("sum %v, want %v", s.SumSeconds, want)
	}
}
