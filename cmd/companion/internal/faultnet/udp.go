package faultnet

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Dir is a direction through a relay.
type Dir int

const (
	// Forward is from a client of the relay to its target.
	Forward Dir = iota
	// Back is from the target to the client it answers.
	Back
)

func (d Dir) String() string {
	if d == Back {
		return "back"
	}
	return "forward"
}

// Faults is what a relay does to the datagrams of one direction. The zero
// value forwards everything at once.
type Faults struct {
	// Loss is the probability that a datagram is dropped.
	Loss float64
	// Duplicate is the probability that a datagram is sent twice.
	Duplicate float64
	// Reorder is the probability that a datagram is held back by
	// ReorderBy (default 30 ms), so that the ones after it overtake it.
	Reorder   float64
	ReorderBy time.Duration
	// Delay is added to every datagram, and a uniform extra delay in
	// [0, Jitter) on top of it (jitter alone reorders too).
	Delay, Jitter time.Duration
	// Drop, when set, sees every datagram first (it must not keep p);
	// those it returns true for are dropped (counted as Filtered). It is
	// called from the relay's goroutines, one datagram at a time per
	// direction.
	Drop func(p []byte) bool
}

// Counters is what a relay did in one direction.
type Counters struct {
	Received   uint64 // datagrams read
	Forwarded  uint64 // datagrams written, duplicates included
	Dropped    uint64 // dropped by Loss
	Filtered   uint64 // dropped by Faults.Drop
	Duplicated uint64 // sent twice
	Reordered  uint64 // held back by ReorderBy
	Delayed    uint64 // sent later than read (Delay, Jitter or Reorder)
	Overflow   uint64 // dropped because a bound was hit (queue, sessions)
	SendErrors uint64 // writes that failed
}

func (c *Counters) add(o Counters) {
	c.Received += o.Received
	c.Forwarded += o.Forwarded
	c.Dropped += o.Dropped
	c.Filtered += o.Filtered
	c.Duplicated += o.Duplicated
	c.Reordered += o.Reordered
	c.Delayed += o.Delayed
	c.Overflow += o.Overflow
	c.SendErrors += o.SendErrors
}

// Bounds of a UDPRelay.
const (
	// MaxSessions is how many client source addresses a relay serves;
	// datagrams from further ones are dropped (Overflow).
	MaxSessions = 256
	// MaxQueued is how many delayed datagrams a relay holds at once;
	// further ones are dropped (Overflow).
	MaxQueued   = 1 << 14
	maxDatagram = 1 << 16
)

// UDPRelay forwards datagrams sent to Addr to a target, and the target's
// answers back to their client, through faults set per direction.
type UDPRelay struct {
	front  *net.UDPConn
	target netip.AddrPort

	dropMu   [2]sync.Mutex // one Faults.Drop call at a time per direction
	mu       sync.Mutex
	rng      *rand.Rand
	faults   [2]Faults
	counters [2]Counters
	sessions map[netip.AddrPort]*udpSession
	queue    sendQueue
	seq      uint64
	closed   bool

	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

type udpSession struct {
	client netip.AddrPort
	up     *net.UDPConn // unconnected: ICMP errors do not end it
}

// NewUDPRelay listens on listen (a loopback "host:port"; "" picks a free
// port on 127.0.0.1) and forwards to target ("host:port"). seed seeds the
// relay's random decisions.
func NewUDPRelay(listen, target string, seed uint64) (*UDPRelay, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, fmt.Errorf("faultnet: target %q: %w", target, err)
	}
	la, err := net.ResolveUDPAddr("udp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen %q: %w", listen, err)
	}
	front, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("faultnet: %w", err)
	}
	r := &UDPRelay{
		front:    front,
		target:   unmap(ta.AddrPort()),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sessions: make(map[netip.AddrPort]*udpSession),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	r.wg.Add(2)
	go r.readFront()
	go r.schedule()
	return r, nil
}

// Addr is the address to send to in order to reach the target.
func (r *UDPRelay) Addr() string { return r.front.LocalAddr().String() }

// Port is Addr's port.
func (r *UDPRelay) Port() int { return r.front.LocalAddr().(*net.UDPAddr).Port }

// Set sets the faults of direction d, replacing the previous ones.
func (r *UDPRelay) Set(d Dir, f Faults) {
	r.mu.Lock()
	r.faults[d] = f
	r.mu.Unlock()
}

// Heal turns every fault off in both directions. Datagrams already held
// back still go out when their time comes.
func (r *UDPRelay) Heal() {
	r.mu.Lock()
	r.faults = [2]Faults{}
	r.mu.Unlock()
}

// Counters returns what the relay did so far in direction d.
func (r *UDPRelay) Counters(d Dir) Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters[d]
}

// Close stops the relay and waits for its goroutines. Held datagrams are
// dropped.
func (r *UDPRelay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.done)
	err := r.front.Close()
	for _, s := range r.sessions {
		s.up.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (r *UDPRelay) readFront() {
	defer r.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := r.front.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = unmap(from)
		s := r.session(from)
		if s == nil {
			r.mu.Lock()
			r.counters[Forward].Received++
			r.counters[Forward].Overflow++
			r.mu.Unlock()
			continue
		}
		up := s.up
		r.pass(Forward, buf[:n], func(p []byte) error {
			_, err := up.WriteToUDPAddrPort(p, r.target)
			return err
		})
	}
}

// session returns the upstream of client from, opening it (and its
// reader) the first time; nil when closed or over MaxSessions.
func (r *UDPRelay) session(from netip.AddrPort) *udpSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sessions[from]; s != nil {
		return s
	}
	if r.closed || len(r.sessions) >= MaxSessions {
		return nil
	}
	local := &net.UDPAddr{IP: net.IP(r.target.Addr().AsSlice())}
	if !r.target.Addr().IsLoopback() {
		local = nil
	}
	up, err := net.ListenUDP("udp", local)
	if err != nil {
		return nil
	}
	s := &udpSession{client: from, up: up}
	r.sessions[from] = s
	r.wg.Add(1)
	go r.readUp(s)
	return s
}

func (r *UDPRelay) readUp(s *udpSession) {
	defer r.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := s.up.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if unmap(from) != r.target {
			continue // not from the target: not ours to pass on
		}
		r.pass(Back, buf[:n], func(p []byte) error {
			_, err := r.front.WriteToUDPAddrPort(p, s.client)
			return err
		})
	}
}

// pass applies direction d's faults to datagram p (which it copies when
// it keeps it) and sends it, now or later, with send.
func (r *UDPRelay) pass(d Dir, p []byte, send func([]byte) error) {
	r.mu.Lock()
	f := r.faults[d]
	c := &r.counters[d]
	c.Received++
	if f.Drop != nil {
		// Called without the lock: it may be slow or look at counters.
		r.mu.Unlock()
		r.dropMu[d].Lock()
		drop := f.Drop(p)
		r.dropMu[d].Unlock()
		r.mu.Lock()
		c = &r.counters[d]
		if drop {
			c.Filtered++
			r.mu.Unlock()
			return
		}
	}
	if f.Loss > 0 && r.rng.Float64() < f.Loss {
		c.Dropped++
		r.mu.Unlock()
		return
	}
	copies := 1
	if f.Duplicate > 0 && r.rng.Float64() < f.Duplicate {
		copies = 2
		c.Duplicated++
	}
	var delays [2]time.Duration
	for i := range copies {
		delays[i] = f.Delay
		if f.Jitter > 0 {
			delays[i] += time.Duration(r.rng.Int64N(int64(f.Jitter)))
		}
		if f.Reorder > 0 && r.rng.Float64() < f.Reorder {
			by := f.ReorderBy
			if by <= 0 {
				by = 30 * time.Millisecond
			}
			delays[i] += by
			c.Reordered++
		}
	}
	if delays[0] == 0 && delays[1] == 0 {
		r.mu.Unlock()
		for range copies {
			r.send(d, p, send)
		}
		return
	}
	now := time.Now()
	for i := range copies {
		if len(r.queue) >= MaxQueued || r.closed {
			c.Overflow++
			continue
		}
		if delays[i] == 0 {
			// Goes through the queue too, at once, to keep the copies'
			// decisions in one place.
			delays[i] = time.Nanosecond
		}
		c.Delayed++
		r.seq++
		heap.Push(&r.queue, &queued{at: now.Add(delays[i]), seq: r.seq, dir: d, p: append([]byte(nil), p...), send: send})
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *UDPRelay) send(d Dir, p []byte, send func([]byte) error) {
	err := send(p)
	r.mu.Lock()
	if err != nil {
		r.counters[d].SendErrors++
	} else {
		r.counters[d].Forwarded++
	}
	r.mu.Unlock()
}

// schedule sends held datagrams when their time comes.
func (r *UDPRelay) schedule() {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		var next *queued
		wait := time.Duration(-1)
		if len(r.queue) > 0 {
			if wait = time.Until(r.queue[0].at); wait <= 0 {
				next = heap.Pop(&r.queue).(*queued)
			}
		}
		r.mu.Unlock()
		if next != nil {
			r.send(next.dir, next.p, next.send)
			continue
		}
		if wait < 0 {
			wait = time.Hour // woken by wake or done long before
		}
		timer.Reset(wait)
		select {
		case <-r.done:
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

type queued struct {
	at   time.Time
	seq  uint64
	dir  Dir
	p    []byte
	send func([]byte) error
}

// sendQueue orders held datagrams by send time, then arrival.
type sendQueue []*queued

func (q sendQueue) Len() int { return len(q) }
func (q sendQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q sendQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *sendQueue) Push(x any)   { *q = append(*q, x.(*queued)) }
func (q *sendQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return x
}
