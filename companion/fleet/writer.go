package fleet

import (
	"sync"

	"github.com/astcompanion/sidecar/companion"
)

// writer is the queue of this node's keys to bring in line with the local
// table, coalesced per key like the SIP publisher: a key changed ten times
// while it waits is written once, with its newest value, and a key being
// written is never written by two workers at once. It also remembers the
// body each of our keys holds in the bucket, to skip writes that change
// nothing and to notice when someone else changed or removed one of them.
// Its size is bounded by the number of local keys.
type writer struct {
	mu    sync.Mutex
	queue []companion.Key
	dirty map[companion.Key]bool
	busy  map[companion.Key]bool
	ours  map[companion.Key]string // body in the bucket, as last written or read
	wake  chan struct{}
}

func newWriter() *writer {
	return &writer{
		dirty: make(map[companion.Key]bool),
		busy:  make(map[companion.Key]bool),
		ours:  make(map[companion.Key]string),
		wake:  make(chan struct{}, 1),
	}
}

// mark queues k to be brought in line.
func (w *writer) mark(k companion.Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.markLocked(k)
}

func (w *writer) markLocked(k companion.Key) {
	if w.dirty[k] {
		return
	}
	w.dirty[k] = true
	if !w.busy[k] {
		w.queue = append(w.queue, k)
		w.signal()
	}
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the next key to write and marks it busy; ok is false when
// none waits.
func (w *writer) take() (k companion.Key, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) > 0 {
		k = w.queue[0]
		w.queue = w.queue[1:]
		if w.dirty[k] && !w.busy[k] {
			delete(w.dirty, k)
			w.busy[k] = true
			if len(w.queue) > 0 {
				w.signal() // another worker can start
			}
			return k, true
		}
	}
	w.queue = nil // let the backing array go
	return k, false
}

// done ends the write of k; a failed write queues k again.
func (w *writer) done(k companion.Key, failed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.busy, k)
	if failed {
		w.dirty[k] = false // re-queued just below
	}
	if failed || w.dirty[k] {
		delete(w.dirty, k)
		w.markLocked(k)
	}
}

// pending is how many keys wait or are being written.
func (w *writer) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirty) + len(w.busy)
}

// claim records body as what k is about to hold in the bucket and reports
// whether that changes anything. An empty body means k is to be removed.
func (w *writer) claim(k companion.Key, body string) (changed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, had := w.ours[k]
	if body == "" {
		delete(w.ours, k)
		return had
	}
	w.ours[k] = body
	return !had || old != body
}

// forget drops what k was recorded to hold: the write failed, or the
// bucket no longer holds it.
func (w *writer) forget(k companion.Key) {
	w.mu.Lock()
	delete(w.ours, k)
	w.mu.Unlock()
}

// seen compares what the bucket says one of our keys holds (body "" for
// removed) with what we recorded; when someone else changed it, the key is
// queued to be written back.
func (w *writer) seen(k companion.Key, body string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if old, had := w.ours[k]; (had && old != body) || (!had && body != "") {
		if body == "" {
			delete(w.ours, k)
		} else {
			w.ours[k] = body
		}
		w.markLocked(k)
	}
}

// loaded replaces the record of our keys with what the bucket holds and
// queues every key the bucket or the local table has.
func (w *writer) loaded(bucket map[companion.Key]string, local []companion.Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ours = bucket
	for k := range bucket {
		w.markLocked(k)
	}
	for _, k := range local {
		w.markLocked(k)
	}
}

// keys returns our keys recorded in the bucket.
func (w *writer) keys() []companion.Key {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]companion.Key, 0, len(w.ours))
	for k := range w.ours {
		out = append(out, k)
	}
	return out
}
