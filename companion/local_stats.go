package companion

import (
	"sync/atomic"
	"time"
)

// LocalStats is what the local Asterisk has reported so far.
type LocalStats struct {
	// Events counts states reported one by one (DeviceStateChange,
	// MessageWaiting), by kind, echoes and bad names included.
	Events map[Kind]uint64
	// Snapshots counts the full snapshots taken, by kind (one of each
	// follows every AMI connect); LastSnapshot is when the last one of
	// each kind was taken.
	Snapshots    map[Kind]uint64
	LastSnapshot map[Kind]time.Time
	// BadNames counts states dropped for their name.
	BadNames uint64
}

// localCounters are Local's counts, lock-free: Observe runs for every
// event.
type localCounters struct {
	events, snapshots [2]atomic.Uint64 // by kind
	lastSnapshot      [2]atomic.Int64  // unix nanoseconds, by kind
}

func kindIndex(k Kind) int {
	if k == KindMailbox {
		return 1
	}
	return 0
}

func (c *localCounters) event(k Kind) { c.events[kindIndex(k)].Add(1) }

// snapshot counts a snapshot once it is in the table.
func (c *localCounters) snapshot(k Kind) {
	c.lastSnapshot[kindIndex(k)].Store(time.Now().UnixNano())
	c.snapshots[kindIndex(k)].Add(1)
}

// Stats returns the counts so far.
func (l *Local) Stats() LocalStats {
	s := LocalStats{
		Events:       make(map[Kind]uint64, 2),
		Snapshots:    make(map[Kind]uint64, 2),
		LastSnapshot: make(map[Kind]time.Time, 2),
		BadNames:     l.badNames.Load(),
	}
	for _, k := range []Kind{KindDevice, KindMailbox} {
		i := kindIndex(k)
		s.Events[k] = l.stats.events[i].Load()
		s.Snapshots[k] = l.stats.snapshots[i].Load()
		if ns := l.stats.lastSnapshot[i].Load(); ns != 0 {
			s.LastSnapshot[k] = time.Unix(0, ns)
		}
	}
	return s
}
