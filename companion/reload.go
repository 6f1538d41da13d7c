package companion

import (
	"context"
	"errors"
	"sync"
)

// ErrExchangeStopped is Reload's error once Run has returned.
var ErrExchangeStopped = errors.New("the exchange has stopped")

// Reload makes the exchange run cfg's peers without a restart, touching
// only what changed:
//
//   - A peer added gets publishers (which send it our states) and, if
//     qualified, a liveness watch; its PUBLISHes are taken at once.
//   - A peer removed: its publications are removed (Expires: 0), the
//     states it asserted cleared locally, its qualify stopped.
//   - A peer changed: a new target, identity, credentials, expiration,
//     resend interval or in-flight bound restarts its publications (the
//     old one removed, the new one carrying everything); a publish switch
//     starts or stops the publication of that event; a publish filter
//     change goes through Publisher.SetFilter. Accept changes are the
//     Receiver's (Reconfigure): states the new switches or filters refuse
//     are cleared, the others stay; if they may now accept more, the peer
//     is asked for its state (when accept.refresh is set).
//
// Other peers, and states that stay wanted, are not touched. What cannot
// change in a running process (DiffConfig's Restart: the EID, listeners,
// [ami], [ari], [apply], state_dir) keeps its running value. Reload
// returns the differences; it waits for the removals of the publications
// it stops (bounded as at shutdown). Reloads are serialised.
func (x *Exchange) Reload(cfg *Config) (ConfigDiff, error) {
	x.reloading.Lock()
	defer x.reloading.Unlock()
	x.mu.Lock()
	if x.runs.ended {
		x.mu.Unlock()
		return ConfigDiff{}, ErrExchangeStopped
	}
	running := x.cfg
	x.mu.Unlock()
	diff := DiffConfig(running, cfg)
	next := ReloadedConfig(running, cfg)

	x.receiver.Reconfigure(next)

	type publication struct {
		peer *PeerConfig
		ev   Event
	}
	type refilter struct {
		p *Publisher
		f Filter
	}
	var (
		stop      []*Publisher
		start     []publication
		refilters []refilter
	)
	x.mu.Lock()
	names := make(map[string]bool)
	for name := range x.publishers {
		names[name] = true
	}
	for i := range next.Peers {
		names[next.Peers[i].Name] = true
	}
	for name := range names {
		old, peer := running.Peer(name), next.Peer(name)
		for _, ev := range [...]Event{EventDeviceState, EventMWI} {
			p := x.publishers[name][ev]
			oldFilter, _ := publishes(old, ev)
			filter, on := publishes(peer, ev)
			switch {
			case p == nil:
				if on {
					start = append(start, publication{peer, ev})
				}
				continue
			case !on:
			case !samePublication(old.Publish, peer.Publish):
				start = append(start, publication{peer, ev})
			case sameFilter(oldFilter, filter):
				continue
			default:
				// Only the keys whose fate changed are sent: no storm.
				refilters = append(refilters, refilter{p, filter})
				continue
			}
			stop = append(stop, p)
			delete(x.publishers[name], ev)
			if len(x.publishers[name]) == 0 {
				delete(x.publishers, name)
			}
		}
	}
	x.mu.Unlock()

	// The old publications go first: a new one to the same peer must not
	// be removed by the removal of the old.
	x.stopPublishers(stop)

	x.mu.Lock()
	for _, s := range start {
		p := x.newPublisher(s.peer, s.ev)
		if x.publishers[s.peer.Name] == nil {
			x.publishers[s.peer.Name] = make(map[Event]*Publisher)
		}
		x.publishers[s.peer.Name][s.ev] = p
		x.startLocked(p)
	}
	x.cfg = next
	x.mu.Unlock()
	for _, r := range refilters {
		r.p.SetFilter(r.f)
	}

	for _, name := range diff.Removed {
		x.liveness.Unwatch(name)
	}
	for _, name := range diff.Added {
		x.watch(next.Peer(name))
	}
	for _, c := range diff.Changed {
		peer := next.Peer(c.Name)
		x.watch(peer)
		if old := running.Peer(c.Name); acceptWidened(old.Accept, peer.Accept) && peer.Accept.Refresh {
			// States its old switches or filters dropped were never
			// kept: ask for them rather than wait for their next change.
			for ev, p := range x.publishersOf(c.Name) {
				x.log.Info("asking the peer for its state: its [peer.accept] takes more now", "peer", c.Name, "event", string(ev))
				p.AskRefresh()
			}
		}
	}
	return diff, nil
}

// watch qualifies peer if its settings say so (and stops qualifying it
// otherwise); once the peer is back after being down, it is asked for its
// state.
func (x *Exchange) watch(peer *PeerConfig) {
	if freq, _, _ := peer.Qualify(); freq == 0 || x.opts.Prober == nil {
		x.liveness.Unwatch(peer.Name)
		return
	}
	name, refresh := peer.Name, peer.Accept.Refresh
	x.liveness.Watch(peer, x.opts.Prober(peer), func() {
		if !refresh {
			return
		}
		// What it asserted was cleared: ask it to send it again rather
		// than wait for its next changes.
		for ev, p := range x.publishersOf(name) {
			x.log.Info("asking a peer that is back for its state", "peer", name, "event", string(ev))
			p.AskRefresh()
		}
	})
}

// publishersOf returns the publishers towards peer, by event.
func (x *Exchange) publishersOf(peer string) map[Event]*Publisher {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[Event]*Publisher, len(x.publishers[peer]))
	for ev, p := range x.publishers[peer] {
		out[ev] = p
	}
	return out
}

// newPublisher builds the publisher of ev towards peer, at start and on
// reload alike.
func (x *Exchange) newPublisher(peer *PeerConfig, ev Event) *Publisher {
	po := x.opts.Publisher
	if po.Logger == nil {
		po.Logger = x.log.With("part", "publisher")
	}
	name := peer.Name
	po.Blocked = func() bool { return x.receiver.Conflict(name) }
	// One Sender per publication (max_in_flight of them): each has its
	// own Call-ID and CSeq.
	newSender := func() Sender { return x.opts.Sender(peer, ev) }
	p := NewPublisher(peer, ev, x.eid, x.LocalTable, newSender, po)
	if x.abandoned {
		p.Abandon()
	}
	return p
}

// publisherRuns are the publishers running under Exchange.Run, each under
// a context of its own, so that Reload can stop one (its publication
// removed) or start one while the others go on. Guarded by Exchange.mu.
type publisherRuns struct {
	ctx     context.Context // Run's; nil before Run
	ended   bool            // Run is ending: nothing starts any more
	wg      sync.WaitGroup
	running map[*Publisher]*publisherRun
}

type publisherRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startPublishers starts every publisher under ctx, Run's.
func (x *Exchange) startPublishers(ctx context.Context) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.runs.ctx = ctx
	for _, byEvent := range x.publishers {
		for _, p := range byEvent {
			x.startLocked(p)
		}
	}
}

// startLocked runs p if Run runs; before Run, Run will.
func (x *Exchange) startLocked(p *Publisher) {
	if x.runs.ctx == nil || x.runs.ended {
		return
	}
	if x.runs.running == nil {
		x.runs.running = make(map[*Publisher]*publisherRun)
	}
	ctx, cancel := context.WithCancel(x.runs.ctx)
	r := &publisherRun{cancel: cancel, done: make(chan struct{})}
	x.runs.running[p] = r
	x.runs.wg.Add(1)
	go func() {
		defer x.runs.wg.Done()
		defer close(r.done)
		defer cancel()
		p.Run(ctx)
	}()
}

// stopPublishers ends the Run of each of ps, which removes its
// publication (Expires: 0), and waits for them all. x.mu must not be held.
func (x *Exchange) stopPublishers(ps []*Publisher) {
	x.mu.Lock()
	var runs []*publisherRun
	for _, p := range ps {
		if r := x.runs.running[p]; r != nil {
			delete(x.runs.running, p)
			runs = append(runs, r)
		}
	}
	x.mu.Unlock()
	for _, r := range runs {
		r.cancel()
	}
	for _, r := range runs {
		<-r.done
	}
}

// waitPublishers waits, once Run's ctx is done, for every publisher to
// have removed its publication; no publisher starts after it.
func (x *Exchange) waitPublishers() {
	x.mu.Lock()
	x.runs.ended = true
	x.mu.Unlock()
	x.runs.wg.Wait()
}
