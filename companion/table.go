package companion

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Entry is the value a table holds for one (origin, key), or, in a change
// notification, the news that it was removed.
type Entry struct {
	Origin EntityID
	State  State
	// Version grows with every change of the table: an entry's version is
	// the table's version at its last change. A publisher that remembers
	// the version it sent can tell whether its value is still current.
	Version uint64
	// Removed is set only in changes handed out by a Watcher.
	Removed bool
	// Bulk is set only in changes handed out by a Watcher: the change came
	// from a snapshot (Replace), not from a live event, so a publisher
	// queues it behind live changes, as a full send. A key whose pending
	// change is live stays live when a snapshot changes it again.
	Bulk bool
	// At is when the table took this value (or the removal): a publisher
	// measures from it how long a change took to reach a peer.
	At time.Time
}

// Table holds the latest state per (origin EID, key). Two peers may assert
// the same device; keeping their values apart means one of them expiring
// cannot clear the other's. A Table is safe for concurrent use.
type Table struct {
	mu       sync.Mutex
	origins  map[EntityID]map[Key]Entry
	version  uint64
	watchers map[*Watcher]struct{}
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		origins:  make(map[EntityID]map[Key]Entry),
		watchers: make(map[*Watcher]struct{}),
	}
}

// Set stores s as origin's value for s.Key. It reports the stored entry
// and whether anything changed: setting the value already held is not a
// change and notifies nobody.
func (t *Table) Set(origin EntityID, s State) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.set(origin, s, false)
}

func (t *Table) set(origin EntityID, s State, bulk bool) (Entry, bool) {
	s = s.normalized()
	keys := t.origins[origin]
	if old, ok := keys[s.Key]; ok && old.State == s {
		return old, false
	}
	if keys == nil {
		keys = make(map[Key]Entry)
		t.origins[origin] = keys
	}
	t.version++
	e := Entry{Origin: origin, State: s, Version: t.version, At: time.Now()}
	keys[s.Key] = e
	n := e
	n.Bulk = bulk
	t.notify(n)
	return e, true
}

// Delete removes origin's value for k and reports the entry it removed.
func (t *Table) Delete(origin EntityID, k Key) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.delete(origin, k, false)
}

func (t *Table) delete(origin EntityID, k Key, bulk bool) (Entry, bool) {
	keys := t.origins[origin]
	old, ok := keys[k]
	if !ok {
		return Entry{}, false
	}
	delete(keys, k)
	if len(keys) == 0 {
		delete(t.origins, origin)
	}
	t.version++
	t.notify(Entry{Origin: origin, State: old.State, Version: t.version, Removed: true, Bulk: bulk, At: time.Now()})
	return old, true
}

// DeleteOrigin removes everything origin asserted (a peer whose
// publication expired) and returns the removed entries, sorted by key.
func (t *Table) DeleteOrigin(origin EntityID) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	removed := sortedEntries(t.origins[origin])
	for _, e := range removed {
		t.delete(origin, e.State.Key, false)
	}
	return removed
}

// Replace makes origin's values of the given kind exactly states: a
// snapshot taken after a reconnect. Keys of that kind missing from states
// are removed, changed ones updated, unchanged ones left alone (no
// notification), so that watchers see only what really moved while the
// source was away. It reports how many keys changed and how many were
// removed. When a key appears twice in states, the last one wins. Its
// changes reach watchers marked Bulk.
func (t *Table) Replace(origin EntityID, kind Kind, states []State) (changed, removed int) {
	latest := make(map[Key]State, len(states))
	order := make([]Key, 0, len(states))
	for _, s := range states {
		if s.Key.Kind != kind {
			continue
		}
		if _, seen := latest[s.Key]; !seen {
			order = append(order, s.Key)
		}
		latest[s.Key] = s
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range order {
		if _, ok := t.set(origin, latest[k], true); ok {
			changed++
		}
	}
	for _, e := range sortedEntries(t.origins[origin]) {
		if _, ok := latest[e.State.Key]; !ok && e.State.Key.Kind == kind {
			t.delete(origin, e.State.Key, true)
			removed++
		}
	}
	return changed, removed
}

// Get returns origin's entry for k.
func (t *Table) Get(origin EntityID, k Key) (Entry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.origins[origin][k]
	return e, ok
}

// Len returns how many entries origin holds.
func (t *Table) Len(origin EntityID) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.origins[origin])
}

// Entries returns origin's entries, sorted by key.
func (t *Table) Entries(origin EntityID) []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return sortedEntries(t.origins[origin])
}

// Origins returns the origins that hold at least one entry.
func (t *Table) Origins() []EntityID {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]EntityID, 0, len(t.origins))
	for o := range t.origins {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b EntityID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func sortedEntries(keys map[Key]Entry) []Entry {
	out := make([]Entry, 0, len(keys))
	for _, e := range keys {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return compareKeys(a.State.Key, b.State.Key) })
	return out
}

func compareKeys(a, b Key) int {
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// notify runs with t.mu held.
func (t *Table) notify(e Entry) {
	for w := range t.watchers {
		w.offer(e)
	}
}

// Watch returns a Watcher of changes whose (origin, key) pass match (nil
// matches all). match runs with the table locked: it must be quick and
// must not call the table. Changes are coalesced per (origin, key): a
// watcher that falls behind holds at most one pending change per key, the
// newest, so a slow consumer costs bounded memory and never misses a
// latest value.
func (t *Table) Watch(match func(origin EntityID, k Key) bool) *Watcher {
	w := &Watcher{
		table:   t,
		match:   match,
		signal:  make(chan struct{}, 1),
		pending: make(map[originKey]int),
	}
	t.mu.Lock()
	t.watchers[w] = struct{}{}
	t.mu.Unlock()
	return w
}

// WatchEvery is Watch without coalescing: every change is kept, in order,
// up to MaxFIFO pending ones (later ones are dropped). It exists for the
// bench's native-like baseline (PublisherOptions.FIFO), which sends every
// change as the native module does.
func (t *Table) WatchEvery(match func(origin EntityID, k Key) bool) *Watcher {
	w := &Watcher{table: t, match: match, signal: make(chan struct{}, 1)}
	t.mu.Lock()
	t.watchers[w] = struct{}{}
	t.mu.Unlock()
	return w
}

type originKey struct {
	origin EntityID
	key    Key
}

// Watcher collects a table's changes for one consumer.
type Watcher struct {
	table  *Table
	match  func(EntityID, Key) bool
	signal chan struct{}

	mu      sync.Mutex
	order   []Entry           // pending changes, in the order their keys first changed
	pending map[originKey]int // index into order; nil: every change is kept (WatchEvery)
}

// C receives a value whenever changes are pending. One receive may stand
// for many changes: call Changes to take them all. C is closed by Close.
func (w *Watcher) C() <-chan struct{} { return w.signal }

// Changes takes the pending changes, one per (origin, key) carrying its
// newest value, in the order the keys first changed since the last call.
func (w *Watcher) Changes() []Entry {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.order
	w.order = nil
	clear(w.pending)
	return out
}

// Close stops the watcher: pending changes are discarded and C is closed,
// so a consumer waiting on it wakes up. Close is idempotent.
func (w *Watcher) Close() {
	w.table.mu.Lock()
	// offer runs under the table lock, so once w is out of the set nothing
	// sends on w.signal any more and closing it is safe.
	if _, ok := w.table.watchers[w]; ok {
		delete(w.table.watchers, w)
		close(w.signal)
	}
	w.table.mu.Unlock()
	w.Changes()
}

func (w *Watcher) offer(e Entry) {
	if w.match != nil && !w.match(e.Origin, e.State.Key) {
		return
	}
	id := originKey{e.Origin, e.State.Key}
	w.mu.Lock()
	if w.pending == nil {
		if len(w.order) < MaxFIFO {
			w.order = append(w.order, e)
		}
	} else if i, found := w.pending[id]; found {
		e.Bulk = e.Bulk && w.order[i].Bulk // a pending live change stays live
		w.order[i] = e
	} else {
		w.pending[id] = len(w.order)
		w.order = append(w.order, e)
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}
