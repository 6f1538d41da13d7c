package faultnet

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// TCPCounters is what a TCPProxy did so far.
type TCPCounters struct {
	Accepted     uint64 // connections accepted
	DialErrors   uint64 // accepted connections closed because the target did not answer
	Cut          uint64 // connections closed by Cut
	BytesForward uint64 // bytes written to the target
	BytesBack    uint64 // bytes written back to clients
}

// DialTimeout bounds the proxy's connection to its target.
const DialTimeout = 5 * time.Second

// chunkQueue is how many read chunks a connection holds per direction
// before reading stops (while stalled or delayed).
const chunkQueue = 16

// TCPProxy forwards connections made to Addr to a target, each as two
// byte streams that can be delayed and stalled; on command it cuts every
// connection, or stops listening and listens again on the same port.
type TCPProxy struct {
	addr   string
	target string

	mu       sync.Mutex
	ln       net.Listener  // nil while refusing
	delay    time.Duration // added to every chunk
	gate     chan struct{} // closed while bytes flow; open while stalled
	conns    map[*proxied]struct{}
	counters TCPCounters
	closed   bool

	wg sync.WaitGroup
}

type proxied struct {
	client, server net.Conn
	once           sync.Once
	gone           chan struct{}
}

func (c *proxied) close() {
	c.once.Do(func() {
		close(c.gone)
		c.client.Close()
		c.server.Close()
	})
}

// NewTCPProxy listens on listen (a loopback "host:port"; "" picks a free
// port on 127.0.0.1) and forwards every connection to target.
func NewTCPProxy(listen, target string) (*TCPProxy, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("faultnet: %w", err)
	}
	open := make(chan struct{})
	close(open)
	p := &TCPProxy{
		addr:   ln.Addr().String(),
		target: target,
		ln:     ln,
		gate:   open,
		conns:  make(map[*proxied]struct{}),
	}
	p.wg.Add(1)
	go p.accept(ln)
	return p, nil
}

// Addr is the address to connect to in order to reach the target; it
// stays the same across Refuse.
func (p *TCPProxy) Addr() string { return p.addr }

// SetDelay delays every chunk of bytes read from now on by d, in both
// directions.
func (p *TCPProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// Stall holds every byte in both directions (connections stay open and
// new ones are accepted) until Resume or Heal.
func (p *TCPProxy) Stall() {
	p.mu.Lock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
	p.mu.Unlock()
}

// Resume lets held bytes flow again.
func (p *TCPProxy) Resume() {
	p.mu.Lock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
}

// Cut closes every open connection, on both sides, and reports how many.
// Bytes held for them are lost.
func (p *TCPProxy) Cut() int {
	p.mu.Lock()
	cs := make([]*proxied, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.counters.Cut += uint64(len(cs))
	p.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
	return len(cs)
}

// Refuse stops listening, so that new connections are refused (open ones
// stay); Listen listens again on the same port.
func (p *TCPProxy) Refuse() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// Listen listens again on Addr after Refuse; it does nothing while
// listening.
func (p *TCPProxy) Listen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return net.ErrClosed
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("faultnet: listening again on %s: %w", p.addr, err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// Heal removes the delay, resumes stalled bytes and listens again.
func (p *TCPProxy) Heal() error {
	p.SetDelay(0)
	p.Resume()
	return p.Listen()
}

// Counters returns what the proxy did so far.
func (p *TCPProxy) Counters() TCPCounters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counters
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	ln := p.ln
	p.ln = nil
	cs := make([]*proxied, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, c := range cs {
		c.close()
	}
	p.wg.Wait()
	return nil
}

func (p *TCPProxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: wait briefly, bounded by
			// the listener's close.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, DialTimeout)
		p.mu.Lock()
		p.counters.Accepted++
		if err != nil || p.closed {
			if err != nil {
				p.counters.DialErrors++
			}
			p.mu.Unlock()
			client.Close()
			if server != nil {
				server.Close()
			}
			continue
		}
		c := &proxied{client: client, server: server, gone: make(chan struct{})}
		p.conns[c] = struct{}{}
		p.wg.Add(4)
		p.mu.Unlock()
		p.pipe(c, client, server, &p.counters.BytesForward)
		p.pipe(c, server, client, &p.counters.BytesBack)
	}
}

type chunk struct {
	at time.Time
	b  []byte
}

// pipe copies src to dst through the proxy's delay and gate; either side
// ending ends the whole connection.
func (p *TCPProxy) pipe(c *proxied, src, dst net.Conn, count *uint64) {
	ch := make(chan chunk, chunkQueue)
	go func() {
		defer p.wg.Done()
		defer close(ch)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case ch <- chunk{at: time.Now(), b: append([]byte(nil), buf[:n]...)}:
				case <-c.gone:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		defer p.forget(c)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for k := range ch {
			if !p.hold(c, k.at, timer) {
				return
			}
			if _, err := dst.Write(k.b); err != nil {
				return
			}
			p.mu.Lock()
			*count += uint64(len(k.b))
			p.mu.Unlock()
		}
	}()
}

// hold waits until a chunk read at may go: the gate open and the delay
// past. It reports false when the connection is gone.
func (p *TCPProxy) hold(c *proxied, at time.Time, timer *time.Timer) bool {
	for {
		p.mu.Lock()
		gate, delay := p.gate, p.delay
		p.mu.Unlock()
		select {
		case <-gate:
		case <-c.gone:
			return false
		}
		wait := time.Until(at.Add(delay))
		if wait <= 0 {
			// Stalled while the delay ran? Then wait for the gate again.
			p.mu.Lock()
			gate = p.gate
			p.mu.Unlock()
			select {
			case <-gate:
				return true
			default:
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-c.gone:
			return false
		}
	}
}

func (p *TCPProxy) forget(c *proxied) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
