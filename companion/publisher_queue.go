package companion

// queued is a value to send for one key: whether a live change queued it
// (then it goes before the keys of a full send), and its number in its
// shard, which tells it from a newer value of the same key.
type queued struct {
	e    Entry
	live bool
	seq  uint64
}

// shardQueue is what a shard has to send. The shard's lock guards it.
type shardQueue interface {
	// push queues q; force replaces a queued value of the key even when
	// q is not newer. It reports the number of the value it replaced.
	push(q queued, force bool) (replaced uint64, ok bool)
	// next is the value to send next.
	next() (queued, bool)
	// done drops the value numbered seq, sent, unless a newer one
	// replaced it.
	done(k Key, seq uint64)
	len() int
}

// coalescingQueue keeps the newest value per key, live changes first.
//
// It holds no copy of a value the local table holds: what is queued for a
// key is its version, and the value is read from the table when the key
// is sent (the table's is then the newest). Only a value the table does
// not hold (a removal, a clearing by a new filter) is kept, rarely. A
// startup dump queues every key to every peer, so what a queued key costs
// is what the dump costs per key and peer.
type coalescingQueue struct {
	lookup  func(Key) (Entry, bool) // the local table's value of a key
	pending map[Key]pendingKey      // the newest value to send, per key
	live    keyQueue                // keys queued by live changes: sent first
	bulk    keyQueue                // keys queued by a full send
	peak    int                     // most keys pending since the queue was last empty
}

// releaseAbove is the size past which an emptied queue gives its memory
// back: a Go map does not shrink, and a dump's would stay as large as the
// dump for good.
const releaseAbove = 256

// pendingKey is what a coalescingQueue holds for a key.
type pendingKey struct {
	version uint64
	seq     uint64
	own     *Entry // the value to send, when it is not the table's
	live    bool
}

func newCoalescingQueue(lookup func(Key) (Entry, bool)) *coalescingQueue {
	return &coalescingQueue{lookup: lookup, pending: make(map[Key]pendingKey)}
}

// ownValue is n's value when the table does not hold it: a removal, or a
// value forced in (a clearing).
func ownValue(n queued, force bool) *Entry {
	if !n.e.Removed && !force {
		return nil
	}
	e := n.e
	return &e
}

// push records n as the value to send for its key, replacing an older
// queued one. A key queued by both a change and a full send is live.
func (c *coalescingQueue) push(n queued, force bool) (uint64, bool) {
	k := n.e.State.Key
	q, ok := c.pending[k]
	if !ok {
		c.pending[k] = pendingKey{version: n.e.Version, seq: n.seq, own: ownValue(n, force), live: n.live}
		c.peak = max(c.peak, len(c.pending))
		if n.live {
			c.live.push(k)
		} else {
			c.bulk.push(k)
		}
		return 0, false
	}
	var replaced uint64
	changed := force || n.e.Version > q.version
	if changed {
		replaced = q.seq
		q.version, q.seq, q.own = n.e.Version, n.seq, ownValue(n, force)
	}
	if n.live && !q.live {
		q.live = true
		c.live.push(k)
	}
	c.pending[k] = q
	return replaced, changed
}

// next returns the oldest live key's value, else the oldest of the full
// send. Slots of keys sent since, or moved to the live queue, are skipped,
// and so are keys the table no longer holds: their removal is on its way.
func (c *coalescingQueue) next() (queued, bool) {
	for _, l := range [...]struct {
		q    *keyQueue
		live bool
	}{{&c.live, true}, {&c.bulk, false}} {
		for {
			k, ok := l.q.front()
			if !ok {
				break
			}
			if q, pending := c.pending[k]; pending && q.live == l.live {
				if q.own != nil {
					return queued{e: *q.own, live: q.live, seq: q.seq}, true
				}
				e, held := c.lookup(k)
				if held {
					// A newer value in the table is sent now: its change,
					// when it is routed, then finds nothing newer to queue.
					q.version = max(q.version, e.Version)
					c.pending[k] = q
					return queued{e: e, live: q.live, seq: q.seq}, true
				}
				delete(c.pending, k)
				l.q.pop()
				c.releaseIfEmpty()
				continue
			}
			l.q.pop()
		}
	}
	return queued{}, false
}

func (c *coalescingQueue) done(k Key, seq uint64) {
	q, ok := c.pending[k]
	if !ok || q.seq != seq {
		return
	}
	delete(c.pending, k)
	for _, kq := range []*keyQueue{&c.live, &c.bulk} {
		if f, ok := kq.front(); ok && f == k {
			kq.pop()
		}
	}
	c.releaseIfEmpty()
}

func (c *coalescingQueue) releaseIfEmpty() {
	if len(c.pending) > 0 || c.peak <= releaseAbove {
		return
	}
	c.pending = make(map[Key]pendingKey)
	c.live, c.bulk, c.peak = keyQueue{}, keyQueue{}, 0
}

func (c *coalescingQueue) len() int { return len(c.pending) }

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

// fifoQueue sends every value in the order it came, none coalesced, full
// sends behind nothing: the native module's model, for the bench's
// baseline (PublisherOptions.FIFO).
type fifoQueue struct {
	items []queued
	head  int
}

// MaxFIFO bounds a FIFO publisher's queue: past it, new values are
// dropped. The native module has no bound; the baseline needs one.
const MaxFIFO = 1 << 20

func (f *fifoQueue) push(n queued, _ bool) (uint64, bool) {
	if f.len() < MaxFIFO {
		f.items = append(f.items, n)
	}
	return 0, false
}

func (f *fifoQueue) next() (queued, bool) {
	if f.head == len(f.items) {
		return queued{}, false
	}
	return f.items[f.head], true
}

func (f *fifoQueue) done(_ Key, seq uint64) {
	if f.head == len(f.items) || f.items[f.head].seq != seq {
		return
	}
	f.items[f.head] = queued{}
	f.head++
	switch {
	case f.head == len(f.items):
		f.items, f.head = f.items[:0], 0
	case f.head > 1024 && f.head > len(f.items)/2:
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
}

func (f *fifoQueue) len() int { return len(f.items) - f.head }
