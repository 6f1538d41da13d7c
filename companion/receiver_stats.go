package companion

import (
	"slices"
	"time"
)

// ReceiverStats is what the receiver took from peers and holds now.
type ReceiverStats struct {
	// StatesAccepted counts device and mailbox states written into the
	// remote table; StatesFiltered those answered 200 but dropped by
	// [peer.accept] (device_state/mailbox_state off, or the filters).
	StatesAccepted uint64
	StatesFiltered uint64
	// Refusals are Refusals(): requests or bodies refused, by reason.
	Refusals map[string]uint64
	// Noise is Filtered(): a stock peer's device states dropped by the
	// ignore_* settings, by reason.
	Noise map[string]uint64
	// Peers has every peer with [peer.accept], by name.
	Peers map[string]ReceiverPeerStats
}

// ReceiverPeerStats is one peer as the receiver sees it.
type ReceiverPeerStats struct {
	Publications map[Event]int // live publications held, by event
	States       int           // states held under its Entity IDs
	EIDs         int           // Entity IDs it holds
	Received     uint64        // PUBLISHes accepted (answered 200)
	LastReceived time.Time     // zero: none yet
}

// BoundReasons are the refusal reasons that mean a [peer.accept] bound
// was hit (max_publications, max_keys, max_eids, max_expires).
var BoundReasons = []string{RefusedTooManyPubs, RefusedTooManyKeys, RefusedTooManyEIDs, RefusedExpiresCapped}

// IsBoundReason reports whether a refusal reason is one of BoundReasons.
func IsBoundReason(reason string) bool { return slices.Contains(BoundReasons, reason) }

// receiverCounters are the receiver's counts; guarded by Receiver.mu.
// The maps hold configured peer names only.
type receiverCounters struct {
	accepted, filtered uint64
	received           map[string]uint64
	last               map[string]time.Time
}

// acceptedLocked counts a PUBLISH answered 200 and the state it carried.
func (c *receiverCounters) acceptedLocked(peer string, now time.Time, body decoded) {
	if c.received == nil {
		c.received, c.last = make(map[string]uint64), make(map[string]time.Time)
	}
	c.received[peer]++
	c.last[peer] = now
	if !body.hasEID || body.msg.Type == MessageRefresh {
		return
	}
	if body.apply {
		c.accepted++
	} else {
		c.filtered++
	}
}

// Stats returns the counts so far and what is held now.
func (r *Receiver) Stats() ReceiverStats {
	refusals, noise := r.Refusals(), r.Filtered()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ReceiverStats{
		StatesAccepted: r.stats.accepted,
		StatesFiltered: r.stats.filtered,
		Refusals:       refusals,
		Noise:          noise,
		Peers:          make(map[string]ReceiverPeerStats, len(r.peers)),
	}
	for _, p := range r.peers {
		u := r.usage[p.Name]
		ps := ReceiverPeerStats{
			Publications: map[Event]int{EventDeviceState: 0, EventMWI: 0},
			Received:     r.stats.received[p.Name],
			LastReceived: r.stats.last[p.Name],
		}
		if u != nil {
			ps.Publications[EventDeviceState] = u.pubs[eventIndex(EventDeviceState)]
			ps.Publications[EventMWI] = u.pubs[eventIndex(EventMWI)]
			ps.States, ps.EIDs = u.keys, len(u.eids)
		}
		s.Peers[p.Name] = ps
	}
	return s
}
