package companion

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Liveness notices peers that stopped without removing their
// publications (a crash, 'core stop now', a cut link), as Asterisk's
// qualify does: every qualify_frequency it sends each qualified peer an
// OPTIONS through its Prober. Any final answer, whatever the status, shows
// the peer alive; so does any PUBLISH from it that passes its checks
// (Seen). After qualify_attempts probes in a row got no answer and nothing
// else came from the peer meanwhile, the peer is down: the Receiver drops
// all its publications as if they had expired (states cleared, Entity IDs
// released), once, logged and counted. When it answers or publishes again
// it is up again, and onUp asks it for its state.
//
// A silent peer's states are cleared at most attempts × frequency +
// timeout after it fell silent (PeerConfig.QualifyBound; 95 s by
// default), instead of the publication's Expires plus PublicationGrace
// (3,615 s by default).
type Liveness struct {
	recv *Receiver
	log  *slog.Logger
	tick func(time.Duration) (<-chan time.Time, func())

	mu    sync.Mutex
	peers map[string]*peerLife
	// Set while Run runs: peers watched meanwhile start probing at once.
	ctx     context.Context
	running sync.WaitGroup
}

// peerLife is what Liveness knows of one qualified peer.
type peerLife struct {
	name     string
	probe    Prober
	freq     time.Duration
	attempts int
	timeout  time.Duration
	onUp     func()

	// Guarded by Liveness.mu.
	stop   chan struct{} // closed by Unwatch or a new Watch of the peer
	misses int           // probes unanswered in a row
	down   bool          // its publications were dropped
	seen   uint64        // PUBLISHes that passed its checks
	downs  uint64        // times it went down
}

// LivenessOptions tune a Liveness; zero fields take defaults.
type LivenessOptions struct {
	Logger *slog.Logger
	// Ticker paces one peer's probes: it returns a channel that ticks
	// every d and a function that stops it. Default: a time.Ticker.
	Ticker func(d time.Duration) (<-chan time.Time, func())
}

// NewLiveness returns a Liveness that drops the publications of down
// peers from r. Peers are added with Watch, before or while Run runs.
func NewLiveness(r *Receiver, opts LivenessOptions) *Liveness {
	l := &Liveness{recv: r, log: opts.Logger, tick: opts.Ticker, peers: make(map[string]*peerLife)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.tick == nil {
		l.tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	return l
}

// Watch qualifies peer through p, as peer.Qualify says; a peer not
// qualified (qualify off, no [peer.publish] or no [peer.accept]) is left
// alone, and no longer watched if it was. onUp, if not nil, is called
// outside any lock each time the peer is back after being down.
//
// Watching a peer again (a reload changed its settings) replaces its
// probe and settings; whether it is down, and its counts, carry over,
// since its states stay cleared until it is back.
func (l *Liveness) Watch(peer *PeerConfig, p Prober, onUp func()) {
	freq, attempts, timeout := peer.Qualify()
	if freq == 0 || p == nil {
		l.Unwatch(peer.Name)
		return
	}
	if onUp == nil {
		onUp = func() {}
	}
	pl := &peerLife{name: peer.Name, probe: p, freq: freq, attempts: attempts, timeout: timeout, onUp: onUp, stop: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.peers[peer.Name]; old != nil {
		close(old.stop)
		pl.down, pl.seen, pl.downs = old.down, old.seen, old.downs
	}
	l.peers[peer.Name] = pl
	if l.ctx != nil {
		l.startLocked(pl)
	}
}

// Unwatch stops qualifying the peer (a reload removed it, or its qualify).
func (l *Liveness) Unwatch(peer string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl := l.peers[peer]; pl != nil {
		close(pl.stop)
		delete(l.peers, peer)
	}
}

// Seen records a sign of life from peer other than an answer to a probe:
// a PUBLISH that passed its checks (Receiver.OnActivity). A down peer is
// up again.
func (l *Liveness) Seen(peer string) {
	l.mu.Lock()
	pl := l.peers[peer]
	if pl == nil {
		l.mu.Unlock()
		return
	}
	pl.seen++
	back := l.upLocked(pl, "it sent a PUBLISH")
	l.mu.Unlock()
	if back {
		pl.onUp()
	}
}

// Down reports whether peer counts as down now.
func (l *Liveness) Down(peer string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	pl := l.peers[peer]
	return pl != nil && pl.down
}

// Downs returns how many times peer went down.
func (l *Liveness) Downs(peer string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pl := l.peers[peer]; pl != nil {
		return pl.downs
	}
	return 0
}

// Run probes every watched peer at its frequency, one loop per peer,
// until ctx is done. The first probe goes out one interval after start
// (or after Watch, for a peer watched while Run runs).
func (l *Liveness) Run(ctx context.Context) error {
	l.mu.Lock()
	l.ctx = ctx
	for _, pl := range l.peers {
		l.startLocked(pl)
	}
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	l.ctx = nil // nothing starts any more: Wait below cannot race an Add
	l.mu.Unlock()
	l.running.Wait()
	return nil
}

// startLocked starts pl's probe loop, which ends with Run's ctx or when pl
// is no longer watched.
func (l *Liveness) startLocked(pl *peerLife) {
	ctx := l.ctx
	l.running.Add(1)
	go func() {
		defer l.running.Done()
		c, stop := l.tick(pl.freq)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-pl.stop:
				return
			case <-c:
				l.check(ctx, pl)
			}
		}
	}()
}

// check sends one probe and acts on its outcome.
func (l *Liveness) check(ctx context.Context, pl *peerLife) {
	l.mu.Lock()
	seen := pl.seen
	l.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, pl.timeout)
	status, err := pl.probe.Probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: no verdict
	}

	l.mu.Lock()
	if l.peers[pl.name] != pl {
		l.mu.Unlock()
		return // no longer watched, or watched anew: no verdict
	}
	if err == nil || pl.seen != seen {
		// Answered, or it published while we waited: alive.
		back := l.upLocked(pl, "it answers OPTIONS")
		l.mu.Unlock()
		if back {
			pl.onUp()
		}
		return
	}
	pl.misses++
	if pl.down || pl.misses < pl.attempts {
		misses := pl.misses
		l.mu.Unlock()
		l.log.Debug("OPTIONS unanswered", "peer", pl.name, "in_a_row", misses, "err", err, "status", status)
		return
	}
	// Dropped under l.mu, so that a PUBLISH that shows the peer alive
	// (Seen) is either before, and this is no miss, or after, and finds
	// the peer down and brings it back.
	pl.down = true
	pl.downs++
	n := l.recv.DropPeer(pl.name)
	l.mu.Unlock()
	l.log.Warn("peer stopped answering OPTIONS; its states are cleared", "peer", pl.name,
		"unanswered", pl.attempts, "every", pl.freq.String(), "publications", n, "err", err)
}

// upLocked records that pl is alive and reports whether it was down.
func (l *Liveness) upLocked(pl *peerLife, why string) bool {
	pl.misses = 0
	if !pl.down {
		return false
	}
	pl.down = false
	l.log.Info("peer is back; its states come with its next PUBLISHes", "peer", pl.name, "because", why)
	return true
}
