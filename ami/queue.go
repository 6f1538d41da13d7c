package ami

import (
	"context"
	"sync"

	"github.com/astcompanion/sidecar/companion"
)

// queue hands what amigo's event goroutine parses to the goroutine that
// calls the Observer. amigo runs handlers on the goroutine that feeds its
// reader, so a handler that waited for a slow Observer would stall the
// reader (keepalive timeout, reconnect) once amigo's 4096-event buffer is
// full. Putting never blocks; state is latest-value, so the queue keeps
// one pending state per key (the newest) and at most one pending snapshot
// per kind: memory is bounded by the number of keys and the newest value
// of every key is delivered.
type queue struct {
	mu      sync.Mutex
	pending map[companion.Key]int // index into order
	order   []companion.State     // pending states, in the order their keys first became pending
	snaps   []snapshot            // at most one per kind
	wake    chan struct{}
}

type snapshot struct {
	kind   companion.Kind
	states []companion.State
}

func newQueue() *queue {
	return &queue{pending: make(map[companion.Key]int), wake: make(chan struct{}, 1)}
}

// put queues s, replacing a pending state of the same key.
func (q *queue) put(s companion.State) {
	q.mu.Lock()
	if i, ok := q.pending[s.Key]; ok {
		q.order[i] = s
	} else {
		q.pending[s.Key] = len(q.order)
		q.order = append(q.order, s)
	}
	q.mu.Unlock()
	q.signal()
}

// putSnapshot queues a snapshot of kind. It supersedes every pending state
// of that kind: those were put before it, so the snapshot holds a value at
// least as new for each of their keys, or knows the key is gone. States
// put after it are delivered after it.
func (q *queue) putSnapshot(kind companion.Kind, states []companion.State) {
	q.mu.Lock()
	kept := q.order[:0]
	for _, s := range q.order {
		if s.Key.Kind == kind {
			delete(q.pending, s.Key)
			continue
		}
		q.pending[s.Key] = len(kept)
		kept = append(kept, s)
	}
	clear(q.order[len(kept):])
	q.order = kept
	snaps := q.snaps[:0]
	for _, sn := range q.snaps {
		if sn.kind != kind {
			snaps = append(snaps, sn)
		}
	}
	q.snaps = append(snaps, snapshot{kind: kind, states: states})
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take moves everything pending into snaps and batch (reused buffers).
// Snapshots come first: the states taken with them were put after them.
func (q *queue) take(snaps []snapshot, batch []companion.State) ([]snapshot, []companion.State) {
	q.mu.Lock()
	snaps = append(snaps, q.snaps...)
	clear(q.snaps)
	q.snaps = q.snaps[:0]
	batch = append(batch, q.order...)
	clear(q.order)
	q.order = q.order[:0]
	clear(q.pending)
	q.mu.Unlock()
	return snaps, batch
}

// pendingKeys is how many keys wait for delivery (tests check the bound).
func (q *queue) pendingKeys() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// run delivers to obs until ctx is done; what is pending then is dropped.
func (q *queue) run(ctx context.Context, obs companion.Observer) {
	var snaps []snapshot
	var batch []companion.State
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		for {
			snaps, batch = q.take(snaps[:0], batch[:0])
			if len(snaps) == 0 && len(batch) == 0 {
				break
			}
			for _, sn := range snaps {
				obs.Snapshot(sn.kind, sn.states)
			}
			clear(snaps)
			for _, s := range batch {
				if ctx.Err() != nil {
					return
				}
				obs.Observe(s)
			}
		}
	}
}
