package companion

// Reconfigure makes cfg's peers the ones the receiver takes PUBLISHes
// from, while it runs (a reload):
//
//   - A peer gone from cfg, or whose [peer.accept] is gone, loses its
//     publications as if they had expired (DropPeer): the states it
//     asserted are removed from the remote table, so Apply clears them.
//   - A peer kept keeps its publications; of its states, those its new
//     switches and filters no longer accept are removed from the remote
//     table (Apply clears them), the others stay untouched. Publications
//     carrying an Entity ID its new accept.eids (or another peer's) no
//     longer allow are dropped.
//   - New peers are taken from the next request on.
//
// Address, credentials and bounds apply from the next request. A request
// that was being checked against the old settings while the change
// happened is answered 503 and retried by its sender.
func (r *Receiver) Reconfigure(cfg *Config) {
	peers := make(map[string]*PeerConfig)
	byName := make(map[string]*PeerConfig)
	pinned := make(map[EntityID]string)
	for i := range cfg.Peers {
		if p := &cfg.Peers[i]; p.Accept != nil {
			peers[p.Accept.Resource] = p
			byName[p.Name] = p
			for _, e := range p.Accept.EIDs {
				pinned[e] = p.Name
			}
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, old := range r.peers {
		next := byName[old.Name]
		if next == nil {
			n := r.dropWhereLocked(func(p *publication) bool { return p.peer == old.Name })
			delete(r.usage, old.Name)
			delete(r.conflicts, old.Name)
			r.log.Info("peer no longer accepted: its publications dropped, its states cleared", "peer", old.Name, "publications", n)
			continue
		}
		allowed := func(eid EntityID) bool {
			owner, isPinned := pinned[eid]
			if isPinned && owner != next.Name {
				return false
			}
			return len(next.Accept.EIDs) == 0 || isPinned
		}
		if n := r.dropWhereLocked(func(p *publication) bool {
			if p.peer != next.Name {
				return false
			}
			for eid := range p.eids {
				if !allowed(eid) {
					return true
				}
			}
			return false
		}); n > 0 {
			r.log.Info("publications under Entity IDs no longer allowed to the peer dropped", "peer", next.Name, "publications", n)
		}
		if n := r.pruneLocked(next); n > 0 {
			r.log.Info("states the peer's new [peer.accept] switches or filters refuse cleared", "peer", next.Name, "count", n)
		}
	}
	r.peers, r.pinned = peers, pinned
}

// peerFor returns the peer that publishes to resource, nil for none.
func (r *Receiver) peerFor(resource string) *PeerConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[resource]
}

// dropWhereLocked drops the publications gone tells, as if they had
// expired, and returns how many.
func (r *Receiver) dropWhereLocked(gone func(*publication) bool) int {
	var drop []*publication
	for _, p := range r.expiry {
		if gone(p) {
			drop = append(drop, p)
		}
	}
	for _, p := range drop {
		r.dropLocked(p)
	}
	return len(drop)
}

// pruneLocked removes from the remote table the states of peer's Entity
// IDs that its [peer.accept] no longer accepts, and returns how many.
func (r *Receiver) pruneLocked(peer *PeerConfig) int {
	u := r.usage[peer.Name]
	if u == nil {
		return 0
	}
	removed := 0
	for eid := range u.eids {
		for _, e := range r.remote.Entries(eid) {
			if accepts(peer.Accept, e.State.Key) {
				continue
			}
			if _, ok := r.remote.Delete(eid, e.State.Key); ok {
				u.keys--
				removed++
			}
		}
	}
	return removed
}
