package sipstack

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

const devBody = `{"type":"devicestate","device":"Custom:alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:99"}`

// The receiver is handed what the request says, and its source is the
// socket the request came from (not Via, which here lies).
func TestInboundFieldsUDP(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	h := &script{answer: func(companion.InboundPublish) companion.Answer {
		return companion.Answer{Status: 200, ETag: "4711", Expires: 120}
	}}
	serve(t, st, h)
	p := newUDPPeer(t)
	to := addr(t, st, "udp")

	p.send(to, publish(ruri("ast%31", to), "192.0.2.9:5999", "UDP", []string{
		"Event: asterisk-devicestate;id=7",
		"SIP-If-Match: 113",
		"Expires: 120",
		"Content-Type: Application/JSON ; charset=utf-8",
	}, devBody))
	res := p.response()

	if res.StatusCode != 200 || res.Reason != "OK" {
		t.Fatalf("answer %d %s", res.StatusCode, res.Reason)
	}
	if got := header(res, "SIP-ETag"); got != "4711" {
		t.Errorf("SIP-ETag %q", got)
	}
	if got := header(res, "Expires"); got != "120" {
		t.Errorf("Expires %q", got)
	}
	if got := header(res, "Server"); got != DefaultUserAgent {
		t.Errorf("Server %q", got)
	}
	calls := h.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	in := calls[0]
	want := companion.InboundPublish{
		Source: p.addr(), Transport: "udp", Resource: "ast1", URIScheme: "sip",
		Event: "asterisk-devicestate", IfMatch: "113", Expires: 120, ContentType: "application/json",
	}
	got := in
	got.Body, got.Auth = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if string(in.Body) != devBody {
		t.Errorf("body %q", in.Body)
	}
	if in.Auth != nil {
		t.Error("Auth set without an Authorization header")
	}
}

func TestInboundFieldsTCP(t *testing.T) {
	st := newStack(t, Options{}, "tcp")
	h := &script{}
	serve(t, st, h)
	to := addr(t, st, "tcp")
	c := dialTCP(t, to)

	// Compact Event header, no Expires, no Content-Type, no body.
	c.send(publish("SIP:res@127.0.0.1", "127.0.0.1:1", "TCP", []string{"o: asterisk-mwi"}, ""))
	res, err := c.response()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("answer %d", res.StatusCode)
	}
	if header(res, "Expires") != "0" {
		t.Errorf("Expires %q", header(res, "Expires"))
	}
	in := h.calls()[0]
	if in.Source.String() != c.c.LocalAddr().String() || in.Transport != "tcp" || in.URIScheme != "sip" ||
		in.Resource != "res" || in.Event != "asterisk-mwi" || in.Expires != -1 || in.ContentType != "" ||
		in.IfMatch != "" || len(in.Body) != 0 {
		t.Errorf("got %+v", in)
	}
}

// Answers carry what the receiver decided and pjsip's reason phrases.
func TestAnswerHeaders(t *testing.T) {
	cases := []struct {
		answer     companion.Answer
		line       string
		etag, exps string
	}{
		{companion.Answer{Status: 412, Expires: -1}, "412 Conditional Request Failed", "", ""},
		{companion.Answer{Status: 500, Expires: -1}, "500 Server Internal Error", "", ""},
		{companion.Answer{Status: 489, Expires: -1}, "489 Bad Event", "", ""},
		{companion.Answer{Status: 413, Expires: -1}, "413 Request Entity Too Large", "", ""},
		{companion.Answer{Status: 400, Reason: "Removal Without SIP-If-Match", Expires: -1}, "400 Removal Without SIP-If-Match", "", ""},
		{companion.Answer{Status: 200, ETag: "9", Expires: 0}, "200 OK", "9", "0"},
		// A handler that gives no final status gets 500, not a hung transaction.
		{companion.Answer{Status: 100}, "500 Server Internal Error", "", ""},
	}
	st := newStack(t, Options{UserAgent: "Asterisk PBX ast2"}, "udp")
	next := make(chan companion.Answer, 1)
	serve(t, st, &script{answer: func(companion.InboundPublish) companion.Answer { return <-next }})
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	for _, c := range cases {
		next <- c.answer
		p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
		res := p.response()
		if got := res.StartLine(); got != "SIP/2.0 "+c.line {
			t.Errorf("%+v: %q", c.answer, got)
		}
		if header(res, "SIP-ETag") != c.etag || header(res, "Expires") != c.exps {
			t.Errorf("%+v: SIP-ETag %q Expires %q", c.answer, header(res, "SIP-ETag"), header(res, "Expires"))
		}
		if header(res, "Server") != "Asterisk PBX ast2" || header(res, "WWW-Authenticate") != "" {
			t.Errorf("%+v: headers\n%s", c.answer, res)
		}
		if hs := res.Headers(); hs[len(hs)-1].Name() != "Content-Length" {
			t.Errorf("Content-Length not last:\n%s", res)
		}
	}
}

// pjsip refuses a request whose Expires is not a number with 400 before
// any module sees it; so does the edge.
func TestBadExpires(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	h := &script{}
	serve(t, st, h)
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi", "Expires: soon"}, ""))
	if res := p.response(); res.StatusCode != 400 {
		t.Errorf("answer %d", res.StatusCode)
	}
	// Huge values are capped, not refused.
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi", "Expires: 99999999999"}, ""))
	if res := p.response(); res.StatusCode != 200 {
		t.Errorf("answer %d", res.StatusCode)
	}
	calls := h.calls()
	if len(calls) != 1 || calls[0].Expires != 1<<31-1 {
		t.Errorf("calls %+v", calls)
	}
}

func TestOptionsAndOtherMethods(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	h := &script{}
	serve(t, st, h)
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	base := []string{
		"Via: SIP/2.0/UDP " + p.addr().String() + ";branch=z9hG4bK-o1",
		"From: <sip:probe@127.0.0.1>;tag=1", "To: <sip:x@127.0.0.1>", "Call-ID: o1", "CSeq: 1 OPTIONS", "Max-Forwards: 70",
	}
	p.send(to, msg("OPTIONS "+ruri("x", to)+" SIP/2.0", base, ""))
	res := p.response()
	if res.StatusCode != 200 || !strings.Contains(header(res, "Allow"), "PUBLISH") {
		t.Errorf("OPTIONS: %s", res)
	}

	base[0] = "Via: SIP/2.0/UDP " + p.addr().String() + ";branch=z9hG4bK-m1"
	base[4] = "CSeq: 2 MESSAGE"
	p.send(to, msg("MESSAGE "+ruri("x", to)+" SIP/2.0", base, "hi"))
	res = p.response()
	if res.StatusCode != 405 || header(res, "Allow") != allowed {
		t.Errorf("MESSAGE: %s", res)
	}

	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi", "Require: 100rel"}, ""))
	res = p.response()
	if res.StatusCode != 420 || header(res, "Unsupported") != "100rel" {
		t.Errorf("Require: %s", res)
	}
	if n := len(h.calls()); n != 0 {
		t.Errorf("the handler saw %d requests", n)
	}
}

// A PUBLISH that arrives before Serve waits for it, a bounded time, and
// is then answered 503; after Serve ended PUBLISHes are answered 503 at
// once. None reaches a handler that is not serving.
func TestNotServing(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
	if res := p.response(); res.StatusCode != 503 {
		t.Errorf("before Serve: %d", res.StatusCode)
	}

	h := &script{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Serve(ctx, h) }()
	waitServing(t, st)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
	if res := p.response(); res.StatusCode != 503 {
		t.Errorf("after Serve: %d", res.StatusCode)
	}
	if len(h.calls()) != 0 {
		t.Error("handler called")
	}
}

// A PUBLISH that arrives between New and Serve is held until Serve runs,
// not refused: a stock Asterisk would drop the state a 503 answers.
func TestPublishBeforeServe(t *testing.T) {
	st := newStack(t, Options{}, "tcp")
	c := dialTCP(t, addr(t, st, "tcp"))
	c.send(publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
	// Serve usually starts while the request waits; if it wins the race
	// the answer is 200 all the same, never 503.
	h := &script{}
	serve(t, st, h)
	res, err := c.response()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("answer %v %v", res, err)
	}
	if len(h.calls()) != 1 {
		t.Errorf("%d calls", len(h.calls()))
	}
}

// A datagram of the largest UDP size is read whole: sipgo's default
// buffer (32 KiB) would cut it and drop it unanswered.
func TestLargestDatagram(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	h := &script{}
	serve(t, st, h)
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	shell := publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-devicestate", "Content-Type: application/json"}, "")
	// Content-Length grows from 1 digit to 5.
	body := bytes.Repeat([]byte("x"), maxDatagram-len(shell)-4)
	m := publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-devicestate", "Content-Type: application/json"}, string(body))
	if len(m) != maxDatagram {
		t.Fatalf("datagram of %d bytes", len(m))
	}
	p.send(to, m)
	if res := p.response(); res.StatusCode != 200 {
		t.Fatalf("answer %d", res.StatusCode)
	}
	if got := h.calls()[0].Body; !bytes.Equal(got, body) {
		t.Errorf("body of %d bytes, want %d", len(got), len(body))
	}
}

// Over TCP a body past MaxBodySize reaches the receiver, which answers
// 413; sipgo's default limit would close the connection without a word.
// Past the parser's own bound the connection is closed, and the server
// goes on serving.
func TestOversizedOverTCP(t *testing.T) {
	st := newStack(t, Options{}, "tcp")
	h := &script{answer: func(in companion.InboundPublish) companion.Answer {
		if len(in.Body) > companion.MaxBodySize {
			return companion.Answer{Status: 413, Expires: -1}
		}
		return companion.Answer{Status: 200, ETag: "1", Expires: 60}
	}}
	serve(t, st, h)
	to := addr(t, st, "tcp")
	c := dialTCP(t, to)
	big := strings.Repeat("x", companion.MaxBodySize+1)
	c.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate", "Content-Type: application/json"}, big))
	res, err := c.response()
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if res.StatusCode != 413 {
		t.Fatalf("answer %d", res.StatusCode)
	}
	// The connection stays usable.
	c.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate"}, ""))
	if res, err := c.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("next request: %v %v", res, err)
	}

	huge := dialTCP(t, to)
	huge.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate"}, strings.Repeat("x", maxMessageSize)))
	if _, err := huge.response(); !closedByPeer(err) {
		t.Errorf("past the parser bound: %v, want the connection closed", err)
	}
	again := dialTCP(t, to)
	again.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate"}, ""))
	if res, err := again.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("after a dropped connection: %v %v", res, err)
	}
}

// Garbage, truncated and header-less messages never stop the server.
func TestMalformedRequests(t *testing.T) {
	st := newStack(t, Options{}, "udp", "tcp")
	h := &script{}
	serve(t, st, h)
	p := newUDPPeer(t)
	to := addr(t, st, "udp")
	for _, m := range []string{
		"\x00\x01garbage",
		"PUBLISH sip:r@127.0.0.1 SIP/2.0\r\nVia: nonsense\r\n\r\n",
		"PUBLISH sip:r@127.0.0.1 SIP/2.0\r\nContent-Length: 50\r\n\r\nshort",
		"PUBLISH  SIP/2.0\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\nCSeq: 1 PUBLISH\r\n\r\n",
		strings.Replace(publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi", "Authorization: Digest ,,,=\"\""}, ""), "Call-ID", "X-Call-ID", 1),
	} {
		p.send(to, m)
	}
	c := dialTCP(t, addr(t, st, "tcp"))
	c.send("NOT SIP AT ALL\r\n\r\n")
	if _, err := c.response(); !closedByPeer(err) {
		t.Errorf("garbage over TCP: %v, want the connection closed", err)
	}

	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
	for {
		res := p.response()
		if header(res, "Call-ID") == "" {
			continue // the stateless answer to a request without Call-ID
		}
		if res.StatusCode != 200 {
			t.Errorf("a good request after garbage: %d", res.StatusCode)
		}
		break
	}
}

// Serve reports the Stack's Close; a second Serve is refused.
func TestServeAndClose(t *testing.T) {
	st, err := New(Options{Node: companion.NodeConfig{Name: "n", SIPListen: []companion.Listener{{Transport: "udp", Host: "127.0.0.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- st.Serve(context.Background(), &script{}) }()
	waitServing(t, st)
	if err := st.Serve(context.Background(), &script{}); err == nil {
		t.Error("a second Serve ran")
	}
	if err := st.Close(); err != nil {
		t.Error(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Serve: %v", err)
	}
	if err := st.Serve(context.Background(), &script{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Error(err)
	}
}

func TestListenErrors(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	taken := st.Addrs()[0]
	if _, err := New(Options{Node: companion.NodeConfig{SIPListen: []companion.Listener{{Transport: "tcp", Host: "127.0.0.1"}, taken}}}); err == nil {
		t.Error("bound a taken port")
	}
	if _, err := New(Options{Node: companion.NodeConfig{SIPListen: []companion.Listener{{Transport: "tls", Host: "127.0.0.1"}}}}); err == nil {
		t.Error("a TLS listener without a certificate")
	}
}

// A TCP connection left silent is closed after the idle bound, so idle
// sockets cannot pile up.
func TestIdleStreamClosed(t *testing.T) {
	defer func(d time.Duration) { streamIdleTimeout = d }(streamIdleTimeout)
	streamIdleTimeout = 200 * time.Millisecond
	st := newStack(t, Options{}, "tcp")
	serve(t, st, &script{})
	c := dialTCP(t, addr(t, st, "tcp"))
	c.send(publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
	if res, err := c.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("answer %v %v", res, err)
	}
	if _, err := c.response(); !closedByPeer(err) {
		t.Errorf("an idle connection stayed open: %v", err)
	}
}
