package companion

// What the exchange reports about itself, for the status listener; the
// publishers' side is PublisherStats (stats.go).

// LocalStats is what the local Asterisk has reported so far.
func (x *Exchange) LocalStats() LocalStats { return x.local.Stats() }

// ReceiverStats is what peers have sent and what is held of theirs.
func (x *Exchange) ReceiverStats() ReceiverStats { return x.receiver.Stats() }

// ApplyStats is what was written into the local Asterisk; ok is false
// when nothing is applied (no applier).
func (x *Exchange) ApplyStats() (s ApplyStats, ok bool) {
	if x.apply == nil {
		return ApplyStats{}, false
	}
	return x.apply.Stats(), true
}

// PeerOf names where eid's states come from now: the SIP peer that holds
// them, else, with [fleet], FleetPeerName (the name {peer} expands to),
// else "".
func (x *Exchange) PeerOf(eid EntityID) string { return x.peerOf(eid) }

// EID is this node's Entity ID.
func (x *Exchange) EID() EntityID { return x.eid }

// PeerNames are the peers of the running configuration, in file order.
func (x *Exchange) PeerNames() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	names := make([]string, 0, len(x.cfg.Peers))
	for _, p := range x.cfg.Peers {
		names = append(names, p.Name)
	}
	return names
}
