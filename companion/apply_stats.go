package companion

import "sync/atomic"

// ApplyStats is what Apply wrote into the local Asterisk.
type ApplyStats struct {
	WritesOK     uint64 // writes the local Asterisk took
	WritesFailed uint64 // writes that failed (each retry counts)
	// RefusedLocal counts remote states not written because the device
	// or mailbox is local to this Asterisk.
	RefusedLocal uint64
}

type applyCounters struct {
	ok, failed atomic.Uint64
}

// wrote counts the outcome of one write.
func (c *applyCounters) wrote(err error) {
	if err == nil {
		c.ok.Add(1)
	} else {
		c.failed.Add(1)
	}
}

// Stats returns the counts so far.
func (a *Apply) Stats() ApplyStats {
	return ApplyStats{WritesOK: a.stats.ok.Load(), WritesFailed: a.stats.failed.Load(), RefusedLocal: a.refusedLocal.Load()}
}
