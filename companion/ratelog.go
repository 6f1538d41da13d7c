package companion

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// RateLog writes warnings about refused or dropped input without letting
// the input decide how much is written: for each (source, reason) the
// first line of a window is written, the rest are counted, and one summary
// line with the count follows when the window is over. The sources it
// tracks are bounded; past the bound every new source shares one entry,
// so a flood of spoofed addresses writes a summary, not a line each.
//
// Messages and attribute values come from the caller; whatever a peer
// sent must be quoted by the caller (slog's text and JSON handlers quote
// strings with control characters).
type RateLog struct {
	log    *slog.Logger
	window time.Duration
	max    int
	now    func() time.Time

	mu      sync.Mutex
	entries map[rateKey]*rateEntry
	written uint64 // lines written, summaries included
	dropped uint64 // lines counted instead of written
	// nextFlush keeps a flood from scanning the entries on every call.
	nextFlush time.Time
}

type rateKey struct{ source, reason string }

type rateEntry struct {
	start      time.Time
	suppressed int
	level      slog.Level
	msg        string
}

// DefaultRateLogWindow is how often one (source, reason) may log a line.
const DefaultRateLogWindow = time.Minute

// DefaultRateLogSources bounds the (source, reason) pairs tracked at once.
const DefaultRateLogSources = 1024

// OtherSources stands for every source past RateLog's bound.
const OtherSources = "(other sources)"

// NewRateLog returns a RateLog writing to log; window and max default to
// DefaultRateLogWindow and DefaultRateLogSources when zero.
func NewRateLog(log *slog.Logger, window time.Duration, max int) *RateLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if window <= 0 {
		window = DefaultRateLogWindow
	}
	if max <= 0 {
		max = DefaultRateLogSources
	}
	return &RateLog{log: log, window: window, max: max, now: time.Now, entries: make(map[rateKey]*rateEntry)}
}

// Warn logs msg at warning level for (source, reason), or counts it.
func (l *RateLog) Warn(source, reason, msg string, args ...any) {
	l.Log(slog.LevelWarn, source, reason, msg, args...)
}

// Log logs msg at level for (source, reason), or counts it when that pair
// already wrote a line in the current window.
func (l *RateLog) Log(level slog.Level, source, reason, msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	l.flushLocked(now)
	k := rateKey{source, reason}
	e := l.entries[k]
	if e == nil && len(l.entries) >= l.max {
		k = rateKey{OtherSources, reason}
		e = l.entries[k]
		if e == nil && len(l.entries) >= l.max+1 {
			// Even the shared entry cannot be added: every slot holds
			// another reason. Count only.
			l.dropped++
			l.mu.Unlock()
			return
		}
	}
	if e != nil {
		e.suppressed++
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.entries[k] = &rateEntry{start: now, level: level, msg: msg}
	l.written++
	l.mu.Unlock()
	l.log.Log(context.Background(), level, msg, append(args, "source", k.source, "reason", reason)...)
}

// Flush writes the summaries of the windows that are over and forgets
// them; Log calls it too, so a quiet RateLog needs a periodic Flush only
// to have its last summaries written.
func (l *RateLog) Flush() {
	l.mu.Lock()
	l.nextFlush = time.Time{}
	l.flushLocked(l.now())
	l.mu.Unlock()
}

func (l *RateLog) flushLocked(now time.Time) {
	if now.Before(l.nextFlush) {
		return
	}
	l.nextFlush = now.Add(min(l.window/4, time.Second))
	for k, e := range l.entries {
		if now.Sub(e.start) < l.window {
			continue
		}
		delete(l.entries, k)
		if e.suppressed > 0 {
			l.written++
			l.log.Log(context.Background(), e.level, e.msg+" (repeated)", "source", k.source, "reason", k.reason,
				"repeats", e.suppressed, "within", l.window.String())
		}
	}
}

// Counts reports how many lines were written and how many were counted
// instead.
func (l *RateLog) Counts() (written, suppressed uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written, l.dropped
}
