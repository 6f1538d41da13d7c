package companion

import (
	"sync"
	"sync/atomic"
)

// Local turns what the local Asterisk reports into this node's entries of
// the local state table, leaving out the echoes of what the sink wrote. It
// implements Observer.
type Local struct {
	table  *Table
	eid    EntityID
	echoes *Echoes

	badNames atomic.Uint64
	stats    localCounters

	mu        sync.Mutex
	snapshots []func(Kind) // called after each snapshot, outside mu
}

// NewLocal returns an Observer that writes into table under eid.
func NewLocal(table *Table, eid EntityID, echoes *Echoes) *Local {
	return &Local{table: table, eid: eid, echoes: echoes}
}

// Observe records one state from an event, unless it is an echo.
func (l *Local) Observe(s State) {
	l.stats.event(s.Key.Kind)
	if !l.usable(s) {
		return
	}
	if l.echoes.State(s) {
		// Written by the sink, so not local (any more): a value seen
		// before the first write, e.g. in a snapshot, goes too.
		l.table.Delete(l.eid, s.Key)
		return
	}
	l.table.Set(l.eid, s)
}

// Snapshot replaces this node's states of kind with states, echoes left
// out, then tells the functions registered with OnSnapshot.
func (l *Local) Snapshot(kind Kind, states []State) {
	defer l.stats.snapshot(kind)
	kept := make([]State, 0, len(states))
	for _, s := range states {
		if l.usable(s) && !l.echoes.State(s) {
			kept = append(kept, s)
		}
	}
	l.table.Replace(l.eid, kind, kept)
	l.mu.Lock()
	fns := l.snapshots
	l.mu.Unlock()
	for _, f := range fns {
		f(kind)
	}
}

// OnSnapshot registers f to run after every snapshot: a snapshot follows a
// (re)connect, after which the local Asterisk may have lost what the sink
// wrote (a restart) and the remote state must be written again.
func (l *Local) OnSnapshot(f func(Kind)) {
	l.mu.Lock()
	l.snapshots = append(l.snapshots, f)
	l.mu.Unlock()
}

// usable refuses a name that fails CheckName, whoever reported it: the
// AMI adapter drops those already, and nothing unchecked may reach a peer.
func (l *Local) usable(s State) bool {
	if CheckName(s.Key.Name) != nil {
		l.badNames.Add(1)
		return false
	}
	return true
}

// BadNames is how many reported states were dropped for their name.
func (l *Local) BadNames() uint64 { return l.badNames.Load() }
