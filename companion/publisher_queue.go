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
type coalescingQueue struct {
	pending map[Key]*queued // the newest value to send, per key
	live    keyQueue        // keys queued by live changes: sent first
	bulk    keyQueue        // keys queued by a full send
}

func newCoalescingQueue() *coalescingQueue {
	return &coalescingQueue{pending: make(map[Key]*queued)}
}

// push records n as the value to send for its key, replacing an older
// queued one. A key queued by both a change and a full send is live.
func (c *coalescingQueue) push(n queued, force bool) (uint64, bool) {
	k := n.e.State.Key
	q, ok := c.pending[k]
	if !ok {
		q = new(queued) // not &n: n would then escape on every call
		*q = n
		c.pending[k] = q
		if n.live {
			c.live.push(k)
		} else {
			c.bulk.push(k)
		}
		return 0, false
	}
	var replaced uint64
	changed := force || n.e.Version > q.e.Version
	if changed {
		replaced = q.seq
		q.e, q.seq = n.e, n.seq
	}
	if n.live && !q.live {
		q.live = true
		c.live.push(k)
	}
	return replaced, changed
}

// next returns the oldest live key's value, else the oldest of the full
// send. Slots of keys sent since, or moved to the live queue, are skipped.
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
				return *q, true
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
