package provision

import (
	"sync/atomic"
	"time"
)

// KeeperStats is what the keeper has done since it started.
type KeeperStats struct {
	Runs     uint64 // applies of the [[sorcery]] objects, retries included
	Failures uint64 // runs that failed
	// LastError is the last failed run's error, "" once a run succeeded
	// after it; the error text names objects and ARI's answer, never a
	// password (ARI errors are masked where they are made).
	LastError string
	LastRun   time.Time // zero before the first run
}

type keeperCounters struct {
	runs, failures atomic.Uint64
	lastRun        atomic.Int64 // unix nanoseconds
	lastError      atomic.Pointer[string]
}

// ran counts one apply; one cut short by shutdown is no failure.
func (c *keeperCounters) ran(err error, stopping bool) {
	if stopping {
		return
	}
	msg := ""
	if err != nil {
		c.failures.Add(1)
		msg = err.Error()
	}
	c.lastError.Store(&msg)
	c.lastRun.Store(time.Now().UnixNano())
	c.runs.Add(1) // last: a reader that sees the run sees the rest
}

// Stats returns the counts so far.
func (k *Keeper) Stats() KeeperStats {
	s := KeeperStats{Runs: k.counts.runs.Load(), Failures: k.counts.failures.Load()}
	if ns := k.counts.lastRun.Load(); ns != 0 {
		s.LastRun = time.Unix(0, ns)
	}
	if p := k.counts.lastError.Load(); p != nil {
		s.LastError = *p
	}
	return s
}
