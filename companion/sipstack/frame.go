package sipstack

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// framer follows the message boundaries of a SIP byte stream (RFC 3261
// 7.5 and 18.3) without keeping any of it: a message is a start line and
// header lines up to an empty line (CRLF CRLF), then Content-Length bytes
// of body. CRLFs between messages are keep-alives (RFC 5626 3.5.1). It
// only tells when a message starts and when it is complete, so that a
// connection can be timed; sipgo's parser still does the parsing.
//
// Its memory is constant whatever the input. Where the input is not a
// message sipgo would accept, the framer never declares it complete:
// sipgo closes such a connection itself, and if it did not, the message
// timeout would.
type framer struct {
	st frameState

	// Header section.
	first   bool // still on the start line
	col     int  // bytes on the current line, CR excluded
	cr      bool // the previous byte was a CR
	colon   bool // the current header's ':' was seen
	nameLen int
	nameEnd bool // whitespace followed the header name
	nameBad bool // the name is none of Content-Length's
	name    [len("content-length")]byte
	isCL    bool // the current header is Content-Length or l

	// Content-Length value of the current header.
	digits int
	val    uint64
	gap    bool // whitespace followed the digits
	valBad bool

	haveCL bool
	cl     uint64 // the last Content-Length of the message
	body   uint64 // body bytes still to come
}

type frameState uint8

const (
	frameIdle frameState = iota // between messages
	frameHead                   // start line and headers
	frameBody                   // body
	frameBad                    // no boundary sipgo would accept: never complete
)

// maxContentLength is the largest Content-Length sipgo reads (uint32).
const maxContentLength = 1<<32 - 1

// inMessage reports whether a message has started and is not complete.
func (f *framer) inMessage() bool { return f.st != frameIdle }

// feed advances the framer over p. It returns how many messages p
// completed and whether the message in progress after p, if any,
// started within p.
func (f *framer) feed(p []byte) (completed int, started bool) {
	for i := 0; i < len(p); i++ {
		was := f.st
		switch f.st {
		case frameIdle:
			if b := p[i]; b != '\r' && b != '\n' { // else a keep-alive: no progress
				*f = framer{st: frameHead, first: true}
				started = true
				f.headByte(b)
			}
		case frameHead:
			f.headByte(p[i])
		case frameBody:
			n := min(uint64(len(p)-i), f.body)
			f.body -= n
			i += int(n) - 1
			if f.body == 0 {
				f.st = frameIdle
			}
		case frameBad:
			return completed, started
		}
		if was != frameIdle && f.st == frameIdle {
			completed++
			started = false
		}
	}
	return completed, started
}

// headByte takes one byte of the header section. It leaves st at
// frameBody (with body set), frameIdle (message complete) or frameBad.
func (f *framer) headByte(b byte) {
	if f.cr {
		f.cr = false
		if b == '\n' {
			f.endLine()
			return
		}
		// sipgo refuses a CR that does not end a line.
		f.st = frameBad
		return
	}
	if b == '\r' {
		f.cr = true
		return
	}
	if f.col == 0 && !f.first {
		if b == ' ' || b == '\t' {
			// A folded line continues the header above (RFC 3261 7.3.1):
			// its value goes on, as whitespace.
			f.col++
			f.valueByte(b)
			return
		}
		f.endHeader()
		if f.st == frameBad {
			return
		}
	}
	f.col++
	if f.first {
		return
	}
	if !f.colon {
		f.nameByte(b)
		return
	}
	f.valueByte(b)
}

// endLine handles a CRLF in the header section.
func (f *framer) endLine() {
	if f.col > 0 {
		f.first = false
		f.col = 0
		return
	}
	// The empty line: end of headers.
	f.endHeader()
	if f.st == frameBad {
		return
	}
	if !f.haveCL {
		// sipgo refuses a message without Content-Length on a stream.
		f.st = frameBad
		return
	}
	if f.cl == 0 {
		f.st = frameIdle
		return
	}
	f.st, f.body = frameBody, f.cl
}

// endHeader closes the header that the line before began.
func (f *framer) endHeader() {
	if f.isCL {
		if f.digits == 0 || f.valBad {
			f.st = frameBad
			return
		}
		f.haveCL, f.cl = true, f.val
	}
	f.colon, f.nameLen, f.nameEnd, f.nameBad, f.isCL = false, 0, false, false, false
	f.digits, f.val, f.gap, f.valBad = 0, 0, false, false
}

func (f *framer) nameByte(b byte) {
	switch {
	case b == ':':
		f.colon = true
		n := string(f.name[:f.nameLen])
		f.isCL = !f.nameBad && (n == "content-length" || n == "l")
	case trimmedSpace(b):
		if f.nameLen > 0 {
			f.nameEnd = true
		}
	case f.nameEnd || f.nameLen == len(f.name):
		f.nameBad = true
	default:
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		f.name[f.nameLen] = b
		f.nameLen++
	}
}

func (f *framer) valueByte(b byte) {
	if !f.isCL {
		return
	}
	switch {
	case trimmedSpace(b):
		if f.digits > 0 {
			f.gap = true
		}
	case '0' <= b && b <= '9' && !f.gap:
		f.digits++
		f.val = f.val*10 + uint64(b-'0')
		if f.val > maxContentLength {
			f.valBad = true
			f.val = maxContentLength // keep it from overflowing
		}
	default:
		f.valBad = true
	}
}

// framedConn times an accepted stream connection by whole messages,
// where sipgo's read timeout restarts with every read: a message that
// has started must be complete within msgTimeout, and a complete message
// must arrive within idleTimeout of the last one (or of the accept).
// Keep-alive CRLFs are no progress. Past either bound the read fails and
// sipgo closes the connection. sipgo's own deadline is kept when sooner.
type framedConn struct {
	net.Conn
	st         *Stack
	source     string
	msgTimeout time.Duration
	idle       time.Duration

	// Only sipgo's one reading goroutine uses these.
	handshake *tls.Conn // a TLS connection until its handshake is over
	f         framer
	msgStart  time.Time // when the message in progress started
	lastMsg   time.Time // when the last message completed, or the accept

	mu     sync.Mutex
	theirs time.Time // the read deadline sipgo asked for
}

func newFramedConn(c net.Conn, st *Stack, source string, msgTimeout, idle time.Duration) *framedConn {
	return &framedConn{Conn: c, st: st, source: source, msgTimeout: msgTimeout, idle: idle, lastMsg: time.Now()}
}

// SetReadDeadline records sipgo's deadline; Read applies the sooner of it
// and the framer's.
func (c *framedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.theirs = t
	c.mu.Unlock()
	return nil
}

// SetDeadline records the read half as SetReadDeadline does.
func (c *framedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// errSlow is what a read returns when the framer's bound is over.
var errSlow = errors.New("sipstack: closed a connection too slow to send a message")

func (c *framedConn) Read(p []byte) (int, error) {
	ours, reason := c.lastMsg.Add(c.idle), "idle"
	if c.handshake != nil && c.handshake.ConnectionState().HandshakeComplete {
		c.handshake = nil
	}
	if c.handshake != nil || c.f.inMessage() {
		// A TLS handshake counts as part of the first message.
		ours, reason = c.msgStart.Add(c.msgTimeout), "slow"
	}
	c.mu.Lock()
	dl := c.theirs
	c.mu.Unlock()
	mine := dl.IsZero() || ours.Before(dl)
	if mine {
		dl = ours
	}
	if err := c.Conn.SetReadDeadline(dl); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		now := time.Now()
		done, started := c.f.feed(p[:n])
		if done > 0 {
			c.lastMsg = now
		}
		if started {
			c.msgStart = now
		}
	}
	if err != nil && mine && errors.Is(err, os.ErrDeadlineExceeded) {
		c.st.slowClosed(c.source, reason)
		return n, errSlow
	}
	return n, err
}

// trimmedSpace reports the ASCII bytes sipgo trims around a header's name
// and value (bytes.TrimSpace): a bare LF or a form feed inside a CRLF
// line is whitespace to it, so "\nl: 0" is a Content-Length.
func trimmedSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f':
		return true
	}
	return false
}
