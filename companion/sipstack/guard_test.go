package sipstack

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// dialFrom opens a TCP connection to to from the loopback address from
// (any 127.0.0.0/8 address is this host's).
func dialFrom(t *testing.T, from string, to netip.AddrPort) *tcpPeer {
	t.Helper()
	d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &tcpPeer{t: t, c: c, r: bufio.NewReader(c)}
}

// closedSoon reports whether the server closed c within wait: a read
// returns end of file or a reset rather than our deadline.
func closedSoon(c *tcpPeer) bool {
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.r.ReadByte()
	return closedByPeer(err)
}

// until polls cond until it holds or wait is over.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serveCh runs st.Serve until the test ends and returns where its result
// arrives, so that a test can see Serve still running.
func serveCh(t *testing.T, st *Stack, h companion.PublishHandler) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(wait):
			t.Error("Serve did not return")
		}
	})
	waitServing(t, st)
	return errc
}

func stillServing(t *testing.T, errc <-chan error) {
	t.Helper()
	select {
	case err := <-errc:
		t.Fatalf("Serve returned: %v", err)
	default:
	}
}

// Connections past the caps are closed at accept, a connection that
// sends a message one byte at a time is closed when the message timeout
// is over, and a peer is served all along.
func TestConnectionBounds(t *testing.T) {
	st := newStack(t, Options{MaxConns: 5, MaxConnsPerSource: 2, MessageTimeout: 300 * time.Millisecond}, "tcp")
	h := &script{}
	errc := serveCh(t, st, h)
	to := addr(t, st, "tcp")
	open := func(n int) func() bool { return func() bool { return st.Stats().ConnsOpen == n } }

	// One source: its third connection is over the per-source cap.
	dialFrom(t, "127.0.0.2", to)
	dialFrom(t, "127.0.0.2", to)
	until(t, "two open", open(2))
	if c := dialFrom(t, "127.0.0.2", to); !closedSoon(c) {
		t.Error("a third connection from one source stayed open")
	}
	dialFrom(t, "127.0.0.3", to)
	dialFrom(t, "127.0.0.3", to)
	until(t, "four open", open(4))

	// A slow loris: a PUBLISH one byte at a time, never complete.
	loris := dialFrom(t, "127.0.0.4", to)
	until(t, "five open", open(5))
	// All five taken: a new source is over the cap.
	if c := dialFrom(t, "127.0.0.5", to); !closedSoon(c) {
		t.Error("a connection past the total cap stayed open")
	}
	m := publish(ruri("r", to), "127.0.0.4:1", "TCP", []string{"Event: asterisk-mwi"}, "")
	closed := false
	for i := 0; i < len(m)-1 && !closed; i++ {
		_ = loris.c.SetWriteDeadline(time.Now().Add(wait))
		if _, err := loris.c.Write([]byte{m[i]}); err != nil {
			closed = true
			break
		}
		// Bounded by the message length: 300 ms of it are the timeout.
		_ = loris.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := loris.r.ReadByte(); closedByPeer(err) {
			closed = true
		}
	}
	if !closed && !closedSoon(loris) {
		t.Fatal("the slow connection stayed open")
	}
	until(t, "the slow connection counted", func() bool { return st.Stats().SlowClosed == 1 })

	// Its place is free again: a peer is served.
	until(t, "four open", open(4))
	peer := dialFrom(t, "127.0.0.1", to)
	peer.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
	if res, err := peer.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("the peer's PUBLISH: %v %v", res, err)
	}
	if len(h.calls()) != 1 {
		t.Errorf("%d PUBLISHes handed on", len(h.calls()))
	}
	stillServing(t, errc)

	s := st.Stats()
	t.Logf("%+v", s)
	if s.ConnsOverSourceCap != 1 || s.ConnsOverCap != 1 || s.SlowClosed != 1 || s.ConnsOpen != 5 {
		t.Errorf("stats %+v", s)
	}
}

// A connection on which no message completes within the idle timeout is
// closed, keep-alives or not; one that keeps sending messages is not.
func TestIdleTimeoutIgnoresKeepAlives(t *testing.T) {
	st := newStack(t, Options{IdleTimeout: 300 * time.Millisecond}, "tcp")
	serve(t, st, &script{})
	to := addr(t, st, "tcp")
	c := dialTCP(t, to)
	closed := false
	for i := 0; i < 250 && !closed; i++ { // 5 s of keep-alives at most
		_ = c.c.SetWriteDeadline(time.Now().Add(wait))
		if _, err := c.c.Write([]byte("\r\n")); err != nil {
			closed = true
			break
		}
		_ = c.c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.r.ReadByte(); closedByPeer(err) {
			closed = true
		}
	}
	if !closed {
		t.Fatal("keep-alives kept a connection open past the idle timeout")
	}
	until(t, "counted", func() bool { return st.Stats().IdleClosed == 1 })
	if s := st.Stats(); s.SlowClosed != 0 || s.ConnsOpen != 0 {
		t.Errorf("stats %+v", s)
	}
}

// Connections and datagrams from sources Admit refuses never reach the
// handler; a refused request over UDP gets a stateless 403.
func TestAdmit(t *testing.T) {
	peer := netip.MustParseAddr("127.0.0.1")
	st := newStack(t, Options{Admit: func(a netip.Addr) bool { return a == peer }}, "udp", "tcp")
	h := &script{}
	serve(t, st, h)

	if c := dialFrom(t, "127.0.0.2", addr(t, st, "tcp")); !closedSoon(c) {
		t.Error("a connection from a source not admitted stayed open")
	}
	c := dialFrom(t, "127.0.0.1", addr(t, st, "tcp"))
	c.send(publish(ruri("r", addr(t, st, "tcp")), "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
	if res, err := c.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("admitted over TCP: %v %v", res, err)
	}

	to := addr(t, st, "udp")
	stranger := udpPeerAt(t, "127.0.0.2")
	req := publish(ruri("r", to), "127.0.0.2:5999", "UDP", []string{"Event: asterisk-mwi", "Expires: 60"}, devBody)
	stranger.send(to, req)
	res := stranger.response()
	if res.StatusCode != 403 || res.Reason != "Forbidden" {
		t.Fatalf("answer %d %s", res.StatusCode, res.Reason)
	}
	parsed, err := sip.ParseMessage([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	sent := parsed.(*sip.Request)
	for _, name := range []string{"Via", "From", "Call-ID", "CSeq"} {
		if got, want := header(res, name), header(sent, name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
	if got, want := header(res, "To"), header(sent, "To"); !strings.HasPrefix(got, want+";tag=") || len(got) <= len(want+";tag=") {
		t.Errorf("To %q, want %q with a tag", got, want)
	}
	p := newUDPPeer(t)
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
	if res := p.response(); res.StatusCode != 200 {
		t.Errorf("admitted over UDP: %d", res.StatusCode)
	}
	if n := len(h.calls()); n != 2 {
		t.Errorf("%d PUBLISHes handed on, want the 2 admitted", n)
	}
	if s := st.Stats(); s.ConnsRefused != 1 || s.DatagramsRefused != 1 || s.ForbiddenSent != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A listener whose loop ends while the Stack is open is bound again on
// its address, and Serve goes on.
func TestListenerRestarts(t *testing.T) {
	st := newStack(t, Options{}, "udp", "tcp")
	errc := serveCh(t, st, &script{})
	udpTo, tcpTo := addr(t, st, "udp"), addr(t, st, "tcp")
	for _, ln := range st.lns {
		ln.mu.Lock()
		ln.closeSocket() // what sipgo's loops take for the end
		ln.mu.Unlock()
	}
	until(t, "both restarted", func() bool { return st.Stats().ListenerRestarts == 2 })

	var answered bool
	for i := 0; i < 50 && !answered; i++ { // bound: 50 tries
		c, err := net.DialTimeout("tcp", tcpTo.String(), wait)
		if err != nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p := &tcpPeer{t: t, c: c, r: bufio.NewReader(c)}
		p.send(publish(ruri("r", tcpTo), "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
		res, err := p.response()
		_ = c.Close()
		answered = err == nil && res.StatusCode == 200
	}
	if !answered {
		t.Fatal("no answer over TCP after the restart")
	}
	p := newUDPPeer(t)
	answered = false
	buf := make([]byte, 70000)
	for i := 0; i < 50 && !answered; i++ {
		p.send(udpTo, publish(ruri("r", udpTo), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
		_ = p.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := p.c.Read(buf)
		answered = err == nil && parseResponse(t, buf[:n]).StatusCode == 200
	}
	if !answered {
		t.Fatal("no answer over UDP after the restart")
	}
	stillServing(t, errc)
}

// udpPeerAt is a udpPeer bound to a given loopback address.
func udpPeerAt(t *testing.T, ip string) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &udpPeer{t: t, c: c}
}

// Over TLS the handshake is bounded by the message timeout: a client
// that connects and says nothing is closed, and counted as slow; the
// caps count TLS connections too.
func TestSlowTLSHandshake(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	st := newStack(t, Options{
		Node:           companion.NodeConfig{TLSCertFile: certFile, TLSKeyFile: keyFile},
		MessageTimeout: 200 * time.Millisecond,
	}, "tls")
	h := &script{}
	serve(t, st, h)
	to := addr(t, st, "tls")
	silent := dialFrom(t, "127.0.0.2", to)
	until(t, "one open", func() bool { return st.Stats().ConnsOpen == 1 })
	if !closedSoon(silent) {
		t.Fatal("a connection without a handshake stayed open")
	}
	until(t, "counted", func() bool { s := st.Stats(); return s.SlowClosed == 1 && s.ConnsOpen == 0 })

	raw, err := net.DialTimeout("tcp", to.String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	t.Cleanup(func() { _ = c.Close() })
	p := &tcpPeer{t: t, c: c, r: bufio.NewReader(c)}
	p.send(publish("sips:r@"+to.String(), "127.0.0.1:1", "TLS", []string{"Event: asterisk-mwi"}, ""))
	if res, err := p.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("over TLS: %v %v", res, err)
	}
	if s := st.Stats(); s.ConnsOpen != 1 || s.SlowClosed != 1 {
		t.Errorf("stats %+v", s)
	}
}
