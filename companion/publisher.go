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
//   - The full state is queued again every resend_interval, so a peer that
//     lost it without telling (a stock Asterisk restarted without asking
//     for a refresh) has it back within that interval, not at the next
//     refresh of the publication.
//   - Live changes go first: keys queued by a change are sent before keys
//     queued by a full send (start, dump, 412, resend), so a resend of N
//     keys never delays a change by N round trips.
//
// A full send is paced by the one PUBLISH in flight: N keys cost N round
// trips one after the other, never a burst, and a key changed meanwhile
// goes out once, with its newest value, ahead of the rest.
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
	pending    map[Key]*queued // the newest value to send, per key
	live       keyQueue        // keys queued by live changes: sent first
	bulk       keyQueue        // keys queued by a full send
	resend     time.Duration   // 0: no periodic full send
	resendAt   time.Time
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
	// FIFO turns the publisher into the native module's model, for the
	// bench's baseline only: every change is queued and sent in order,
	// nothing is coalesced, live changes wait behind a full send.
	FIFO bool
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
		pending:    make(map[Key]*queued),
		resend:     peer.Publish.Resend(),
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
			p.queue(e, true)
		}
		if p.resend > 0 && !time.Now().Before(p.resendAt) {
			p.opts.Logger.Debug("sending the full state again (resend_interval)", "keys", p.local.Len(p.eid))
			p.queueAll()
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
		case p.askRefresh || len(p.pending) > 0 || (p.etag != "" && !now.Before(p.refreshAt)):
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
		if p.resend > 0 {
			if d := max(p.resendAt.Sub(now), 0); wait < 0 || d < wait {
				wait = d
			}
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

// queued is the value to send for one key, and whether a live change
// queued it (then it goes before the keys of a full send).
type queued struct {
	e    Entry
	live bool
}

// queue records e as the value to send for its key, replacing an older
// queued one. live is true for a change, false for a full send; a key
// queued by both is live.
func (p *Publisher) queue(e Entry, live bool) {
	k := e.State.Key
	if q, ok := p.pending[k]; ok {
		if e.Version >= q.e.Version {
			q.e = e
		}
		if live && !q.live {
			q.live = true
			p.live.push(k)
		}
		return
	}
	p.pending[k] = &queued{e: e, live: live}
	if live {
		p.live.push(k)
	} else {
		p.bulk.push(k)
	}
}

// queueAll queues every current state that passes the filter, behind
// live changes, and restarts the resend interval.
func (p *Publisher) queueAll() {
	for _, e := range p.local.Entries(p.eid) {
		if p.wants(e.Origin, e.State.Key) {
			p.queue(e, false)
		}
	}
	if p.resend > 0 {
		p.resendAt = time.Now().Add(p.resend)
	}
}

// next returns the key to send next: the oldest live one, else the oldest
// of the full send. Slots of keys sent since, or moved to the live queue,
// are skipped.
func (p *Publisher) next() (Key, bool) {
	for _, c := range [...]struct {
		q    *keyQueue
		live bool
	}{{&p.live, true}, {&p.bulk, false}} {
		for {
			k, ok := c.q.front()
			if !ok {
				break
			}
			if q, pending := p.pending[k]; pending && q.live == c.live {
				return k, true
			}
			c.q.pop()
		}
	}
	return Key{}, false
}

// keyQueue is a FIFO of keys, popped from the front in O(1) amortised.
type keyQueue struct {
	keys []Key
	head int
}

func (q *keyQueue) push(k Key) { q.keys = append(q.keys, k) }

func (q *keyQueue) front() (Key, bool) {
	if q.head == len(q.keys) {
		return Key{}, false
	}
	return q.keys[q.head], true
}

func (q *keyQueue) pop() {
	q.keys[q.head] = Key{}
	q.head++
	switch {
	case q.head == len(q.keys):
		q.keys, q.head = q.keys[:0], 0
	case q.head > 1024 && q.head > len(q.keys)/2:
		n := copy(q.keys, q.keys[q.head:])
		clear(q.keys[n:])
		q.keys, q.head = q.keys[:n], 0
	}
}

// step sends one PUBLISH: the refresh request, the oldest queued key, or a
// refresh of the publication. It reports success.
func (p *Publisher) step(ctx context.Context) bool {
	req := PublishRequest{Event: p.event, IfMatch: p.etag, Expires: p.expiration}
	var sentKey Key
	var sentVersion uint64
	haveKey := false
	if !p.askRefresh {
		sentKey, haveKey = p.next()
	}
	switch {
	case p.askRefresh:
		req.Body, _ = EncodeMessage(Message{Type: MessageRefresh, EID: p.eid})
	case haveKey:
		e := p.pending[sentKey].e
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
	q, ok := p.pending[k]
	if !ok || q.e.Version != version {
		return
	}
	delete(p.pending, k)
	for _, kq := range []*keyQueue{&p.live, &p.bulk} {
		if f, ok := kq.front(); ok && f == k {
			kq.pop()
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
		p.opts.Logger.Warn("PUBLISH failed; retrying", "status", status, "reason", why, "queued", len(p.pending))
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
