package sipstack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/astcompanion/sidecar/companion"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every blocking step of a test.
const wait = 5 * time.Second

// newStack starts a Stack on the given listeners ("udp", "tcp", "tls"),
// all on 127.0.0.1 with a port of the system's choosing.
func newStack(t testing.TB, opts Options, transports ...string) *Stack {
	t.Helper()
	for _, tp := range transports {
		opts.Node.SIPListen = append(opts.Node.SIPListen, companion.Listener{Transport: tp, Host: "127.0.0.1"})
	}
	if opts.Node.Name == "" {
		opts.Node.Name = "test"
	}
	st, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// addr returns the bound address of st's listener for tp.
func addr(t testing.TB, st *Stack, tp string) netip.AddrPort {
	t.Helper()
	for _, l := range st.Addrs() {
		if l.Transport == tp {
			return netip.MustParseAddrPort(l.Address())
		}
	}
	t.Fatalf("no %s listener", tp)
	return netip.AddrPort{}
}

// serve runs st.Serve(h) until the test ends, and returns once PUBLISHes
// reach h.
func serve(t testing.TB, st *Stack, h companion.PublishHandler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	waitServing(t, st)
}

// waitServing returns once st hands PUBLISHes to a handler.
func waitServing(t testing.TB, st *Stack) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st.mu.Lock()
		ready := st.serving
		st.mu.Unlock()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// script is a PublishHandler test double: it records what it is handed
// and answers what answer says.
type script struct {
	answer func(companion.InboundPublish) companion.Answer

	mu  sync.Mutex
	got []companion.InboundPublish
}

func (s *script) HandlePublish(_ context.Context, in companion.InboundPublish) companion.Answer {
	s.mu.Lock()
	s.got = append(s.got, in)
	s.mu.Unlock()
	if s.answer == nil {
		return companion.Answer{Status: 200, ETag: "1", Expires: max(in.Expires, 0)}
	}
	return s.answer(in)
}

func (s *script) calls() []companion.InboundPublish {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]companion.InboundPublish(nil), s.got...)
}

// msg writes a SIP message: start line, headers in order, a correct
// Content-Length and the body.
func msg(start string, headers []string, body string) string {
	var b strings.Builder
	b.WriteString(start + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.WriteString(body)
	return b.String()
}

var seq int

// publish is a PUBLISH as sipp or a hand-made test client writes it; via
// is the client's own address. extra headers go after Expires.
func publish(ruri, via, transport string, extra []string, body string) string {
	seq++
	h := []string{
		"Via: SIP/2.0/" + transport + " " + via + ";rport;branch=z9hG4bK-test-" + strconv.Itoa(seq),
		"From: <sip:ast1@127.0.0.1>;tag=t" + strconv.Itoa(seq),
		"To: <sip:ast1@127.0.0.1>",
		"Call-ID: call-" + strconv.Itoa(seq),
		"CSeq: " + strconv.Itoa(seq) + " PUBLISH",
		"Max-Forwards: 70",
	}
	return msg("PUBLISH "+ruri+" SIP/2.0", append(h, extra...), body)
}

// udpPeer is a raw UDP socket on 127.0.0.1 playing the other side.
type udpPeer struct {
	t *testing.T
	c *net.UDPConn
}

func newUDPPeer(t *testing.T) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &udpPeer{t: t, c: c}
}

func (p *udpPeer) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *udpPeer) send(to netip.AddrPort, m string) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort([]byte(m), to); err != nil {
		p.t.Fatal(err)
	}
}

// read returns the next datagram and where it came from.
func (p *udpPeer) read() (string, netip.AddrPort) {
	p.t.Helper()
	buf := make([]byte, 70000)
	_ = p.c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		p.t.Fatalf("no datagram: %v", err)
	}
	return string(buf[:n]), from
}

// response reads the next datagram as a response.
func (p *udpPeer) response() *sip.Response {
	p.t.Helper()
	m, _ := p.read()
	return parseResponse(p.t, []byte(m))
}

// request reads the next datagram as a request.
func (p *udpPeer) request() (*sip.Request, string, netip.AddrPort) {
	p.t.Helper()
	m, from := p.read()
	parsed, err := sip.ParseMessage([]byte(m))
	if err != nil {
		p.t.Fatalf("unparseable request: %v\n%s", err, m)
	}
	req, ok := parsed.(*sip.Request)
	if !ok {
		p.t.Fatalf("not a request:\n%s", m)
	}
	return req, m, from
}

func parseResponse(t *testing.T, m []byte) *sip.Response {
	t.Helper()
	parsed, err := sip.ParseMessage(m)
	if err != nil {
		t.Fatalf("unparseable response: %v\n%s", err, m)
	}
	res, ok := parsed.(*sip.Response)
	if !ok {
		t.Fatalf("not a response:\n%s", m)
	}
	return res
}

// tcpPeer is a raw TCP connection to a listener.
type tcpPeer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialTCP(t *testing.T, to netip.AddrPort) *tcpPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", to.String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &tcpPeer{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *tcpPeer) send(m string) {
	p.t.Helper()
	_ = p.c.SetWriteDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(p.c, m); err != nil {
		p.t.Fatal(err)
	}
}

// response reads one response off the stream; err is io.EOF when the
// server closed the connection instead.
func (p *tcpPeer) response() (*sip.Response, error) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(wait))
	var head strings.Builder
	length := 0
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.r, body); err != nil {
		return nil, err
	}
	return parseResponse(p.t, append([]byte(head.String()), body...)), nil
}

// closedByPeer tells a connection the server closed from one that merely
// stayed silent until our read deadline.
func closedByPeer(err error) bool {
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// header returns the value of m's header name, "" when absent.
func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func ruri(user string, a netip.AddrPort) string { return fmt.Sprintf("sip:%s@%s", user, a) }
