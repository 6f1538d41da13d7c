package companion

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Apply writes the remote table into the local Asterisk through the
// Appliers, and keeps it written:
//
//   - A device's local name comes from the device_name template; when
//     several peers assert the same local name, the newest value wins, and
//     when one of them goes away the others' value is written back.
//   - When no peer asserts a name any more (publication expired or
//     removed), the device is set to apply.device_clear_state and the
//     mailbox to 0/0, not left stuck as a stock Asterisk leaves it.
//   - A failed write is retried with backoff while the value is still the
//     one to write; an ErrUnsupported failure is reported once and not
//     retried until the next Reapply of its kind (the next AMI connect).
//   - Every write is recorded in Echoes first, so that its AMI echo is not
//     published as local state.
//   - Up to MaxInFlight writes are in flight at once, to distinct targets:
//     a target's newer value waits for the write before it, so the value
//     written last is the newest (see writes).
type Apply struct {
	cfg     ApplyConfig
	remote  *Table
	device  Applier // nil: device states are not applied
	mailbox Applier // nil: mailbox states are not applied
	echoes  *Echoes
	peerOf  func(EntityID) string
	opts    ApplyOptions
	reapply chan struct{}

	mu           sync.Mutex
	reapplyKinds map[Kind]bool // set by Reapply

	// Owned by Run.
	at           map[originKey]target   // where each remote entry lands
	sources      map[target][]originKey // the remote entries landing on a target: nearly always one
	want         map[target]State       // value to write, per local target
	written      map[target]State       // value last written successfully
	retryAt      map[target]time.Time
	failures     map[target]int
	unsupported  map[Kind]bool
	warnedLong   map[string]bool      // by shortened name
	stale        map[target]time.Time // ledger names from before a restart, and when to clear them
	localHeld    map[target]bool      // targets refused because they are local, logged once
	writes       writes               // the writes in flight and the batch waiting for a slot
	lastSave     time.Time
	ledgerWarned bool

	refusedLocal atomic.Uint64
	stats        applyCounters
}

// ApplyOptions tune an Apply; zero fields take defaults.
type ApplyOptions struct {
	MinBackoff time.Duration // default 1 s
	MaxBackoff time.Duration // default 60 s
	Timeout    time.Duration // bound of one write; default 10 s
	// MaxInFlight bounds the writes outstanding at once, each to another
	// target; default DefaultApplyInFlight, 1 writes one at a time.
	MaxInFlight int
	Logger      *slog.Logger

	// Ledger records what is written for which origin, across restarts;
	// nil keeps no record. Its names that no peer asserts within
	// LedgerGrace of Run's start are cleared.
	Ledger      *Ledger
	LedgerGrace time.Duration // default DefaultLedgerGrace
	// Local and Self give this node's own states: a remote state never
	// overwrites a device or mailbox local to this Asterisk.
	Local *Table
	Self  EntityID

	// Ready, when not nil, holds writes back until it is closed (the
	// first snapshot of the local state; see applyready.go).
	Ready <-chan struct{}
}

// DefaultLedgerGrace is how long a name written before a restart waits for
// a peer to assert it again before it is cleared: long enough for the
// refresh requests sent at start to be answered.
const DefaultLedgerGrace = time.Minute

type target struct {
	kind Kind
	name string // local device name, or mailbox uniqueid
}

// MaxDeviceNameLength is the longest device name Asterisk keeps (it cuts
// longer ones silently: AST_MAX_EXTENSION less the terminating NUL).
const MaxDeviceNameLength = 79

// NewApply returns an Apply of remote into the local Asterisk. peerOf
// names the peer an EID's states came from, for the {peer} placeholder.
func NewApply(cfg ApplyConfig, remote *Table, device, mailbox Applier, echoes *Echoes, peerOf func(EntityID) string, opts ApplyOptions) *Apply {
	opts.MinBackoff, opts.MaxBackoff = backoffBounds(opts.MinBackoff, opts.MaxBackoff)
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultApplyInFlight
	}
	if cfg.DeviceState == ApplyNone {
		device = nil
	}
	if cfg.MailboxState == ApplyNone {
		mailbox = nil
	}
	return &Apply{
		cfg: cfg, remote: remote, device: device, mailbox: mailbox, echoes: echoes, peerOf: peerOf, opts: opts,
		reapply:      make(chan struct{}, 1),
		reapplyKinds: make(map[Kind]bool),
		at:           make(map[originKey]target),
		sources:      make(map[target][]originKey),
		want:         make(map[target]State),
		written:      make(map[target]State),
		retryAt:      make(map[target]time.Time),
		failures:     make(map[target]int),
		unsupported:  make(map[Kind]bool),
		warnedLong:   make(map[string]bool),
		stale:        make(map[target]time.Time),
		localHeld:    make(map[target]bool),
		writes:       newWrites(opts.MaxInFlight),
	}
}

// Reapply asks for every remote state of kind k to be written again: the
// local Asterisk reconnected and may have restarted. It does not block.
func (a *Apply) Reapply(k Kind) {
	a.mu.Lock()
	a.reapplyKinds[k] = true
	a.mu.Unlock()
	select {
	case a.reapply <- struct{}{}:
	default:
	}
}

// takeReapply returns the kinds Reapply asked for since the last call.
func (a *Apply) takeReapply() []Kind {
	a.mu.Lock()
	defer a.mu.Unlock()
	var kinds []Kind
	for k := range a.reapplyKinds {
		kinds = append(kinds, k)
	}
	clear(a.reapplyKinds)
	return kinds
}

// Run applies until ctx is done.
func (a *Apply) Run(ctx context.Context) error {
	if !a.awaitReady(ctx) {
		return nil
	}
	w := a.remote.Watch(func(_ EntityID, k Key) bool { return a.applier(k.Kind) != nil })
	defer w.Close()
	defer a.saveLedger(true)
	defer a.finishAll(ctx)             // the writes in flight, before the ledger's last save
	a.rewrite(KindDevice, KindMailbox) // what arrived before the watch
	a.loadStale()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.finishDone(ctx)
		for _, e := range w.Changes() {
			a.consider(e.Origin, e.State.Key)
		}
		select {
		case <-a.reapply:
			a.rewrite(a.takeReapply()...)
		default:
		}
		a.clearStale()
		a.writeDue(ctx)
		a.saveLedger(false) // the forgotten names
		if ctx.Err() != nil {
			return nil
		}

		// Go 1.23 timers: after Stop or Reset no stale tick is delivered.
		next, ok := a.nextRetry()
		for _, at := range a.stale {
			if !ok || at.Before(next) {
				next, ok = at, true
			}
		}
		if ok {
			timer.Reset(max(time.Until(next), 0))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.C():
		case <-a.reapply:
			a.rewrite(a.takeReapply()...)
		case r := <-a.writes.done:
			a.finish(ctx, r)
		case <-timer.C:
		}
	}
}

func (a *Apply) applier(k Kind) Applier {
	if k == KindDevice {
		return a.device
	}
	return a.mailbox
}

// targetOf is where origin's value of k is written locally.
func (a *Apply) targetOf(origin EntityID, k Key) target {
	if k.Kind == KindMailbox {
		return target{KindMailbox, k.Name}
	}
	return target{KindDevice, a.deviceName(a.cfg.DeviceName.Expand(k.Name, a.peerOf(origin), origin))}
}

// deviceName shortens a name Asterisk would cut, deterministically: the
// cut part is replaced by a hash of the whole, so that two long names do
// not collapse into one.
func (a *Apply) deviceName(name string) string {
	if len(name) <= MaxDeviceNameLength {
		return name
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	suffix := fmt.Sprintf("~%08x", h.Sum32())
	cut := MaxDeviceNameLength - len(suffix)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	short := name[:cut] + suffix
	if !a.warnedLong[short] {
		a.warnedLong[short] = true
		a.opts.Logger.Warn("device name longer than Asterisk keeps; shortened", "name", name, "as", short, "max", MaxDeviceNameLength)
	}
	return short
}

// consider follows a change of origin's value of k: the entry may have
// appeared, changed, moved to another local target (its peer's name
// changed) or gone. Its cost depends on the entries landing on the same
// target, not on the size of the table.
func (a *Apply) consider(origin EntityID, k Key) {
	id := originKey{origin, k}
	old, had := a.at[id]
	_, present := a.remote.Get(origin, k)
	var now target
	if present {
		now = a.targetOf(origin, k)
	}
	if had && (!present || now != old) {
		delete(a.at, id)
		if src := slices.DeleteFunc(a.sources[old], func(o originKey) bool { return o == id }); len(src) == 0 {
			delete(a.sources, old)
		} else {
			a.sources[old] = slices.Clip(src)
		}
		a.settle(old, k.Kind)
	}
	if present {
		if !had || now != old {
			a.at[id] = now
			// A set as a slice: entries landing on one target are few
			// (one per origin asserting the device), and a map each
			// cost a few hundred bytes per remote key.
			if src := a.sources[now]; !slices.Contains(src, id) {
				a.sources[now] = append(src, id)
			}
		}
		delete(a.stale, now) // a peer asserts it again
		a.settle(now, k.Kind)
	}
}

// settle recomputes the value to write on t: the newest of the entries
// landing there, or the cleared value when none does.
func (a *Apply) settle(t target, kind Kind) {
	best := a.newest(t)
	v := best.State
	if best.Version == 0 {
		v = a.cleared(Key{Kind: kind, Name: t.name})
	}
	v.Key = Key{Kind: kind, Name: t.name}
	// With a write of t in flight, what Asterisk will hold is that write's
	// value (or, should it fail, the one before): v is wanted either way,
	// and finish drops it if that write put it there.
	if _, busy := a.writes.inflight[t]; busy {
		a.want[t] = v
		return
	}
	if w, ok := a.written[t]; ok && w == v {
		delete(a.want, t)
		return
	}
	a.want[t] = v
	delete(a.retryAt, t) // a new value goes out at once
}

// release forgets a target that no remote entry lands on any more, once
// its cleared value is written: what a departed peer's publications put
// here leaves no memory behind.
func (a *Apply) release(t target) {
	if _, held := a.sources[t]; held {
		return
	}
	delete(a.written, t)
	delete(a.warnedLong, t.name)
	delete(a.localHeld, t)
	if a.opts.Ledger != nil {
		a.opts.Ledger.Forget(t.kind, t.name)
	}
	if t.kind == KindDevice {
		a.echoes.ReleaseDevice(t.name)
	} else if id, ok := ParseMailboxID(t.name); ok {
		a.echoes.ReleaseMailbox(id)
	}
}

// recordIntent enters the targets about to be written for a peer in the
// ledger, and saves it, before the first write: a write whose answer is
// cut off by a crash may still have reached Asterisk, which keeps it. One
// save serves the whole batch; names already entered cost nothing.
func (a *Apply) recordIntent(due []target) {
	l := a.opts.Ledger
	if l == nil {
		return
	}
	for _, t := range due {
		if a.isLocal(t) {
			continue
		}
		if origin, ok := a.originOf(t); ok {
			l.Record(t.kind, t.name, origin)
		}
	}
	a.saveLedger(true)
}

// originOf is the origin whose value target t holds: the newest of the
// entries landing there.
func (a *Apply) originOf(t target) (EntityID, bool) {
	best := a.newest(t)
	return best.Origin, best.Version != 0
}

// newest is the newest of the remote entries landing on t; Version 0 when
// none does.
func (a *Apply) newest(t target) Entry {
	var best Entry
	for _, id := range a.sources[t] {
		if e, ok := a.remote.Get(id.origin, id.key); ok && e.Version > best.Version {
			best = e
		}
	}
	return best
}

// isLocal reports whether t names a device or mailbox this Asterisk holds
// as its own.
func (a *Apply) isLocal(t target) bool {
	if a.opts.Local == nil {
		return false
	}
	_, ok := a.opts.Local.Get(a.opts.Self, Key{Kind: t.kind, Name: t.name})
	return ok
}

// RefusedLocal is how many writes were not made because the target is
// local to this Asterisk.
func (a *Apply) RefusedLocal() uint64 { return a.refusedLocal.Load() }

// loadStale takes the ledger's names that no peer asserts now: written
// before a restart, they are cleared unless a peer asserts them within
// LedgerGrace.
func (a *Apply) loadStale() {
	if a.opts.Ledger == nil {
		return
	}
	grace := a.opts.LedgerGrace
	if grace <= 0 {
		grace = DefaultLedgerGrace
	}
	at := time.Now().Add(grace)
	for _, e := range a.opts.Ledger.Entries() {
		t := target{e.Kind, e.Name}
		if _, held := a.sources[t]; held || a.applier(e.Kind) == nil {
			continue
		}
		a.stale[t] = at
	}
	if n := len(a.stale); n > 0 {
		a.opts.Logger.Info("states written for peers before a restart wait for their peers", "count", n, "cleared_after", grace.String())
	}
}

// clearStale wants the cleared value of each stale name whose grace is
// over and that no peer asserted meanwhile.
func (a *Apply) clearStale() {
	now := time.Now()
	for t, at := range a.stale {
		if now.Before(at) {
			continue
		}
		delete(a.stale, t)
		if _, held := a.sources[t]; !held {
			a.settle(t, t.kind) // wants the cleared value
		}
	}
}

func (a *Apply) saveLedger(final bool) {
	l := a.opts.Ledger
	if l == nil || (!final && time.Since(a.lastSave) < time.Second) {
		return
	}
	a.lastSave = time.Now()
	err := l.Save()
	if err != nil && !a.ledgerWarned {
		a.opts.Logger.Warn("the ledger of states written for peers could not be saved; after a restart they may be taken for local states", "file", l.Path(), "err", err)
	}
	a.ledgerWarned = err != nil
}

func (a *Apply) cleared(k Key) State {
	if k.Kind == KindDevice {
		return State{Key: k, Device: a.cfg.ClearDeviceState}
	}
	return State{Key: k}
}

// rewrite forgets what was written of these kinds and wants it all again.
func (a *Apply) rewrite(kinds ...Kind) {
	for _, k := range kinds {
		for t := range a.written {
			if t.kind == k {
				delete(a.written, t)
			}
		}
		delete(a.unsupported, k)
		a.writes.gen[k]++ // what is in flight now may not count as written
		delete(a.writes.proven, k)
	}
	for _, o := range a.remote.Origins() {
		for _, e := range a.remote.Entries(o) {
			if k := e.State.Key.Kind; slices.Contains(kinds, k) && a.applier(k) != nil {
				a.consider(o, e.State.Key)
			}
		}
	}
}

func (a *Apply) nextRetry() (time.Time, bool) {
	var next time.Time
	if len(a.writes.inflight) >= a.writes.max {
		return next, false // no slot: a result wakes Run first
	}
	for t, at := range a.retryAt {
		if _, busy := a.writes.inflight[t]; busy {
			continue // its result wakes Run
		}
		if _, ok := a.want[t]; ok && !a.unsupported[t.kind] && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next, !next.IsZero()
}
