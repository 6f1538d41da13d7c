package amitest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Session is one logged-in connection of a Server.
type Session struct {
	srv  *Server
	conn net.Conn
	n    int // 1-based, in login order

	wmu sync.Mutex // one writer at a time: answers and played events must not interleave

	silent atomic.Bool

	mu      sync.Mutex
	actions []Message
	raw     []byte // every byte read after the login
	closed  bool
	changed chan struct{}
}

// N is the session's number, 1 for the first accepted login.
func (s *Session) N() int { return s.n }

// Send writes each chunk with its own Write, as the recording's packets.
func (s *Session) Send(chunks ...[]byte) error { return s.write(chunks...) }

// SendString is Send for text.
func (s *Session) SendString(chunks ...string) error {
	for _, c := range chunks {
		if err := s.write([]byte(c)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) write(chunks ...[]byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, c := range chunks {
		if _, err := s.conn.Write(c); err != nil {
			return ErrClosed
		}
	}
	return nil
}

// Drop closes the connection at once, as a crash does: no Shutdown event,
// and whatever message was half sent stays half sent.
func (s *Session) Drop() { _ = s.conn.Close() }

// Silence makes the session swallow every later action, keepalive Pings
// included, while keeping the connection open: a hung Asterisk.
func (s *Session) Silence() { s.silent.Store(true) }

// Actions returns what the client sent in this session after logging in.
func (s *Session) Actions() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.actions...)
}

// Received returns every byte the client sent in this session after its
// Login, as read from the socket: actions, and any stray or partial line.
func (s *Session) Received() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.raw...)
}

func (s *Session) received(b []byte) {
	s.mu.Lock()
	s.raw = append(s.raw, b...)
	s.mu.Unlock()
}

// Await waits, at most Wait, for an action satisfying match and returns
// the first one (including those received before the call).
func (s *Session) Await(t testing.TB, what string, match func(Message) bool) Message {
	t.Helper()
	return s.AwaitFor(t, Wait, what, match)
}

// AwaitFor is Await with another bound, for waits set by the client's
// fixed timers (amigo's keepalive runs every 5 s).
func (s *Session) AwaitFor(t testing.TB, bound time.Duration, what string, match func(Message) bool) Message {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, a := range s.actions {
			if match(a) {
				s.mu.Unlock()
				return a
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("amitest: session %d: no %s within %v", s.n, what, bound)
			return nil
		}
	}
}

// AwaitAction waits for an action named name.
func (s *Session) AwaitAction(t testing.TB, name string) Message {
	t.Helper()
	return s.Await(t, name+" action", IsAction(name))
}

// AwaitClosed waits until the connection has ended.
func (s *Session) AwaitClosed(t testing.TB) {
	t.Helper()
	deadline := time.NewTimer(Wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		closed, ch := s.closed, s.changed
		s.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("amitest: session %d still open after %v", s.n, Wait)
		}
	}
}

// IsAction matches actions by name.
func IsAction(name string) func(Message) bool {
	return func(a Message) bool { return equalFold(a.Action(), name) }
}

func (s *Session) record(a Message) {
	s.mu.Lock()
	s.actions = append(s.actions, a)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Session) markClosed() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
}
