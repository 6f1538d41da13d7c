package sipstack

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Stats counts what the Stack refused, closed and survived since New.
type Stats struct {
	// ConnsOpen is the TCP and TLS connections accepted and not yet
	// closed.
	ConnsOpen int
	// ConnsRefused counts connections closed at accept because
	// Options.Admit refused their source.
	ConnsRefused uint64
	// ConnsOverCap counts connections closed at accept because MaxConns
	// were open; ConnsOverSourceCap because MaxConnsPerSource were open
	// from the same address.
	ConnsOverCap       uint64
	ConnsOverSourceCap uint64
	// SlowClosed counts connections closed because a message (or a TLS
	// handshake) was not complete within MessageTimeout; IdleClosed
	// because no message came within IdleTimeout.
	SlowClosed uint64
	IdleClosed uint64
	// DatagramsRefused counts UDP datagrams from sources Admit refused;
	// each was answered a stateless 403 (ForbiddenSent) or dropped
	// without an answer (DatagramsDropped: responses, ACKs, unreadable
	// requests, and requests past the per-source rate).
	DatagramsRefused uint64
	ForbiddenSent    uint64
	DatagramsDropped uint64
	// AcceptErrors counts temporary accept errors (EMFILE, ENFILE,
	// ECONNABORTED, ...) waited out; ReadErrors temporary UDP read errors.
	AcceptErrors uint64
	ReadErrors   uint64
	// ListenerRestarts counts listeners rebound after their loop ended
	// while the Stack was open.
	ListenerRestarts uint64
}

// counters are the Stats the Stack keeps; connections open are counted
// under connMu with the per-source counts.
type counters struct {
	connsRefused, connsOverCap, connsOverSourceCap atomic.Uint64
	slowClosed, idleClosed                         atomic.Uint64
	datagramsRefused, forbiddenSent, dropped       atomic.Uint64
	acceptErrors, readErrors, restarts             atomic.Uint64
}

// Stats returns the counts so far.
func (s *Stack) Stats() Stats {
	s.connMu.Lock()
	open := s.connsOpen
	s.connMu.Unlock()
	c := &s.count
	return Stats{
		ConnsOpen:          open,
		ConnsRefused:       c.connsRefused.Load(),
		ConnsOverCap:       c.connsOverCap.Load(),
		ConnsOverSourceCap: c.connsOverSourceCap.Load(),
		SlowClosed:         c.slowClosed.Load(),
		IdleClosed:         c.idleClosed.Load(),
		DatagramsRefused:   c.datagramsRefused.Load(),
		ForbiddenSent:      c.forbiddenSent.Load(),
		DatagramsDropped:   c.dropped.Load(),
		AcceptErrors:       c.acceptErrors.Load(),
		ReadErrors:         c.readErrors.Load(),
		ListenerRestarts:   c.restarts.Load(),
	}
}

// admitConn decides on an accepted connection: it returns it counted
// against the caps, or closes it and returns nil.
func (s *Stack) admitConn(c net.Conn, listener string) net.Conn {
	var from netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		from = a.AddrPort().Addr().Unmap()
	}
	if s.admit != nil && !s.admit(from) {
		_ = c.Close()
		s.count.connsRefused.Add(1)
		s.refusals.Warn(from.String(), "source not admitted", msgNotAdmitted+"; connection closed",
			"listener", listener)
		return nil
	}
	s.connMu.Lock()
	reason := ""
	switch {
	case s.connsOpen >= s.maxConns:
		reason = "connection cap"
		s.count.connsOverCap.Add(1)
	case s.perSource[from] >= s.maxPerSource:
		reason = "per-source connection cap"
		s.count.connsOverSourceCap.Add(1)
	default:
		s.connsOpen++
		s.perSource[from]++
	}
	s.connMu.Unlock()
	if reason != "" {
		_ = c.Close()
		s.refusals.Warn(from.String(), reason, "SIP connection over a cap; closed",
			"listener", listener, "max", s.maxConns, "max_per_source", s.maxPerSource)
		return nil
	}
	return &guardConn{Conn: c, st: s, from: from}
}

func (s *Stack) releaseConn(from netip.Addr) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.connsOpen--
	if n := s.perSource[from] - 1; n > 0 {
		s.perSource[from] = n
	} else {
		delete(s.perSource, from)
	}
}

func (s *Stack) acceptFailed(listener string, err error) {
	s.count.acceptErrors.Add(1)
	s.refusals.Warn(listener, "accept error", "accepting a SIP connection failed; retrying", "error", err.Error())
}

// slowClosed counts a connection the framer's bound closes.
func (s *Stack) slowClosed(source, reason string) {
	if reason == "idle" {
		s.count.idleClosed.Add(1)
		s.log.Debug("closed an idle SIP connection", "source", source)
		return
	}
	s.count.slowClosed.Add(1)
	s.refusals.Warn(source, "message timeout", "SIP connection did not complete a message in time; closed",
		"timeout", s.msgTimeout.String())
}
