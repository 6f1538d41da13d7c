package companion

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Publisher carries this node's states of one event to one peer, like the
// outbound-publish object of res_pjsip_outbound_publish, but without its
// losses:
//
//   - States are coalesced per key: while a PUBLISH is in flight, a newer
//     value of a key replaces the queued one, so a burst of N changes of
//     one device costs two round trips, not N.
//   - Delivery is retried with backoff (timeouts, 5xx, refused
//     credentials) until it succeeds or a newer value supersedes it: the
//     newest value of every key always arrives once the peer answers.
//   - A publication is refreshed well before it expires, and a 412 (the
//     peer lost it: restart, expiry) starts a new one carrying the full
//     state, never a body-less PUBLISH.
//   - The full state is queued again every resend_interval, so a peer that
//     lost it without telling (a stock Asterisk restarted without asking
//     for a refresh) has it back within that interval, not at the next
//     refresh of the publication.
//   - Live changes go first: keys queued by a change are sent before keys
//     queued by a full send (start, dump, 412, resend), so a resend of N
//     keys never delays a change by N round trips.
//   - Publications are pipelined: max_in_flight publications ("shards")
//     run side by side, each with its own Sender (Call-ID, CSeq), entity
//     tag, refresh, backoff and 412 recovery, one PUBLISH in flight each.
//     A key always goes through the same shard (a hash of its kind and
//     name), so each key's values and each entity tag's modifications
//     stay in order (RFC 3903), while a burst over D distinct keys costs
//     about D / max_in_flight round trips instead of D.
//
// Run's own goroutine is the dispatcher: it takes the local table's
// changes and full sends and routes each key to its shard, as each shard
// does too before it picks its next key; each shard runs a loop of its
// own. What a shard holds waiting is bounded by the keys of the local
// table: one value per key.
//
// Only entries whose origin is this node's EID are sent: no relaying, so
// a mesh stays free of loops.
type Publisher struct {
	peer   *PeerConfig
	event  Event
	kind   Kind
	eid    EntityID
	local  *Table
	opts   PublisherOptions
	resend time.Duration // 0: no periodic full send
	filter atomic.Pointer[Filter]
	shards []*shard
	all    uint64 // the bits of every shard

	wake          chan struct{} // the dispatcher has work: see the flags below
	dumpAsked     atomic.Bool
	refilterAsked atomic.Bool
	requeue       atomic.Uint64 // shards (bit i) whose publication was lost (412)
	sent          atomic.Int64
	// abandoned makes Run end without removing the publications: the
	// process is failing, and its peers should keep our states until the
	// publications expire or we come back.
	abandoned atomic.Bool
	counters  publisherCounters

	// Routing: by the dispatcher, and by each shard before it picks its
	// next key, so that a shard never sends what a change already
	// superseded, nor a full send's key ahead of a change already made.
	mu       sync.Mutex
	watcher  *Watcher     // nil outside Run
	known    map[Key]bool // keys routed to a shard and not withdrawn: their cachable flag
	resendAt time.Time
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
// newSender is called once per publication (peer.Publish.InFlight() times,
// once with opts.FIFO): each publication needs a Sender of its own.
func NewPublisher(peer *PeerConfig, ev Event, eid EntityID, local *Table, newSender func() Sender, opts PublisherOptions) *Publisher {
	p := &Publisher{
		peer:   peer,
		event:  ev,
		kind:   eventKind(ev),
		eid:    eid,
		local:  local,
		opts:   opts.withDefaults(),
		resend: peer.Publish.Resend(),
		wake:   make(chan struct{}, 1),
		known:  make(map[Key]bool),
	}
	f := peer.Publish.DeviceStateFilter
	if ev == EventMWI {
		f = peer.Publish.MailboxStateFilter
	}
	p.filter.Store(&f)
	p.opts.Logger = p.opts.Logger.With("peer", peer.Name, "event", string(ev))
	p.counters.answers = make(map[int]uint64)

	width := min(max(peer.Publish.InFlight(), 1), MaxMaxInFlight)
	if p.opts.FIFO {
		width = 1
	}
	expiration := int(peer.Publish.Expiration / time.Second)
	if expiration <= 0 {
		expiration = int(DefaultPublishExpiration / time.Second)
	}
	p.shards = make([]*shard, width)
	for i := range p.shards {
		s := &shard{p: p, index: i, send: newSender(), wake: make(chan struct{}, 1), expiration: expiration}
		if p.opts.FIFO {
			s.q = &fifoQueue{}
		} else {
			s.q = newCoalescingQueue(p.lookup)
		}
		p.shards[i] = s
		p.all |= 1 << i
	}
	// The refresh request goes through the first publication only: one
	// is enough for the peer to send everything.
	p.shards[0].askRefresh = peer.Accept != nil && peer.Accept.Refresh
	return p
}

// Width is the number of publications (shards) the publisher keeps.
func (p *Publisher) Width() int { return len(p.shards) }

// Dump queues every current state for sending: the peer asked for a
// refresh. It does not block.
func (p *Publisher) Dump() {
	p.dumpAsked.Store(true)
	p.signal()
}

// AskRefresh makes the publisher ask the peer for its full state (a
// refresh body), as it does at start when [peer.accept] refresh is set:
// the peer is back after a silence, and what it asserted was cleared. It
// does not block.
func (p *Publisher) AskRefresh() { p.shards[0].askForRefresh() }

// SetFilter replaces the outbound filter of the publisher's event (a
// configuration reload); safe from any goroutine. Keys the new filter
// refuses are sent once more, cleared (a device as UNKNOWN, a mailbox as
// 0/0: how a stock Asterisk withdraws a state), then no longer; keys it
// newly lets through are queued as a full send; the others are not sent
// again.
func (p *Publisher) SetFilter(f Filter) {
	p.filter.Store(&f)
	p.refilterAsked.Store(true)
	p.signal()
}

func (p *Publisher) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Abandon makes Run, once its ctx is done, return without removing the
// publications (no Expires: 0): for an exit on error, not on a signal.
func (p *Publisher) Abandon() { p.abandoned.Store(true) }

// Sent is the number of PUBLISH requests handed to the Senders so far.
func (p *Publisher) Sent() int64 { return p.sent.Load() }

func (p *Publisher) wants(origin EntityID, k Key) bool {
	return origin == p.eid && k.Kind == p.kind && p.filter.Load().Match(k.Name)
}

// shardOf is the shard that carries k: always the same one, so that the
// values of a key go out in order through one publication.
func (p *Publisher) shardOf(k Key) int { return shardOf(k, len(p.shards)) }

// shardOf hashes k's kind and name (FNV-1a) onto [0, width).
func shardOf(k Key, width int) int {
	if width <= 1 {
		return 0
	}
	const offset, prime = 2166136261, 16777619
	h := uint32(offset)
	h = (h ^ uint32(k.Kind)) * prime
	for i := 0; i < len(k.Name); i++ {
		h = (h ^ uint32(k.Name[i])) * prime
	}
	return int(h % uint32(width))
}

// Run publishes until ctx is done, then removes the publications
// (Expires: 0), all at once, as 'core stop gracefully' does.
func (p *Publisher) Run(ctx context.Context) error {
	w := p.local.Watch(p.wants)
	if p.opts.FIFO {
		// Every change goes out, none merged, as the native module does.
		w = p.local.WatchEvery(p.wants)
	}
	defer w.Close()
	p.mu.Lock()
	p.watcher = w
	p.queueAll(p.all, false)
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.watcher = nil
		p.mu.Unlock()
	}()
	outcomes := make([]removal, len(p.shards))
	var wg sync.WaitGroup
	for i, s := range p.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = s.run(ctx)
		}()
	}
	defer func() {
		wg.Wait()
		p.logRemovals(outcomes)
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		resendAt := p.sync()
		// Go 1.23 timers: after Stop or Reset no stale tick is delivered.
		if p.resend > 0 {
			timer.Reset(max(time.Until(resendAt), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.C():
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// sync routes what is pending: the changes, a new filter, the full sends
// asked for (dump, 412, resend_interval). It returns when the next resend
// is due.
func (p *Publisher) sync() (resendAt time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.watcher == nil {
		return p.resendAt
	}
	p.route(p.watcher.Changes())
	// After the changes made under the old filter are routed, so that
	// none is left to reach the peer once the cleared value went out.
	if p.refilterAsked.Swap(false) {
		p.refilter()
	}
	mask := p.requeue.Swap(0)
	kick := p.dumpAsked.Swap(false)
	if kick {
		mask = p.all
	}
	if p.resend > 0 && !time.Now().Before(p.resendAt) {
		p.opts.Logger.Debug("sending the full state again (resend_interval)", "keys", len(p.known))
		mask = p.all
	}
	if mask != 0 {
		p.queueAll(mask, kick)
	}
	return p.resendAt
}

// route hands each change to its shard: as a live change, unless a
// snapshot made it (Bulk), which is a full send in all but name: a
// startup snapshot of 100,000 keys must not hold back a change made
// while it goes out.
func (p *Publisher) route(changes []Entry) {
	var touched uint64
	for _, e := range changes {
		i := p.shardOf(e.State.Key)
		if e.Removed {
			p.forget(e.State.Key, i)
		} else {
			p.remember(e, i)
		}
		p.shards[i].push(e, !e.Bulk, false)
		touched |= 1 << i
	}
	p.wakeShards(touched)
}

// queueAll queues every current state that passes the filter and belongs
// to a shard of mask, behind live changes. kick makes those shards try
// at once, whatever their backoff: the peer asked, so it is up. A full
// send of every shard restarts the resend interval.
func (p *Publisher) queueAll(mask uint64, kick bool) {
	for _, e := range p.local.Entries(p.eid) {
		if !p.wants(e.Origin, e.State.Key) {
			continue
		}
		i := p.shardOf(e.State.Key)
		if mask&(1<<i) == 0 {
			continue
		}
		p.remember(e, i)
		p.shards[i].push(e, false, false)
	}
	if kick {
		for i, s := range p.shards {
			if mask&(1<<i) != 0 {
				s.kick()
			}
		}
	}
	p.wakeShards(mask)
	if mask == p.all && p.resend > 0 {
		p.resendAt = time.Now().Add(p.resend)
	}
}

// refilter applies a new filter: known keys it refuses are queued once
// as cleared and forgotten, keys it newly lets through are queued as a
// full send.
func (p *Publisher) refilter() {
	var touched uint64
	for k, cachable := range p.known {
		if p.wants(p.eid, k) {
			continue
		}
		e := Entry{Origin: p.eid, State: State{Key: k, Cachable: cachable}, Removed: true}
		if cur, ok := p.local.Get(p.eid, k); ok {
			e.State, e.Version = cur.State, cur.Version
		}
		i := p.shardOf(k)
		p.forget(k, i)
		// Forced: it replaces whatever value of the key is still queued.
		p.shards[i].push(e, true, true)
		touched |= 1 << i
	}
	for _, e := range p.local.Entries(p.eid) {
		k := e.State.Key
		if _, ok := p.known[k]; ok || !p.wants(e.Origin, k) {
			continue
		}
		i := p.shardOf(k)
		p.remember(e, i)
		p.shards[i].push(e, false, false)
		touched |= 1 << i
	}
	p.opts.Logger.Info("outbound filter changed", "filter", p.filter.Load().String(), "keys", len(p.known))
	p.wakeShards(touched)
}

func (p *Publisher) remember(e Entry, i int) {
	k := e.State.Key
	if _, ok := p.known[k]; !ok {
		p.shards[i].keys.Add(1)
	}
	p.known[k] = e.State.Cachable
}

func (p *Publisher) forget(k Key, i int) {
	if _, ok := p.known[k]; ok {
		delete(p.known, k)
		p.shards[i].keys.Add(-1)
	}
}

func (p *Publisher) wakeShards(mask uint64) {
	for i, s := range p.shards {
		if mask&(1<<i) != 0 {
			s.signal()
		}
	}
}

// enqueue routes e to its shard as Run does a change; for benchmarks.
func (p *Publisher) enqueue(e Entry, live bool) {
	s := p.shards[p.shardOf(e.State.Key)]
	s.push(e, live, false)
	s.signal()
}

// lookup is this node's current value of k in the local table.
func (p *Publisher) lookup(k Key) (Entry, bool) { return p.local.Get(p.eid, k) }

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

// removal is what became of one publication at shutdown.
type removal uint8

const (
	removalNone    removal = iota // it had none
	removalDone                   // the peer removed it
	removalLeft                   // abandoned: left to expire
	removalFailed                 // no answer
	removalRefused                // a final answer that is not 2xx
)

// logRemovals writes one line per outcome for all publications, not one
// per publication.
func (p *Publisher) logRemovals(outcomes []removal) {
	n := map[removal]int{}
	for _, o := range outcomes {
		n[o]++
	}
	if n[removalDone] > 0 {
		p.opts.Logger.Info("publication removed", "publications", n[removalDone])
	}
	if n[removalLeft] > 0 {
		p.opts.Logger.Info("leaving the publication to expire", "publications", n[removalLeft])
	}
	if n[removalFailed] > 0 {
		p.opts.Logger.Warn("removing the publication failed; the peer will expire it", "publications", n[removalFailed])
	}
	if n[removalRefused] > 0 {
		p.opts.Logger.Warn("the peer refused the removal; it will expire the publication", "publications", n[removalRefused])
	}
}
