package companion

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// DefaultApplyInFlight is how many writes Apply has outstanding at once
// by default. A peer with 32 publications in flight delivers a burst at
// thousands of states per second; one write at a time keeps up only while
// the local Asterisk answers within a fraction of a millisecond.
const DefaultApplyInFlight = 16

// writes are Apply's writes in flight. Run starts them and finishes them
// (all bookkeeping stays on Run's goroutine); a write runs on a goroutine
// of its own and reports on done, which has room for every write in
// flight, so a write never waits to report.
//
// Two writes of one target are never in flight together: a target's
// newer value waits in Apply.want until the write before it is finished,
// so the value written last is the newest.
type writes struct {
	max      int
	inflight map[target]State // the value being written, per target
	perKind  map[Kind]int     // writes in flight per kind
	// proven holds the kinds written successfully since their last
	// rewrite. Until then one write of the kind is in flight at a time:
	// an Asterisk that lacks the action (ErrUnsupported) is told once.
	proven map[Kind]bool
	gen    map[Kind]uint64 // bumped by rewrite: earlier writes do not count
	done   chan writeDone
	wg     sync.WaitGroup

	// batch are the targets found due, taken in order as slots free up;
	// next is the first not yet taken.
	batch []target
	next  int
}

type writeDone struct {
	t   target
	v   State
	gen uint64
	err error
}

func newWrites(max int) writes {
	return writes{
		max:      max,
		inflight: make(map[target]State, max),
		perKind:  make(map[Kind]int),
		proven:   make(map[Kind]bool),
		gen:      make(map[Kind]uint64),
		done:     make(chan writeDone, max),
	}
}

// finishAll waits for the writes still in flight, whose context has
// ended (each is bounded by ApplyOptions.Timeout too), and books them.
func (a *Apply) finishAll(ctx context.Context) {
	a.writes.wg.Wait()
	a.finishDone(ctx)
}

// writeDue starts the wanted writes whose retry time has come, as many as
// there are free slots. The due targets are found in one pass, in name
// order so that runs are reproducible, and taken from that batch as
// slots free up; the value written is the one wanted when it starts.
func (a *Apply) writeDue(ctx context.Context) {
	w := &a.writes
	if w.next == len(w.batch) {
		w.batch, w.next = a.collectDue(w.batch[:0]), 0
		// The ledger is saved before a new name is written (write-ahead):
		// once for the whole batch, not once per slot's worth of it, so
		// that a burst of new names costs a few saves, not one per 16.
		a.recordIntent(w.batch)
	}
	now := time.Now()
	var start []target
	probing := make(map[Kind]bool, 2)
	for w.next < len(w.batch) && len(w.inflight)+len(start) < w.max {
		t := w.batch[w.next]
		w.next++
		if !a.due(t, now) {
			continue
		}
		if a.isLocal(t) {
			a.refuseLocal(t)
			continue
		}
		if !w.proven[t.kind] {
			if w.perKind[t.kind] > 0 || probing[t.kind] {
				continue // collected again once the probe is answered
			}
			probing[t.kind] = true
		}
		start = append(start, t)
	}
	if len(start) == 0 || ctx.Err() != nil {
		return
	}
	a.recordIntent(start)
	for _, t := range start {
		a.start(ctx, t, a.want[t])
	}
}

// collectDue appends the targets due for a write, in name order.
func (a *Apply) collectDue(due []target) []target {
	now := time.Now()
	for t := range a.want {
		if a.due(t, now) {
			due = append(due, t)
		}
	}
	slices.SortFunc(due, func(x, y target) int {
		return cmp.Or(cmp.Compare(x.kind, y.kind), cmp.Compare(x.name, y.name))
	})
	return due
}

// due reports whether t wants a write that may start now.
func (a *Apply) due(t target, now time.Time) bool {
	if _, wanted := a.want[t]; !wanted || a.unsupported[t.kind] {
		return false
	}
	if _, busy := a.writes.inflight[t]; busy {
		return false
	}
	at, ok := a.retryAt[t]
	return !ok || !now.Before(at)
}

func (a *Apply) refuseLocal(t target) {
	a.refusedLocal.Add(1)
	if !a.localHeld[t] {
		a.localHeld[t] = true
		a.opts.Logger.Warn("not writing a remote state over a device or mailbox local to this Asterisk", "target", a.want[t].Key.String())
	}
	delete(a.want, t)
	delete(a.retryAt, t)
}

func (a *Apply) start(ctx context.Context, t target, v State) {
	w := &a.writes
	w.inflight[t] = v
	w.perKind[t.kind]++
	gen := w.gen[t.kind]
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		w.done <- writeDone{t: t, v: v, gen: gen, err: a.write(ctx, v)}
	}()
}

// finishDone takes the results that are in, without waiting.
func (a *Apply) finishDone(ctx context.Context) {
	for {
		select {
		case r := <-a.writes.done:
			a.finish(ctx, r)
		default:
			return
		}
	}
}

// finish books the result of a write.
func (a *Apply) finish(ctx context.Context, r writeDone) {
	delete(a.writes.inflight, r.t)
	a.writes.perKind[r.t.kind]--
	if r.err == nil || ctx.Err() == nil {
		a.stats.wrote(r.err) // a write cut off by shutdown is no failure
	}
	if r.gen != a.writes.gen[r.t.kind] {
		return // Asterisk may have restarted since it started: wanted again
	}
	if r.err != nil && ctx.Err() != nil {
		return // shutting down: not a failure of the write
	}
	t, v, err := r.t, r.v, r.err
	current := false
	if w, ok := a.want[t]; ok && w == v {
		current = true
	}
	switch {
	case err == nil:
		a.writes.proven[t.kind] = true
		a.written[t] = v
		if current {
			delete(a.want, t)
			delete(a.retryAt, t)
		}
		if a.failures[t] > 0 {
			a.opts.Logger.Info("applied after retries", "target", v.Key.String(), "state", v.String())
		}
		delete(a.failures, t)
		if _, more := a.want[t]; !more {
			a.release(t)
		}
	case errors.Is(err, ErrUnsupported):
		if !a.unsupported[t.kind] {
			a.opts.Logger.Error("cannot apply remote "+t.kind.String()+" states", "err", err)
		}
		a.unsupported[t.kind] = true
	default:
		a.failures[t]++
		if a.failures[t] == 1 {
			a.opts.Logger.Warn("applying remote state failed; retrying while it is current", "target", v.Key.String(), "state", v.String(), "err", err)
		}
		if current { // a newer value goes out at once
			a.retryAt[t] = time.Now().Add(backoffDelay(a.opts.MinBackoff, a.opts.MaxBackoff, a.failures[t]))
		}
	}
}

func (a *Apply) write(ctx context.Context, v State) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	if v.Key.Kind == KindDevice {
		a.echoes.WroteDevice(v.Key.Name, v.Device)
		return a.device.ApplyDevice(ctx, v.Key.Name, v.Device)
	}
	id, _ := v.Key.Mailbox()
	a.echoes.WroteMailbox(id, v.Old, v.New)
	return a.mailbox.ApplyMailbox(ctx, id, v.Old, v.New)
}
