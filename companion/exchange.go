package companion

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
)

// Exchange is one node's state exchange: the local table fed by the
// local Asterisk, a Publisher per peer and event, the Receiver of peers'
// PUBLISHes, the remote table, and the Apply that writes remote state
// back into the local Asterisk. The adapters plug in through
// ExchangeOptions, Observer and Handler.
type Exchange struct {
	cfg      *Config
	eid      EntityID
	log      *slog.Logger
	local    *Local
	receiver *Receiver
	apply    *Apply
	liveness *Liveness
	// fleet is whether [fleet] was set at start: the fleet link runs
	// from start to stop, a reload neither starts nor stops it.
	fleet bool

	// LocalTable holds this node's states (origin = its EID); RemoteTable
	// the peers' (origin = the sender's EID).
	LocalTable  *Table
	RemoteTable *Table

	opts      ExchangeOptions
	reloading sync.Mutex // one Reload at a time

	// Guarded by mu: Reload changes them while Run runs.
	mu         sync.Mutex
	publishers map[string]map[Event]*Publisher // by peer name
	runs       publisherRuns
	abandoned  bool
}

// ExchangeOptions are the adapters an Exchange works with.
type ExchangeOptions struct {
	// Sender returns the Sender of one publication; required when a peer
	// has [peer.publish]. It is called once per publication: max_in_flight
	// times per peer and event.
	Sender func(peer *PeerConfig, ev Event) Sender
	// DeviceApplier and MailboxApplier write remote state locally; nil
	// (or apply mode "none") leaves that kind unapplied.
	DeviceApplier  Applier
	MailboxApplier Applier
	// Prober returns the liveness probe of a peer that has [peer.publish]
	// and [peer.accept] and qualify on; nil probes no peer.
	Prober    func(peer *PeerConfig) Prober
	Logger    *slog.Logger
	Publisher PublisherOptions
	Apply     ApplyOptions
	Liveness  LivenessOptions
	// Ledger remembers what was written for peers across restarts, so
	// that it is never taken for local state; nil keeps no record.
	Ledger *Ledger
}

// NewExchange wires an exchange for cfg; eid is this node's Entity ID
// (cfg.Node.EID, or the one read from Asterisk for eid = "auto").
func NewExchange(cfg *Config, eid EntityID, opts ExchangeOptions) *Exchange {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Exchange{
		cfg:         cfg,
		eid:         eid,
		fleet:       cfg.Fleet != nil,
		opts:        opts,
		log:         log,
		LocalTable:  NewTable(),
		RemoteTable: NewTable(),
		publishers:  make(map[string]map[Event]*Publisher),
	}
	tmpl := DeviceNameTemplate("")
	if cfg.Apply.DeviceState != ApplyNone && opts.DeviceApplier != nil {
		tmpl = cfg.Apply.DeviceName
	}
	echoes := NewEchoes(tmpl)
	if opts.Ledger != nil {
		echoes.UseLedger(opts.Ledger)
	}
	x.local = NewLocal(x.LocalTable, eid, echoes)
	x.receiver = NewReceiver(cfg, eid, x.RemoteTable)
	x.receiver.SetLogger(log.With("part", "receiver"))

	for i := range cfg.Peers {
		peer := &cfg.Peers[i]
		if peer.Publish == nil {
			continue
		}
		byEvent := make(map[Event]*Publisher)
		for _, ev := range []Event{EventDeviceState, EventMWI} {
			if _, on := publishes(peer, ev); on {
				byEvent[ev] = x.newPublisher(peer, ev)
			}
		}
		x.publishers[peer.Name] = byEvent
	}
	x.receiver.OnRefresh(func(peer string, ev Event) {
		if p := x.Publisher(peer, ev); p != nil {
			x.log.Info("peer asked for our state", "peer", peer, "event", string(ev))
			p.Dump()
		} else {
			x.log.Warn("peer asked for our state, but we publish nothing of that event to it", "peer", peer, "event", string(ev))
		}
	})

	lo := opts.Liveness
	if lo.Logger == nil {
		lo.Logger = log.With("part", "liveness")
	}
	x.liveness = NewLiveness(x.receiver, lo)
	for i := range cfg.Peers {
		x.watch(&cfg.Peers[i])
	}
	x.receiver.OnActivity(x.liveness.Seen)

	ao := opts.Apply
	if ao.Logger == nil {
		ao.Logger = log.With("part", "apply")
	}
	ao.Ledger, ao.Local, ao.Self = opts.Ledger, x.LocalTable, eid
	if opts.DeviceApplier != nil || opts.MailboxApplier != nil {
		x.apply = NewApply(cfg.Apply, x.RemoteTable, opts.DeviceApplier, opts.MailboxApplier, echoes, x.peerOf, ao)
		x.local.OnSnapshot(x.apply.Reapply)
	}
	return x
}

// peerOf names the source of eid's states for the {peer} placeholder and
// /status: the SIP peer holding eid, else, with [fleet], FleetPeerName.
func (x *Exchange) peerOf(eid EntityID) string {
	if p := x.receiver.PeerOf(eid); p != "" || !x.fleet {
		return p
	}
	return FleetPeerName
}

// Observer is what the local-state source (the AMI adapter) reports to.
func (x *Exchange) Observer() Observer { return x.local }

// OnSnapshot registers f to run after every snapshot of the local state
// (one follows every AMI connect), after the exchange's own reaction.
func (x *Exchange) OnSnapshot(f func(Kind)) { x.local.OnSnapshot(f) }

// Handler answers the PUBLISHes the SIP edge receives.
func (x *Exchange) Handler() PublishHandler { return x.receiver }

// Liveness is the qualify of the peers.
func (x *Exchange) Liveness() *Liveness { return x.liveness }

// Publisher returns the publisher of ev towards peer, or nil.
func (x *Exchange) Publisher(peer string, ev Event) *Publisher {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.publishers[peer][ev]
}

// PublisherStats reads every publisher's stats, sorted by peer, then
// event.
func (x *Exchange) PublisherStats() []PublisherStats {
	var out []PublisherStats
	for _, byEvent := range x.publishers {
		for _, p := range byEvent {
			out = append(out, p.Stats())
		}
	}
	slices.SortFunc(out, func(a, b PublisherStats) int {
		return cmp.Or(cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Event, b.Event))
	})
	return out
}

// Abandon makes Run end without removing the publications: the process
// exits on an error, and peers keep our states until they expire or we
// are back. Call it before ending Run's ctx.
func (x *Exchange) Abandon() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.abandoned = true
	for _, byEvent := range x.publishers {
		for _, p := range byEvent {
			p.Abandon()
		}
	}
}

// Run runs the publishers, the publication expiry and the apply loop
// until ctx is done; it returns once publications have been removed.
func (x *Exchange) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	x.startPublishers(ctx)
	run(x.receiver.Run)
	run(x.liveness.Run)
	if x.apply != nil {
		run(x.apply.Run)
	}
	wg.Wait()
	x.waitPublishers()
	return nil
}
