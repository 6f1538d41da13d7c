package companion

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Publisher keeps one publication (one peer, one event) carrying this
// node's states, like an outbound-publish object of
// res_pjsip_outbound_publish, but without its losses:
//
//   - States are coalesced per key: while a PUBLISH is in flight, a newer
//     value of a key replaces the queued one, so a burst of N changes of
//     one device costs two round trips, not N.
//   - Delivery is retried with backoff (timeouts, 5xx, refused
//     credentials) until it succeeds or a newer value supersedes it: the
//     newest value of every key always arrives once the peer answers.
//   - The publication is refreshed well before it expires, and a 412 (the
//     peer lost it: restart, expiry) starts a new one carrying the full
//     state, never a body-less PUBLISH.
//
// Only entries whose origin is this node's EID are sent: no relaying, so
// a mesh stays free of loops.
type Publisher struct {
	peer    *PeerConfig
	event   Event
	kind    Kind
	filter  Filter
	eid     EntityID
	local   *Table
	send    Sender
	opts    PublisherOptions
	dumpReq chan struct{}
	askReq  chan struct{}
	sent    atomic.Int64
	// abandoned makes Run end without removing the publication: the
	// process is failing, and its peers should keep our states until the
	// publications expire or we come back.
	abandoned atomic.Bool

	// Owned by Run.
	pending    map[Key]Entry
	order      []Key
	etag       string
	expiration int // seconds asked for
	refreshAt  time.Time
	askRefresh bool
	failures   int
	lastStatus int
}

// PublisherOptions tune a Publisher; zero fields take defaults.
type PublisherOptions struct {
	MinBackoff time.Duration // first retry delay; default 1 s
	MaxBackoff time.Duration // cap of the doubling delay; default 60 s
	// Timeout bounds one PUBLISH and its digest round trips; default 35 s,
	// just over a UDP non-INVITE transaction's 32 s.
	Timeout time.Duration
	Logger  *slog.Logger
	// Blocked, when it returns true, holds every PUBLISH back: the peer
	// has sent our own EID, and would take our states for its own.
	Blocked func() bool
}

func (o PublisherOptions) withDefaults() PublisherOptions {
	o.MinBackoff, o.MaxBackoff = backoffBounds(o.MinBackoff, o.MaxBackoff)
	if o.Timeout <= 0 {
		o.Timeout = 35 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Blocked == nil {
		o.Blocked = func() bool { return false }
	}
	return o
}

// NewPublisher returns the publisher of event ev towards peer, which must
// have [peer.publish]. It sends entries of local whose origin is eid.
func NewPublisher(peer *PeerConfig, ev Event, eid EntityID, local *Table, s Sender, opts PublisherOptions) *Publisher {
	p := &Publisher{
		peer:       peer,
		event:      ev,
		kind:       eventKind(ev),
		eid:        eid,
		local:      local,
		send:       s,
		opts:       opts.withDefaults(),
		dumpReq:    make(chan struct{}, 1),
		askReq:     make(chan struct{}, 1),
		pending:    make(map[Key]Entry),
		expiration: int(peer.Publish.Expiration / time.Second),
		askRefresh: peer.Accept != nil && peer.Accept.Refresh,
	}
	if p.expiration <= 0 {
		p.expiration = int(DefaultPublishExpiration / time.Second)
	}
	p.filter = peer.Publish.DeviceStateFilter
	if ev == EventMWI {
		p.filter = peer.Publish.MailboxStateFilter
	}
	p.opts.Logger = p.opts.Logger.With("peer", peer.Name, "event", string(ev))
	return p
}

// Dump queues every current state for sending: the peer asked for a
// refresh. It does not block.
func (p *Publisher) Dump() {
	select {
	case p.dumpReq <- struct{}{}:
	default:
	}
}

// AskRefresh makes the publisher ask the peer for its full state (a
// refresh body), as it does at start when [peer.accept] refresh is set:
// the peer is back after a silence, and what it asserted was cleared. It
// does not block.
func (p *Publisher) AskRefresh() {
	select {
	case p.askReq <- struct{}{}:
	default:
	}
}

// Abandon makes Run, once its ctx is done, return without removing the
// publication (no Expires: 0): for an exit on error, not on a signal.
func (p *Publisher) Abandon() { p.abandoned.Store(true) }

// Sent is the number of PUBLISH requests handed to the Sender so far.
func (p *Publisher) Sent() int64 { return p.sent.Load() }

func (p *Publisher) wants(origin EntityID, k Key) bool {
	return origin == p.eid && k.Kind == p.kind && p.filter.Match(k.Name)
}

// Run publishes until ctx is done, then removes the publication
// (Expires: 0), as 'core stop gracefully' does.
func (p *Publisher) Run(ctx context.Context) error {
	w := p.local.Watch(p.wants)
	defer w.Close()
	p.queueAll()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var retryAt time.Time
	blockedLogged := false
	for {
		for _, e := range w.Changes() {
			p.queue(e)
		}
		select {
		case <-p.dumpReq:
			// The peer asked: it is up, whatever the backoff thought.
			p.queueAll()
			retryAt = time.Time{}
		default:
		}
		select {
		case <-p.askReq:
			// The peer is back: ask now, whatever the backoff thought.
			p.askRefresh = true
			retryAt = time.Time{}
		default:
		}

		now := time.Now()
		wait := time.Duration(-1)
		switch {
		case p.opts.Blocked():
			if !blockedLogged {
				p.opts.Logger.Error("not publishing: the peer uses this node's Entity ID")
				blockedLogged = true
			}
			wait = p.opts.MaxBackoff
		case now.Before(retryAt):
			wait = retryAt.Sub(now)
		case p.askRefresh || len(p.order) > 0 || (p.etag != "" && !now.Before(p.refreshAt)):
			blockedLogged = false
			if !p.step(ctx) {
				if ctx.Err() != nil {
					return p.unpublish()
				}
				retryAt = time.Now().Add(p.backoff())
			} else {
				retryAt = time.Time{}
			}
			continue
		case p.etag != "":
			wait = p.refreshAt.Sub(now)
		}

		// Go 1.23 timers: after Stop or Reset no stale tick is delivered.
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return p.unpublish()
		case <-w.C():
		case <-p.dumpReq:
			p.queueAll()
			retryAt = time.Time{}
		case <-p.askReq:
			p.askRefresh = true
			retryAt = time.Time{}
		case <-timer.C:
		}
	}
}

// queue records e as the value to send for its key, replacing an older
// queued one.
func (p *Publisher) queue(e Entry) {
	k := e.State.Key
	if old, ok := p.pending[k]; ok {
		if e.Version >= old.Version {
			p.pending[k] = e
		}
		return
	}
	p.pending[k] = e
	p.order = append(p.order, k)
}

// queueAll queues every current state that passes the filter.
func (p *Publisher) queueAll() {
	for _, e := range p.local.Entries(p.eid) {
		if p.wants(e.Origin, e.State.Key) {
			p.queue(e)
		}
	}
}

// step sends one PUBLISH: the refresh request, the oldest queued key, or a
// refresh of the publication. It reports success.
func (p *Publisher) step(ctx context.Context) bool {
	req := PublishRequest{Event: p.event, IfMatch: p.etag, Expires: p.expiration}
	var sentKey Key
	var sentVersion uint64
	switch {
	case p.askRefresh:
		req.Body, _ = EncodeMessage(Message{Type: MessageRefresh, EID: p.eid})
	case len(p.order) > 0:
		sentKey = p.order[0]
		e := p.pending[sentKey]
		sentVersion = e.Version
		body, err := EncodeMessage(p.message(e))
		if err != nil {
			// Unencodable (too long for MaxBodySize): it can never go out.
			p.opts.Logger.Error("state not publishable", "key", sentKey.String(), "err", err)
			p.done(sentKey, sentVersion)
			return true
		}
		req.Body = body
	}

	// A PUBLISH cut off by shutdown may still reach the peer and change
	// the entity tag the removal must name: let it finish, briefly.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, cancel) })
	p.sent.Add(1)
	res, err := p.send.Publish(cctx, req)
	stop()
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.fail(0, "no answer: "+err.Error())
		}
		return false
	}
	if ctx.Err() != nil && res.Status >= 200 && res.Status < 300 {
		p.etag = res.ETag // for the removal that follows
		return false
	}
	switch {
	case res.Status >= 200 && res.Status < 300:
		if p.failures > 0 || p.etag == "" {
			p.opts.Logger.Info("publication up", "etag", res.ETag)
		}
		p.failures, p.lastStatus = 0, res.Status
		p.etag = res.ETag
		granted := res.Expires
		if granted <= 0 {
			granted = p.expiration
		}
		p.refreshAt = time.Now().Add(refreshDelay(granted))
		switch {
		case req.Body == nil:
		case p.askRefresh:
			p.askRefresh = false
		default:
			p.done(sentKey, sentVersion)
		}
		return true
	case res.Status == 412:
		// The peer does not know our publication (it restarted, or let
		// it lapse) and, if it is a companion, dropped what it carried:
		// start anew with everything.
		p.opts.Logger.Info("publication unknown to the peer (412): sending the full state anew")
		p.etag = ""
		p.queueAll()
		if req.IfMatch == "" {
			p.fail(res.Status, res.Reason)
			return false
		}
		return true
	case res.Status == 423 && res.MinExpires > p.expiration:
		p.opts.Logger.Info("peer wants a longer expiration (423)", "min_expires", res.MinExpires)
		p.expiration = res.MinExpires
		return true
	default:
		p.fail(res.Status, res.Reason)
		return false
	}
}

// done drops k from the queue if version is still its newest value.
func (p *Publisher) done(k Key, version uint64) {
	if e, ok := p.pending[k]; !ok || e.Version != version {
		return
	}
	delete(p.pending, k)
	for i, q := range p.order {
		if q == k {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
}

// message is the body for e: a removed key is sent as UNKNOWN (a device
// Asterisk no longer lists) or 0/0 (a mailbox).
func (p *Publisher) message(e Entry) Message {
	s := e.State
	if e.Removed {
		if s.Key.Kind == KindDevice {
			s = Device(s.Key.Name, Unknown, s.Cachable)
		} else {
			s.Old, s.New = 0, 0
		}
	}
	typ := MessageDeviceState
	if s.Key.Kind == KindMailbox {
		typ = MessageMailboxState
	}
	return Message{Type: typ, EID: p.eid, State: s}
}

func (p *Publisher) fail(status int, why string) {
	p.failures++
	if status != p.lastStatus || p.failures == 1 {
		p.opts.Logger.Warn("PUBLISH failed; retrying", "status", status, "reason", why, "queued", len(p.order))
	}
	p.lastStatus = status
}

// backoff doubles from MinBackoff up to MaxBackoff with the failures in a
// row; refused credentials or a missing resource wait the longest, as
// they need someone to fix a configuration.
func (p *Publisher) backoff() time.Duration {
	switch p.lastStatus {
	case 401, 403, 404, 407, 489:
		return p.opts.MaxBackoff
	}
	return backoffDelay(p.opts.MinBackoff, p.opts.MaxBackoff, p.failures)
}

// refreshDelay is when to refresh a publication granted for the given
// seconds: a tenth early, at least 5 s, at most half, so that a receiver
// that expires it at the exact second never sees it lapse.
func refreshDelay(granted int) time.Duration {
	g := time.Duration(granted) * time.Second
	margin := max(g/10, 5*time.Second)
	return g - min(margin, g/2)
}

// shutdownGrace bounds how long shutdown waits for a PUBLISH in flight,
// and then for the removal.
const shutdownGrace = 3 * time.Second

// unpublish removes the publication, bounded so that shutdown never hangs.
func (p *Publisher) unpublish() error {
	if p.etag == "" {
		return nil
	}
	if p.abandoned.Load() {
		p.opts.Logger.Info("leaving the publication to expire")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	p.sent.Add(1)
	res, err := p.send.Publish(ctx, PublishRequest{Event: p.event, IfMatch: p.etag, Expires: 0})
	if err != nil {
		p.opts.Logger.Warn("removing the publication failed; the peer will expire it", "err", err)
		return nil
	}
	if res.Status >= 200 && res.Status < 300 {
		p.opts.Logger.Info("publication removed")
	} else {
		p.opts.Logger.Warn("the peer refused the removal; it will expire the publication", "status", res.Status)
	}
	p.etag = ""
	return nil
}
