package companion

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		min, max, wantMin, wantMax time.Duration
	}{
		{0, 0, time.Second, time.Minute},
		{time.Millisecond, 0, time.Millisecond, time.Minute},
		{time.Second, time.Millisecond, time.Second, time.Second},
		{time.Millisecond, 5 * time.Millisecond, time.Millisecond, 5 * time.Millisecond},
	} {
		if gotMin, gotMax := backoffBounds(tc.min, tc.max); gotMin != tc.wantMin || gotMax != tc.wantMax {
			t.Errorf("backoffBounds(%v, %v) = %v, %v", tc.min, tc.max, gotMin, gotMax)
		}
	}
	for failures, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 100: time.Minute} {
		if got := backoffDelay(time.Second, time.Minute, failures); got != want {
			t.Errorf("backoffDelay after %d failures = %v, want %v", failures, got, want)
		}
	}
}
