package companion

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// This file declares what the exchange reports about itself, for the
// status listener (/metrics, /status). The adapters read these snapshots;
// the domain imports no metrics library.

// PublisherStats is what one publisher (one peer, one event) has done.
type PublisherStats struct {
	Peer  string
	Event Event
	// Answers counts PUBLISHes by final status; status 0 counts those that
	// got no final answer (timeout, transport error).
	Answers   map[int]uint64
	Retries   uint64 // PUBLISHes sent again after a failure
	Coalesced uint64 // queued values replaced by a newer one before they went out
	Queued    int    // keys waiting to be sent
	// Publications are the publication slots (max_in_flight), in order.
	Publications []PublicationStats
	LastSent     time.Time // last 2xx
	LastError    string    // "" when the last PUBLISH succeeded
	LastErrorAt  time.Time
	// Latency is AMI in (the local table's change) to the peer's 2xx.
	Latency HistogramSnapshot
}

// PublicationStats is one publication slot towards a peer.
type PublicationStats struct {
	ETag    string    // "" while it has none
	Granted time.Time // when ETag was last granted or refreshed; zero without ETag
	Keys    int       // keys sharded to it
}

// publisherCounters is what a Publisher counts for Stats: atomics on the
// hot path, a mutex for what goes with each final answer.
type publisherCounters struct {
	retries   atomic.Uint64
	coalesced atomic.Uint64
	latency   Histogram

	mu          sync.Mutex
	answers     map[int]uint64
	lastSent    time.Time
	lastError   string
	lastErrorAt time.Time
	// For the logs: one line for all publications, not one each.
	upNoted    bool // "publication up" written since the last failure or 412
	lostNoted  bool // the 412 line written since the last "publication up"
	failing    bool // the failure line written since the last success
	failStatus int
}

// answer counts a PUBLISH's final status; 0 for none (why says why).
func (c *publisherCounters) answer(status int, why string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[status]++
	if status >= 200 && status < 300 {
		c.lastSent, c.lastError = now, ""
		return
	}
	if status != 0 {
		why = strconv.Itoa(status) + " " + why
	}
	c.lastError, c.lastErrorAt = why, now
}

// noteUp logs a publication up after a start, a failure or a 412, once
// for all the publisher's publications.
func (p *Publisher) noteUp(s *shard, etag string) {
	c := &p.counters
	c.mu.Lock()
	first := !c.upNoted
	c.upNoted, c.lostNoted, c.failing = true, false, false
	c.mu.Unlock()
	if first {
		p.opts.Logger.Info("publication up", "etag", etag, "publications", len(p.shards))
	} else if s.failures > 0 || s.etag == "" {
		p.opts.Logger.Debug("publication up", "etag", etag, "publication", s.index)
	}
}

// noteLost logs a 412, once until a publication is up again.
func (p *Publisher) noteLost(s *shard) {
	c := &p.counters
	c.mu.Lock()
	first := !c.lostNoted
	c.lostNoted, c.upNoted = true, false
	c.mu.Unlock()
	if first {
		p.opts.Logger.Info("publication unknown to the peer (412): sending the full state anew")
	} else {
		p.opts.Logger.Debug("publication unknown to the peer (412)", "publication", s.index)
	}
}

// noteFailure logs a failed PUBLISH when the publisher starts failing or
// the status changes, not at every retry of every publication.
func (p *Publisher) noteFailure(s *shard, status int, why string) {
	c := &p.counters
	c.mu.Lock()
	loud := !c.failing || status != c.failStatus
	c.failing, c.failStatus, c.upNoted = true, status, false
	c.mu.Unlock()
	queued := 0
	if loud {
		s.mu.Lock()
		queued = s.q.len()
		s.mu.Unlock()
		p.opts.Logger.Warn("PUBLISH failed; retrying", "status", status, "reason", why, "queued", queued)
	} else {
		p.opts.Logger.Debug("PUBLISH failed; retrying", "publication", s.index, "status", status, "reason", why)
	}
}

// Stats reads what the publisher has done so far. It is safe to call
// from any goroutine and costs a lock per publication.
func (p *Publisher) Stats() PublisherStats {
	c := &p.counters
	st := PublisherStats{
		Peer:      p.peer.Name,
		Event:     p.event,
		Retries:   c.retries.Load(),
		Coalesced: c.coalesced.Load(),
		Latency:   c.latency.Snapshot(),
	}
	c.mu.Lock()
	st.Answers = maps.Clone(c.answers)
	st.LastSent, st.LastError, st.LastErrorAt = c.lastSent, c.lastError, c.lastErrorAt
	c.mu.Unlock()
	st.Publications = make([]PublicationStats, len(p.shards))
	for i, s := range p.shards {
		s.mu.Lock()
		st.Queued += s.q.len()
		st.Publications[i] = PublicationStats{ETag: s.tag, Granted: s.granted}
		s.mu.Unlock()
		st.Publications[i].Keys = int(s.keys.Load())
	}
	return st
}
