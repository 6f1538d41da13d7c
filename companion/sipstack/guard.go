package sipstack

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Bounds on accepted TCP and TLS connections, which sipgo leaves
// unbounded (each costs a file descriptor, a goroutine and a 64 KiB read
// buffer).
const (
	// DefaultMaxConns caps the TCP and TLS connections accepted and open
	// at once, all listeners together. A mesh has tens of peers, each
	// with a connection or two; 256 leaves room for them all, restarts
	// and stale sockets included, and keeps the stack (about 17 MiB of
	// read buffers) well under the common 1024 descriptors.
	DefaultMaxConns = 256
	// DefaultMaxConnsPerSource caps the connections from one IP address:
	// a peer needs one (two while a restart's old socket drains); several
	// Asterisk or companion instances behind one NAT address get a few
	// each, and one address cannot take the whole of DefaultMaxConns.
	DefaultMaxConnsPerSource = 8
	// DefaultMessageTimeout bounds the time from the first byte of a
	// message to its last. A PUBLISH is a few hundred bytes, sent in one
	// write.
	DefaultMessageTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a connection on which no complete message
	// arrived for that long (keep-alive CRLFs do not count). Peers dial
	// again for their next PUBLISH.
	DefaultIdleTimeout = 2 * time.Minute
)

// Delays between tries of a listener that fails: accept errors such as
// EMFILE, and rebinding a listener whose loop ended.
const (
	minRetryDelay = 5 * time.Millisecond
	maxRetryDelay = time.Second
)

// nextDelay doubles d within [minRetryDelay, maxRetryDelay].
func nextDelay(d time.Duration) time.Duration {
	return min(max(2*d, minRetryDelay), maxRetryDelay)
}

// guardListener is a TCP listener as sipgo's accept loop sees it: a
// temporary accept error (out of descriptors, a connection aborted before
// accept) waits and accepts again rather than end sipgo's loop, and a
// connection from a source not admitted or over a cap is closed at once.
type guardListener struct {
	net.Listener
	st   *Stack
	name string // the listener, for messages

	stop chan struct{} // closed by Close: ends a wait
	once sync.Once
}

func (l *guardListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			delay = 0
			if g := l.st.admitConn(c, l.name); g != nil {
				return g, nil
			}
			continue
		}
		if !temporary(err) {
			return nil, err
		}
		l.st.acceptFailed(l.name, err)
		delay = nextDelay(delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

func (l *guardListener) Close() error {
	l.once.Do(func() { close(l.stop) })
	return l.Listener.Close()
}

// temporary reports an accept or read error that passes: the descriptors
// or buffers of the system are exhausted for now, or one connection
// failed before it was accepted.
func temporary(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ECONNRESET,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EPROTO, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// guardConn is an accepted connection counted against the caps until it
// is closed.
type guardConn struct {
	net.Conn
	st   *Stack
	from netip.Addr
	once sync.Once
}

func (c *guardConn) Close() error {
	c.once.Do(func() { c.st.releaseConn(c.from) })
	return c.Conn.Close()
}

// frameListener hands sipgo each accepted connection timed by whole
// messages (framedConn). It sits above TLS, so that the framer reads SIP.
type frameListener struct {
	net.Listener
	st *Stack
}

func (l frameListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.st.framed(c), nil
}

// framed wraps c in a framedConn with the Stack's bounds. Over TLS the
// handshake must be over within the message timeout.
func (s *Stack) framed(c net.Conn) net.Conn {
	src := ""
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = a.AddrPort().Addr().Unmap().String()
	}
	fc := newFramedConn(c, s, src, s.msgTimeout, s.idleTimeout)
	if tc, ok := c.(*tls.Conn); ok {
		fc.handshake = tc
		fc.msgStart = fc.lastMsg
	}
	return fc
}
