package companion

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRateLogFirstThenSummary(t *testing.T) {
	var buf bytes.Buffer
	l := NewRateLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute, 8)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 500 {
		l.Warn("192.0.2.1", "no peer", "PUBLISH refused")
	}
	l.Warn("192.0.2.2", "no peer", "PUBLISH refused")
	l.Warn("192.0.2.1", "bad body", "PUBLISH refused")
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("%d lines within the window, want 3:\n%s", n, buf.String())
	}
	now = now.Add(61 * time.Second)
	l.Flush()
	out := buf.String()
	if !strings.Contains(out, "repeats=499") || strings.Count(out, "\n") != 4 {
		t.Errorf("want one summary with repeats=499:\n%s", out)
	}
	if w, s := l.Counts(); w != 4 || s != 499 {
		t.Errorf("counts = %d written, %d suppressed", w, s)
	}
}

func TestRateLogBoundsSources(t *testing.T) {
	var buf bytes.Buffer
	l := NewRateLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute, 16)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for i := range 20000 {
		l.Warn(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), "no peer", "PUBLISH refused")
	}
	if n := strings.Count(buf.String(), "\n"); n != 17 {
		t.Fatalf("%d lines for 20000 sources, want 16 + 1 shared", n)
	}
	if len(l.entries) > 17 {
		t.Errorf("%d entries tracked", len(l.entries))
	}
	now = now.Add(2 * time.Minute)
	l.Flush()
	if !strings.Contains(buf.String(), OtherSources) || len(l.entries) != 0 {
		t.Errorf("shared entry not summarised or entries kept:\n%s", buf.String())
	}
}
