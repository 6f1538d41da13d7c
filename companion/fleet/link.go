package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astcompanion/sidecar/companion"
)

// Options configure a Link.
type Options struct {
	Config *companion.FleetConfig
	Self   companion.EntityID // this node's EID: the only origin it writes
	// Local holds this node's states (origin Self); Remote receives the
	// present members' states, each under its EID.
	Local, Remote *companion.Table
	Logger        *slog.Logger
	// MaxInFlight bounds the writes to the bucket in flight; default 32.
	MaxInFlight int
	// MaxRemoteKeys bounds the states held from the fleet; default
	// DefaultMaxRemoteKeys.
	MaxRemoteKeys int
	// Timeout bounds one request to NATS; default 5 s.
	Timeout time.Duration
}

// Link keeps this node's states in the fleet's bucket and the other
// members' states in the remote table.
type Link struct {
	opts      Options
	cfg       *companion.FleetConfig
	log       *slog.Logger
	view      *view
	writer    *writer
	resync    chan struct{} // reconnected: the server may have lost state
	up        chan struct{} // the first connection, made late, is up
	abandoned atomic.Bool

	connected atomic.Bool
	written   atomic.Uint64
	failed    atomic.Uint64
	purged    atomic.Uint64
	mu        sync.Mutex
	members   []companion.EntityID
	held      int
	lastErr   string
	syncedAt  time.Time
}

// New returns a Link; Run runs it.
func New(o Options) *Link {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Link{
		opts:   o,
		cfg:    o.Config,
		log:    o.Logger,
		view:   newView(o.Self, o.Config.Accept, o.Remote, o.MaxRemoteKeys, o.Config.PresenceTTL),
		writer: newWriter(),
		resync: make(chan struct{}, 1),
		up:     make(chan struct{}, 1),
	}
}

// Abandon makes Run end without removing our presence and keys: the
// process is failing, and the others clear us when the presence expires.
func (l *Link) Abandon() { l.abandoned.Store(true) }

// markerTTL is how long the delete markers of expired and purged keys stay
// in the bucket: long enough for every watcher to see them.
func (l *Link) markerTTL() time.Duration { return max(4*l.cfg.PresenceTTL, time.Minute) }

// Run connects and keeps the link until ctx is done; then, unless
// abandoned, it removes our presence and keys so that the others clear
// our states at once. It returns an error only for a configuration that
// cannot work (unreadable seed file).
func (l *Link) Run(ctx context.Context) error {
	nc, err := l.connect()
	if err != nil {
		l.setErr(err)
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		l.setErr(err)
		return err
	}
	local := l.opts.Local.Watch(func(o companion.EntityID, _ companion.Key) bool { return o == l.opts.Self })
	defer local.Close()

	var kv jetstream.KeyValue
	failures := 0
	for ctx.Err() == nil {
		var err error
		kv, err = l.session(ctx, js, local)
		if ctx.Err() != nil {
			break
		}
		l.connected.Store(false)
		failures++
		l.setErr(err)
		switch {
		case errors.Is(err, errResync):
			failures = 0 // the reconnect handler logged it
		case failures == 1 || failures%30 == 0:
			l.log.Warn("fleet link down; SIP peers carry on, retrying", "err", err, "attempts", failures)
		}
		select {
		case <-ctx.Done():
		case <-l.resync:
		case <-l.up:
		case <-time.After(min(time.Duration(failures)*500*time.Millisecond+10*time.Millisecond, 5*time.Second)):
		}
	}
	l.connected.Store(false)
	if kv != nil && !l.abandoned.Load() {
		l.leave(kv)
	}
	return nil
}

var errResync = errors.New("reconnected to NATS: resyncing")

// session binds the bucket, loads it, brings our keys in line, announces
// our presence and then follows both sides until ctx ends or the
// connection is re-established (which calls for a resync: the server may
// have lost what it held).
func (l *Link) session(ctx context.Context, js jetstream.JetStream, local *companion.Watcher) (jetstream.KeyValue, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A reconnect before this point is covered by this very load.
	select {
	case <-l.resync:
	default:
	}
	kv, err := l.bucket(sctx, js)
	if err != nil {
		return nil, err
	}
	w, err := kv.WatchAll(sctx)
	if err != nil {
		return kv, fmt.Errorf("watch bucket %s: %w", l.cfg.Bucket, err)
	}
	defer func() {
		_ = w.Stop()
		// nats.go's watcher delivers under a lock and blocks while its
		// channel is full: drain it so that its goroutine can end.
		go func() {
			for range w.Updates() {
			}
		}()
	}()

	// Initial values: everything the bucket holds now, then a nil entry.
	l.view.startLoad()
	ours := make(map[companion.Key]string)
	loadTimer := time.NewTimer(l.opts.Timeout)
	defer loadTimer.Stop()
load:
	for {
		select {
		case <-sctx.Done():
			return kv, sctx.Err()
		case <-l.resync:
			return kv, errResync
		case <-loadTimer.C:
			// Reset on every entry below: this fires only when the stream
			// of initial values stalls.
			return kv, errors.New("loading the bucket stalled")
		case e, ok := <-w.Updates():
			if !ok {
				return kv, errors.New("bucket watch ended")
			}
			if e == nil {
				break load
			}
			loadTimer.Reset(l.opts.Timeout)
			l.take(e, ours)
		}
	}
	l.view.finishLoad()
	l.publishStats()

	// Our keys first, then our presence: when the others see us, our keys
	// are already current.
	// Changes from here on come through the watcher; the ones before are
	// covered by this full pass (values are read when written).
	local.Changes()
	var keys []companion.Key
	for _, e := range l.opts.Local.Entries(l.opts.Self) {
		keys = append(keys, e.State.Key)
	}
	l.writer.loaded(ours, keys)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range l.opts.MaxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.work(sctx, kv)
		}()
	}
	if err := l.waitWritten(sctx); err != nil {
		return kv, err
	}
	announced, err := l.announce(sctx, js)
	if err != nil {
		return kv, err
	}
	// echoed is the newest revision of our presence the watch showed;
	// previous the announcement before the last one, which it must have
	// shown by now.
	echoed, previous := uint64(0), uint64(0)
	if l.view.cleaner() {
		for origin, keys := range l.view.orphans(time.Now().Add(-2 * l.cfg.PresenceTTL)) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.purge(sctx, kv, origin, keys)
			}()
		}
	}
	l.connected.Store(true)
	l.setErr(nil)
	l.mu.Lock()
	l.syncedAt = time.Now()
	l.mu.Unlock()
	l.log.Info("fleet link in sync", "bucket", l.cfg.Bucket, "members", len(l.view.present), "our_keys", len(l.writer.keys()))

	// The presence is refreshed at a third of its TTL, and at least every
	// 2 s. Each refresh must come back through our watch within two
	// ticks (one tick could be a backlog of others' changes), or the watch
	// is stale (its consumer lived on a server that died: nats.go notices
	// only after missed heartbeats) and we resync.
	tick := time.NewTicker(min(l.cfg.PresenceTTL/3, 2*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-sctx.Done():
			return kv, nil
		case <-l.resync:
			return kv, errResync
		case <-tick.C:
			if echoed < previous {
				return kv, errors.New("the bucket watch stalled")
			}
			previous = announced
			for _, gone := range l.view.expireMissing(time.Now()) {
				l.log.Info("fleet member not back after a resync; its states are cleared", "eid", gone.String())
			}
			if announced, err = l.announce(sctx, js); err != nil {
				return kv, err
			}
		case <-local.C():
			for _, e := range local.Changes() {
				l.writer.mark(e.State.Key)
			}
		case e, ok := <-w.Updates():
			if !ok {
				return kv, errors.New("bucket watch ended")
			}
			if e == nil {
				continue
			}
			if gone, ok := l.take(e, nil); ok {
				l.log.Info("fleet member gone; its states are cleared", "eid", gone.String())
				if l.view.cleaner() {
					keys := l.view.keysOf(gone)
					wg.Add(1)
					go func() {
						defer wg.Done()
						l.purge(sctx, kv, gone, keys)
					}()
				}
			}
			if parsed, err := parseKey(e.Key()); err == nil && parsed.origin == l.opts.Self && parsed.presence {
				echoed = max(echoed, e.Revision())
				if e.Operation() != jetstream.KeyValuePut {
					// Our presence expired under us (a pause longer
					// than the TTL): say we are here again at once.
					if announced, err = l.announce(sctx, js); err != nil {
						return kv, err
					}
				}
			}
			l.publishStats()
		}
	}
}

// take feeds one bucket entry to the view, or, for our own keys, to ours
// (during the load) or the writer. It reports a member whose presence went.
func (l *Link) take(e jetstream.KeyValueEntry, ours map[companion.Key]string) (companion.EntityID, bool) {
	removed := e.Operation() != jetstream.KeyValuePut
	p, err := parseKey(e.Key())
	if err == nil && p.origin == l.opts.Self {
		if p.presence {
			return companion.EntityID{}, false
		}
		body := string(e.Value())
		if removed {
			body = ""
		}
		switch {
		case ours != nil && !removed:
			ours[p.key] = body
		case ours != nil:
			delete(ours, p.key)
		default:
			l.writer.seen(p.key, body)
		}
		return companion.EntityID{}, false
	}
	if removed {
		return l.view.remove(e.Key())
	}
	l.view.put(e.Key(), e.Value(), e.Revision(), e.Created())
	return companion.EntityID{}, false
}

// work writes queued keys until ctx is done.
func (l *Link) work(ctx context.Context, kv jetstream.KeyValue) {
	failures := 0
	for {
		k, ok := l.writer.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-l.writer.wake:
				continue
			}
		}
		err := l.write(ctx, kv, k)
		l.writer.done(k, err != nil)
		if err == nil {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		l.failed.Add(1)
		failures++
		if failures == 1 {
			l.log.Debug("fleet write failed; retrying", "key", k.String(), "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(failures)*200*time.Millisecond, 5*time.Second)):
		}
	}
}

// write brings one of our keys in line with the local table.
func (l *Link) write(ctx context.Context, kv jetstream.KeyValue, k companion.Key) error {
	body := ""
	if e, ok := l.opts.Local.Get(l.opts.Self, k); ok && l.cfg.Publish.Passes(k) {
		typ := companion.MessageDeviceState
		if k.Kind == companion.KindMailbox {
			typ = companion.MessageMailboxState
		}
		b, err := companion.EncodeMessage(companion.Message{Type: typ, EID: l.opts.Self, State: e.State})
		if err != nil {
			return nil // cannot be written at all; the codec says why to whoever logs it
		}
		body = string(b)
	}
	if !l.writer.claim(k, body) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	var err error
	if body == "" {
		err = kv.Purge(ctx, stateKey(l.opts.Self, k), jetstream.PurgeTTL(l.markerTTL()))
	} else {
		_, err = kv.Put(ctx, stateKey(l.opts.Self, k), []byte(body))
	}
	if err != nil {
		l.writer.forget(k) // unknown: written again when retried
		return err
	}
	l.written.Add(1)
	return nil
}

// waitWritten waits until the writer has nothing left: the initial sync.
func (l *Link) waitWritten(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for l.writer.pending() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.resync:
			return errResync
		case <-t.C:
		}
	}
	return nil
}

// announce writes our presence with its TTL. kv.Put cannot set a TTL, so
// this publishes to the key's subject with a Nats-TTL header.
func (l *Link) announce(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	ack, err := js.Publish(ctx, "$KV."+l.cfg.Bucket+"."+presenceKey(l.opts.Self), encodePresence(l.opts.Self), jetstream.WithMsgTTL(l.cfg.PresenceTTL))
	if err != nil {
		return 0, fmt.Errorf("writing our presence: %w", err)
	}
	return ack.Sequence, nil
}

// purge removes a departed member's keys, each only if it still holds the
// revision seen: a member that came back meanwhile keeps what it wrote.
// With per-node NATS permissions the server refuses this; the keys then
// stay, ignored by everyone (no presence), until their node is back and
// brings them in line itself.
func (l *Link) purge(ctx context.Context, kv jetstream.KeyValue, origin companion.EntityID, keys map[companion.Key]uint64) {
	for k, rev := range keys {
		if ctx.Err() != nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
		err := kv.Purge(pctx, stateKey(origin, k), jetstream.LastRevision(rev), jetstream.PurgeTTL(l.markerTTL()))
		cancel()
		if err != nil {
			if ctx.Err() == nil && !isRevisionMismatch(err) {
				l.log.Info("not purging a departed member's keys (not permitted?); they are ignored while it is away", "eid", origin.String(), "err", err)
				return
			}
			continue
		}
		l.purged.Add(1)
	}
}

func isRevisionMismatch(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || (errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant))
}

// leave removes our presence, so that the others clear us at once, then
// our keys.
func (l *Link) leave(kv jetstream.KeyValue) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*l.opts.Timeout)
	defer cancel()
	if err := kv.Purge(ctx, presenceKey(l.opts.Self), jetstream.PurgeTTL(l.markerTTL())); err != nil {
		l.log.Warn("could not remove our fleet presence; the others clear us when it expires", "ttl", l.cfg.PresenceTTL.String(), "err", err)
		return
	}
	keys := l.writer.keys()
	sem := make(chan struct{}, l.opts.MaxInFlight)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_ = kv.Purge(ctx, stateKey(l.opts.Self, k), jetstream.PurgeTTL(l.markerTTL()))
		}()
	}
	wg.Wait()
	l.log.Info("left the fleet", "keys_removed", len(keys))
}

func (l *Link) setErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.lastErr = ""
	} else {
		l.lastErr = err.Error()
	}
}

func (l *Link) publishStats() {
	members := l.view.members()
	l.mu.Lock()
	l.members = members
	l.held = l.view.total
	l.mu.Unlock()
}

// connect dials the cluster. The first connection is retried in the
// background, like every later one: a NATS outage at start must not stop
// the companion, whose SIP peers carry on.
func (l *Link) connect() (*nats.Conn, error) {
	o, err := natsOptions(l.cfg, l.opts.Self, l.opts.Timeout)
	if err != nil {
		return nil, err
	}
	signal := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	o = append(o,
		nats.ConnectHandler(func(*nats.Conn) { signal(l.up) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.log.Info("reconnected to NATS; resyncing", "server", nc.ConnectedUrlRedacted())
			signal(l.resync)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil || nc.IsClosed() {
				// Our own Close at stop: expected, nothing to reconnect.
				l.log.Debug("NATS connection closed")
				return
			}
			l.log.Warn("disconnected from NATS; reconnecting", "err", err)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			l.log.Warn("NATS reports an error", "err", err)
		}),
	)
	return nats.Connect(joinURLs(l.cfg.NATSURLs), o...)
}

// bucket binds the bucket, creating it when missing.
func (l *Link) bucket(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opts.Timeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, l.cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:         l.cfg.Bucket,
			Description:    "asterisk companion fleet state",
			History:        1,
			Replicas:       l.cfg.Replicas,
			Storage:        jetstream.FileStorage,
			LimitMarkerTTL: l.markerTTL(),
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, l.cfg.Bucket) // another member was quicker
		}
		if err == nil {
			l.log.Info("created the fleet bucket", "bucket", l.cfg.Bucket, "replicas", l.cfg.Replicas)
		}
	}
	if err != nil {
		return nil, explain(l.cfg.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, explain(l.cfg.Bucket, err)
	}
	if st.LimitMarkerTTL() <= 0 {
		return nil, fmt.Errorf("bucket %s exists without per-key TTLs (LimitMarkerTTL): fleet presence needs them; delete the bucket (nats kv del %s) and let the companion create it", l.cfg.Bucket, l.cfg.Bucket)
	}
	return kv, nil
}

// explain turns the errors a misfit server gives into what to do about it.
func explain(bucket string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("no JetStream answers on this NATS server: enable it (nats-server -js, or a jetstream {} block), or wait for the cluster to elect its meta leader: %w", err)
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return fmt.Errorf("the NATS server has no JetStream for this account: enable it (nats-server -js, or a jetstream {} block and the account's jetstream limits): %w", err)
	case errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported):
		return fmt.Errorf("the NATS server is too old for fleet mode: per-key TTLs need nats-server 2.11 or later: %w", err)
	}
	return fmt.Errorf("bucket %s: %w", bucket, err)
}

// Stats is the state of the link, for /status and /metrics.
type Stats struct {
	Connected  bool
	Members    []companion.EntityID // present members other than us
	HeldStates int                  // valid states held from the fleet
	OurKeys    int
	Pending    int    // our keys waiting to be written
	Written    uint64 // writes and removals of our keys
	Failed     uint64 // writes that failed and were retried
	Purged     uint64 // departed members' keys removed by us
	Ignored    map[string]uint64
	LastError  string
	SyncedAt   time.Time
}

// Stats returns the link's current figures.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	s := Stats{Members: l.members, HeldStates: l.held, LastError: l.lastErr, SyncedAt: l.syncedAt}
	l.mu.Unlock()
	s.Connected = l.connected.Load()
	s.OurKeys = len(l.writer.keys())
	s.Pending = l.writer.pending()
	s.Written, s.Failed, s.Purged = l.written.Load(), l.failed.Load(), l.purged.Load()
	s.Ignored = l.view.Ignored()
	return s
}
