package main

import (
	"sync"
	"time"
)

// stopBarrier orders the stop of companions that are peers of each other
// in one process (the demo): each keeps its SIP stack answering after its
// own exchange has removed its publications, until every companion that
// joined has done the same, so that no removal is sent to a stack that is
// already closed (which would time out and warn). The wait is bounded.
type stopBarrier struct {
	timeout time.Duration

	mu      sync.Mutex
	running int
	all     chan struct{} // closed when running drops to 0
}

func newStopBarrier(timeout time.Duration) *stopBarrier {
	return &stopBarrier{timeout: timeout, all: make(chan struct{})}
}

// join counts a companion that started; nil-safe.
func (b *stopBarrier) join() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.running++
	b.mu.Unlock()
}

// arrive says this companion's exchange has stopped and waits until all
// that joined have, or the timeout; nil-safe.
func (b *stopBarrier) arrive() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.running--
	if b.running == 0 {
		close(b.all)
	}
	b.mu.Unlock()
	t := time.NewTimer(b.timeout)
	defer t.Stop()
	select {
	case <-b.all:
	case <-t.C:
	}
}
