package ami

import (
	"sync/atomic"
	"time"
)

// Stats is the AMI link as the client sees it, for the status listener.
type Stats struct {
	Connected bool // a logged-in session is up (Connected)
	// Connects counts logins; every one after the first is a reconnect.
	Connects    uint64
	LastConnect time.Time // zero before the first login
	// State says what the client last learnt about the link: connecting,
	// connected, lost, refused, failed, unreachable or shutting down;
	// Reason is Asterisk's or the network's word for it, when there is one.
	State  string
	Reason string
}

// Reconnects is Connects less the first login.
func (s Stats) Reconnects() uint64 {
	if s.Connects == 0 {
		return 0
	}
	return s.Connects - 1
}

// linkCounters count logins; lock-free, as amigo's callback goroutine
// bumps them.
type linkCounters struct {
	connects    atomic.Uint64
	lastConnect atomic.Int64 // unix nanoseconds
}

func (c *linkCounters) connected() {
	c.lastConnect.Store(time.Now().UnixNano())
	c.connects.Add(1)
}

// Stats returns the link's state and counts.
func (c *Client) Stats() Stats {
	c.link.mu.Lock()
	state, reason := c.link.state, c.link.reason
	c.link.mu.Unlock()
	s := Stats{
		Connected: c.Connected(),
		Connects:  c.link.counts.connects.Load(),
		State:     state.String(),
		Reason:    reason,
	}
	if ns := c.link.counts.lastConnect.Load(); ns != 0 {
		s.LastConnect = time.Unix(0, ns)
	}
	return s
}

func (s linkState) String() string {
	switch s {
	case linkConnecting:
		return "connecting"
	case linkUp:
		return "connected"
	case linkLost:
		return "lost"
	case linkRefused:
		return "refused"
	case linkFailed:
		return "failed"
	case linkUnreachable:
		return "unreachable"
	case linkShuttingDown:
		return "shutting down"
	}
	return "unknown"
}
