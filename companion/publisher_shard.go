package companion

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// shard is one publication of a Publisher: the keys that hash to it, its
// own Sender, entity tag, refresh, backoff and 412 recovery, and one
// PUBLISH in flight at a time. Its loop is what a publisher of one
// publication was.
type shard struct {
	p     *Publisher
	index int
	send  Sender
	wake  chan struct{}
	keys  atomic.Int64 // keys routed to it, for Stats

	mu      sync.Mutex
	q       shardQueue
	seq     uint64 // numbers each queued value, to tell it from a newer one
	sending bool   // a queued value is in flight:
	sentKey Key    // this key's,
	sentSeq uint64 // with this number
	kicked  bool   // a dump: try now, whatever the backoff
	asked   bool   // AskRefresh: send a refresh request now
	tag     string // etag, for Stats
	granted time.Time

	// Owned by run.
	etag       string
	expiration int // seconds asked for
	refreshAt  time.Time
	askRefresh bool
	failures   int
	lastStatus int
}

func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// push queues e for sending (live: a change, not a full send); force
// replaces a queued value even if e is not newer.
func (s *shard) push(e Entry, live, force bool) {
	s.mu.Lock()
	s.seq++
	old, replaced := s.q.push(queued{e: e, live: live, seq: s.seq}, force)
	inFlight := s.sending && s.sentKey == e.State.Key && s.sentSeq == old
	s.mu.Unlock()
	if replaced && !inFlight {
		s.p.counters.coalesced.Add(1)
	}
}

func (s *shard) kick() {
	s.mu.Lock()
	s.kicked = true
	s.mu.Unlock()
}

func (s *shard) askForRefresh() {
	s.mu.Lock()
	s.asked = true
	s.mu.Unlock()
	s.signal()
}

// run publishes until ctx is done, then removes the publication.
func (s *shard) run(ctx context.Context) removal {
	p := s.p
	timer := time.NewTimer(0)
	defer timer.Stop()
	var retryAt time.Time
	blockedLogged := false
	for {
		p.sync()
		s.mu.Lock()
		if s.kicked {
			// The peer asked: it is up, whatever the backoff thought.
			s.kicked, retryAt = false, time.Time{}
		}
		if s.asked {
			// The peer is back: ask now, whatever the backoff thought.
			s.asked, s.askRefresh, retryAt = false, true, time.Time{}
		}
		queued := s.q.len()
		s.mu.Unlock()

		now := time.Now()
		wait := time.Duration(-1)
		switch {
		case p.opts.Blocked():
			if !blockedLogged && s.index == 0 {
				p.opts.Logger.Error("not publishing: the peer uses this node's Entity ID")
			}
			blockedLogged = true
			wait = p.opts.MaxBackoff
		case now.Before(retryAt):
			wait = retryAt.Sub(now)
		case s.askRefresh || queued > 0 || (s.etag != "" && !now.Before(s.refreshAt)):
			blockedLogged = false
			if !s.step(ctx) {
				if ctx.Err() != nil {
					return s.unpublish()
				}
				retryAt = time.Now().Add(s.backoff())
			} else {
				retryAt = time.Time{}
			}
			continue
		case s.etag != "":
			wait = s.refreshAt.Sub(now)
		}

		// Go 1.23 timers: after Stop or Reset no stale tick is delivered.
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return s.unpublish()
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// step sends one PUBLISH: the refresh request, the oldest queued key, or a
// refresh of the publication. It reports success.
func (s *shard) step(ctx context.Context) bool {
	p := s.p
	req := PublishRequest{Event: p.event, IfMatch: s.etag, Expires: s.expiration}
	var sent queued
	haveKey := false
	if !s.askRefresh {
		s.mu.Lock()
		sent, haveKey = s.q.next()
		s.sending, s.sentKey, s.sentSeq = haveKey, sent.e.State.Key, sent.seq
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.sending = false
			s.mu.Unlock()
		}()
	}
	switch {
	case s.askRefresh:
		req.Body, _ = EncodeMessage(Message{Type: MessageRefresh, EID: p.eid})
	case haveKey:
		body, err := EncodeMessage(p.message(sent.e))
		if err != nil {
			// Unencodable (too long for MaxBodySize): it can never go out.
			p.opts.Logger.Error("state not publishable", "key", sent.e.State.Key.String(), "err", err)
			s.done(sent)
			return true
		}
		req.Body = body
	case s.etag == "":
		return true // nothing to start a publication with
	}

	// A PUBLISH cut off by shutdown may still reach the peer and change
	// the entity tag the removal must name: let it finish, briefly.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, cancel) })
	p.sent.Add(1)
	if s.failures > 0 {
		p.counters.retries.Add(1)
	}
	res, err := s.send.Publish(cctx, req)
	stop()
	cancel()
	if err != nil {
		p.counters.answer(0, "no answer: "+err.Error())
		if ctx.Err() == nil {
			s.fail(0, "no answer: "+err.Error())
		}
		return false
	}
	p.counters.answer(res.Status, res.Reason)
	if ctx.Err() != nil && res.Status >= 200 && res.Status < 300 {
		s.setETag(res.ETag) // for the removal that follows
		return false
	}
	switch {
	case res.Status >= 200 && res.Status < 300:
		p.noteUp(s, res.ETag)
		s.failures, s.lastStatus = 0, res.Status
		s.setETag(res.ETag)
		granted := res.Expires
		if granted <= 0 {
			granted = s.expiration
		}
		s.refreshAt = time.Now().Add(refreshDelay(granted))
		switch {
		case req.Body == nil:
		case s.askRefresh:
			s.askRefresh = false
		default:
			if sent.live && !sent.e.At.IsZero() {
				p.counters.latency.Observe(time.Since(sent.e.At))
			}
			s.done(sent)
		}
		return true
	case res.Status == 412:
		// The peer does not know our publication (it restarted, or let
		// it lapse) and, if it is a companion, dropped what it carried:
		// start anew with everything this publication carries.
		p.noteLost(s)
		s.setETag("")
		p.requeue.Or(1 << s.index)
		p.signal()
		if req.IfMatch == "" {
			s.fail(res.Status, res.Reason)
			return false
		}
		return true
	case res.Status == 423 && res.MinExpires > s.expiration:
		p.opts.Logger.Info("peer wants a longer expiration (423)", "min_expires", res.MinExpires)
		s.expiration = res.MinExpires
		return true
	default:
		s.fail(res.Status, res.Reason)
		return false
	}
}

// done drops the sent value from the queue if it is still the newest.
func (s *shard) done(sent queued) {
	s.mu.Lock()
	s.q.done(sent.e.State.Key, sent.seq)
	s.mu.Unlock()
}

func (s *shard) setETag(tag string) {
	s.etag = tag
	s.mu.Lock()
	s.tag = tag
	s.granted = time.Time{}
	if tag != "" {
		s.granted = time.Now()
	}
	s.mu.Unlock()
}

func (s *shard) fail(status int, why string) {
	s.failures++
	s.p.noteFailure(s, status, why)
	s.lastStatus = status
}

// backoff doubles from MinBackoff up to MaxBackoff with the failures in a
// row; refused credentials or a missing resource wait the longest, as
// they need someone to fix a configuration.
func (s *shard) backoff() time.Duration {
	switch s.lastStatus {
	case 401, 403, 404, 407, 489:
		return s.p.opts.MaxBackoff
	}
	return backoffDelay(s.p.opts.MinBackoff, s.p.opts.MaxBackoff, s.failures)
}

// unpublish removes the publication, bounded so that shutdown never hangs.
func (s *shard) unpublish() removal {
	p := s.p
	if s.etag == "" {
		return removalNone
	}
	if p.abandoned.Load() {
		return removalLeft
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	p.sent.Add(1)
	res, err := s.send.Publish(ctx, PublishRequest{Event: p.event, IfMatch: s.etag, Expires: 0})
	if err != nil {
		p.counters.answer(0, "no answer: "+err.Error())
		p.opts.Logger.Debug("removing the publication failed", "publication", s.index, "err", err)
		return removalFailed
	}
	p.counters.answer(res.Status, res.Reason)
	s.setETag("")
	if res.Status >= 200 && res.Status < 300 {
		return removalDone
	}
	p.opts.Logger.Debug("the peer refused the removal", "publication", s.index, "status", res.Status)
	return removalRefused
}
