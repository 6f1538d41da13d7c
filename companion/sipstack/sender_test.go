package sipstack

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

func mustURI(t testing.TB, s string) companion.SIPURI {
	t.Helper()
	u, err := companion.ParseSIPURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// publishConfig is what the config loader makes of server_uri = s: From
// and To default to the URI's identity.
func publishConfig(t testing.TB, s string) *companion.PublishConfig {
	u := mustURI(t, s)
	return &companion.PublishConfig{ServerURI: u, FromURI: u.Identity(), ToURI: u.Identity()}
}

type outcome struct {
	res companion.PublishResult
	err error
}

// goPublish runs one Publish in the background.
func goPublish(snd companion.Sender, req companion.PublishRequest) <-chan outcome {
	c := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		res, err := snd.Publish(ctx, req)
		c <- outcome{res, err}
	}()
	return c
}

func (o outcome) String() string { return fmt.Sprintf("%+v %v", o.res, o.err) }

// reply answers req from p with status and extra headers, to where it
// came from.
func (p *udpPeer) reply(req *sip.Request, from netip.AddrPort, status int, reason string, extra ...string) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, status, reason, nil)
	for _, h := range extra {
		k, v, _ := strings.Cut(h, ": ")
		res.AppendHeader(sip.NewHeader(k, v))
	}
	p.send(from, res.String())
}

func headerNames(req *sip.Request) []string {
	var names []string
	for _, h := range req.Headers() {
		names = append(names, h.Name())
	}
	return names
}

// The PUBLISHes are what a stock Asterisk sends (recorded in
// fixtures/sip/02_exact_publish_examples.txt): request line, header set
// and order, From/To without port, one Call-ID per publication with CSeq
// counting up, SIP-If-Match on modifies, no Content-Type on a removal.
func TestSenderWire(t *testing.T) {
	st := newStack(t, Options{UserAgent: "Asterisk PBX ast1"}, "udp")
	local := addr(t, st, "udp")
	peer := newUDPPeer(t)
	uri := "sip:ast1@127.0.0.1:" + fmt.Sprint(peer.addr().Port())
	snd := st.Sender(publishConfig(t, uri), companion.EventDeviceState)

	done := goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(devBody)})
	req, raw, from := peer.request()
	if from != local {
		t.Errorf("sent from %s, want the UDP listener %s", from, local)
	}
	if got := strings.SplitN(raw, "\r\n", 2)[0]; got != "PUBLISH "+uri+" SIP/2.0" {
		t.Errorf("request line %q", got)
	}
	wantOrder := "Via From To Call-ID CSeq Event Expires Max-Forwards User-Agent Content-Type Content-Length"
	if got := strings.Join(headerNames(req), " "); got != wantOrder {
		t.Errorf("headers\n got %s\nwant %s", got, wantOrder)
	}
	via := regexp.MustCompile(`^SIP/2\.0/UDP 127\.0\.0\.1:` + fmt.Sprint(local.Port()) + `;rport;branch=z9hG4bK\S+$`)
	if !via.MatchString(header(req, "Via")) {
		t.Errorf("Via %q", header(req, "Via"))
	}
	if !regexp.MustCompile(`^<sip:ast1@127\.0\.0\.1>;tag=\S+$`).MatchString(header(req, "From")) {
		t.Errorf("From %q", header(req, "From"))
	}
	for name, want := range map[string]string{
		"To": "<sip:ast1@127.0.0.1>", "Event": "asterisk-devicestate", "Expires": "60", "Max-Forwards": "70",
		"User-Agent": "Asterisk PBX ast1", "Content-Type": "application/json",
	} {
		if got := header(req, name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
	if string(req.Body()) != devBody || !strings.HasSuffix(raw, "\r\n\r\n"+devBody) {
		t.Errorf("body %q", req.Body())
	}
	callID, cseq := req.CallID().Value(), req.CSeq().SeqNo
	peer.reply(req, from, 200, "OK", "SIP-ETag: 7", "Expires: 60")
	if o := <-done; o.err != nil || o.res != (companion.PublishResult{Status: 200, Reason: "OK", ETag: "7", Expires: 60}) {
		t.Fatalf("result %s", o)
	}

	// A modify: same Call-ID, next CSeq, SIP-If-Match after Event.
	done = goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, IfMatch: "7", Expires: 60, Body: []byte(devBody)})
	req, _, from = peer.request()
	if got := strings.Join(headerNames(req), " "); got != "Via From To Call-ID CSeq Event SIP-If-Match Expires Max-Forwards User-Agent Content-Type Content-Length" {
		t.Errorf("modify headers %s", got)
	}
	if header(req, "SIP-If-Match") != "7" || req.CallID().Value() != callID || req.CSeq().SeqNo != cseq+1 {
		t.Errorf("modify: SIP-If-Match %q Call-ID %q CSeq %d (first %q %d)", header(req, "SIP-If-Match"), req.CallID().Value(), req.CSeq().SeqNo, callID, cseq)
	}
	peer.reply(req, from, 423, "Interval Too Brief", "Min-Expires: 120")
	if o := <-done; o.err != nil || o.res != (companion.PublishResult{Status: 423, Reason: "Interval Too Brief", Expires: -1, MinExpires: 120}) {
		t.Fatalf("result %s", o)
	}

	// A removal has no body and no Content-Type.
	done = goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, IfMatch: "7", Expires: 0})
	req, raw, from = peer.request()
	if header(req, "Content-Type") != "" || header(req, "Content-Length") != "0" || header(req, "Expires") != "0" || !strings.HasSuffix(raw, "\r\n\r\n") {
		t.Errorf("removal:\n%s", raw)
	}
	if req.CallID().Value() != callID || req.CSeq().SeqNo != cseq+2 {
		t.Errorf("removal Call-ID %q CSeq %d", req.CallID().Value(), req.CSeq().SeqNo)
	}
	peer.reply(req, from, 412, "Conditional Request Failed")
	if o := <-done; o.err != nil || o.res.Status != 412 || o.res.ETag != "" {
		t.Fatalf("result %s", o)
	}

	// A new publication (what follows a 412) gets its own Call-ID.
	done = goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(devBody)})
	req, _, from = peer.request()
	if req.CallID().Value() == callID || header(req, "SIP-If-Match") != "" {
		t.Errorf("new publication: Call-ID %q SIP-If-Match %q", req.CallID().Value(), header(req, "SIP-If-Match"))
	}
	peer.reply(req, from, 200, "OK", "SIP-ETag: 8")
	if o := <-done; o.err != nil || o.res.ETag != "8" || o.res.Expires != -1 {
		t.Fatalf("result %s", o)
	}
}

// A listener on 0.0.0.0 sends from its port with the routed address in
// Via, never 0.0.0.0; without a UDP listener a socket of sipgo's is used,
// still with a real address in Via.
func TestSenderViaAddress(t *testing.T) {
	for _, opts := range []Options{
		{Node: companion.NodeConfig{SIPListen: []companion.Listener{{Transport: "udp", Host: "0.0.0.0"}}}},
		{Node: companion.NodeConfig{SIPListen: []companion.Listener{{Transport: "tcp", Host: "127.0.0.1"}}}},
	} {
		st := newStack(t, opts)
		peer := newUDPPeer(t)
		snd := st.Sender(publishConfig(t, "sip:r@"+peer.addr().String()), companion.EventMWI)
		done := goPublish(snd, companion.PublishRequest{Event: companion.EventMWI, Expires: 60})
		req, _, from := peer.request()
		want := "SIP/2.0/UDP 127.0.0.1:" + fmt.Sprint(from.Port()) + ";rport;"
		if !strings.HasPrefix(header(req, "Via"), want) {
			t.Errorf("%v: Via %q, want %s...", opts.Node.SIPListen, header(req, "Via"), want)
		}
		if opts.Node.SIPListen[0].Transport == "udp" && from.Port() != uint16(st.Addrs()[0].Port) {
			t.Errorf("sent from %s, not the listener %v", from, st.Addrs()[0])
		}
		peer.reply(req, from, 200, "OK", "SIP-ETag: 1")
		if o := <-done; o.err != nil {
			t.Error(o.err)
		}
	}
}

// No final answer is an error, within RequestTimeout; so is a URI whose
// transport the edge cannot use, and any Publish after Close.
func TestSenderErrors(t *testing.T) {
	st := newStack(t, Options{RequestTimeout: 300 * time.Millisecond}, "udp")
	peer := newUDPPeer(t)
	snd := st.Sender(publishConfig(t, "sip:r@"+peer.addr().String()), companion.EventMWI)
	o := <-goPublish(snd, companion.PublishRequest{Event: companion.EventMWI, Expires: 60})
	if !errors.Is(o.err, context.DeadlineExceeded) {
		t.Errorf("silent peer: %s", o)
	}
	// The silent peer saw the request and its retransmissions; drain one.
	peer.request()

	if o := <-goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60}); o.err == nil {
		t.Errorf("a device state PUBLISH on the MWI publication: %s", o)
	}
	bad := st.Sender(publishConfig(t, "sip:r@127.0.0.1:5060;transport=sctp"), companion.EventMWI)
	if o := <-goPublish(bad, companion.PublishRequest{Event: companion.EventMWI, Expires: 60}); o.err == nil || !strings.Contains(o.err.Error(), "sctp") {
		t.Errorf("sctp: %s", o)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if o := <-goPublish(snd, companion.PublishRequest{Event: companion.EventMWI, Expires: 60}); !errors.Is(o.err, ErrClosed) {
		t.Errorf("after Close: %s", o)
	}
}

// digestHandler answers like the receiver does for a peer with
// credentials: challenge without them, 403 when wrong.
type digestHandler struct {
	script
	user string
	pass companion.Secret
	// stale makes every challenge stale=true, as a server whose nonces
	// never last.
	stale bool
}

func newDigestHandler(user, pass string) *digestHandler {
	d := &digestHandler{user: user, pass: companion.NewSecret(pass, "test")}
	d.answer = func(in companion.InboundPublish) companion.Answer {
		if in.Auth == nil {
			return companion.Answer{Status: 401, Expires: -1, Challenge: true}
		}
		switch in.Auth.Verify(d.user, d.pass) {
		case companion.AuthOK:
			if d.stale {
				return companion.Answer{Status: 401, Expires: -1, Challenge: true, Stale: true}
			}
			return companion.Answer{Status: 200, ETag: "1", Expires: 60}
		case companion.AuthStale:
			return companion.Answer{Status: 401, Expires: -1, Challenge: true, Stale: true}
		}
		return companion.Answer{Status: 403, Expires: -1}
	}
	return d
}

// The Sender answers a challenge with the configured credentials, and
// the server side verifies them: the whole round trip on both edges.
func TestDigestRoundTrip(t *testing.T) {
	server := newStack(t, Options{Realm: "asterisk"}, "udp")
	client := newStack(t, Options{}, "udp")
	h := newDigestHandler("ast1", "s3cret")
	serve(t, server, h)
	uri := "sip:ast1@" + addr(t, server, "udp").String()

	cfg := publishConfig(t, uri)
	cfg.Username, cfg.Password = "ast1", companion.NewSecret("s3cret", "test")
	snd := client.Sender(cfg, companion.EventDeviceState)
	for i := range 2 {
		o := <-goPublish(snd, companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(devBody)})
		if o.err != nil || o.res.Status != 200 {
			t.Fatalf("publish %d: %s", i, o)
		}
	}
	if n := len(h.calls()); n != 4 {
		t.Errorf("%d requests, want 4 (challenge, answer) x 2", n)
	}

	cases := []struct {
		name, user, pass string
		stale            bool
		status, calls    int
	}{
		{"wrong password", "ast1", "nope", false, 403, 2},
		{"no credentials configured", "", "", false, 401, 1},
		// Each challenge after an answer is stale: bounded like
		// Asterisk's max_auth_attempts.
		{"always stale", "ast1", "s3cret", true, 401, 1 + maxAuthAttempts},
	}
	for _, c := range cases {
		h := newDigestHandler("ast1", "s3cret")
		h.stale = c.stale
		server := newStack(t, Options{}, "udp")
		serve(t, server, h)
		cfg := publishConfig(t, "sip:ast1@"+addr(t, server, "udp").String())
		cfg.Username, cfg.Password = c.user, companion.NewSecret(c.pass, "test")
		o := <-goPublish(client.Sender(cfg, companion.EventDeviceState), companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(devBody)})
		if o.err != nil || o.res.Status != c.status || len(h.calls()) != c.calls {
			t.Errorf("%s: %s after %d requests, want %d after %d", c.name, o, len(h.calls()), c.status, c.calls)
		}
	}
}

// The credentials are computed over the whole Request-URI, parameters
// included, as pjsip does; the wire shows what was sent.
func TestSenderAuthorizationHeader(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	peer := newUDPPeer(t)
	uri := "sip:ast1@" + peer.addr().String() + ";transport=udp"
	cfg := publishConfig(t, uri)
	cfg.Username, cfg.Password = "ast1", companion.NewSecret("s3cret", "test")
	done := goPublish(st.Sender(cfg, companion.EventMWI), companion.PublishRequest{Event: companion.EventMWI, Expires: 60})
	req, _, from := peer.request()
	peer.reply(req, from, 401, "Unauthorized",
		`WWW-Authenticate: Digest realm="asterisk",nonce="1795697500/c9dcf6218321450618fe0e5d7d8a73be",opaque="708645f93ff98ae0",algorithm=md5,qop="auth"`)
	again, raw, from := peer.request()
	if again.CallID().Value() != req.CallID().Value() || again.CSeq().SeqNo != req.CSeq().SeqNo+1 ||
		header(again, "Via") == header(req, "Via") || header(again, "From") != header(req, "From") {
		t.Errorf("retry:\n%s", raw)
	}
	names := strings.Join(headerNames(again), " ")
	if names != "Via From To Call-ID CSeq Event Expires Max-Forwards User-Agent Authorization Content-Length" {
		t.Errorf("headers %s", names)
	}
	auth := header(again, "Authorization")
	for _, want := range []string{`username="ast1"`, `realm="asterisk"`, `uri="` + uri + `"`, `opaque="708645f93ff98ae0"`, "qop=auth", "nc=00000001", "algorithm=MD5"} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization lacks %s: %s", want, auth)
		}
	}
	if strings.Contains(raw, "s3cret") {
		t.Error("the password is on the wire")
	}
	peer.reply(again, from, 200, "OK", "SIP-ETag: 3", "Expires: 60")
	if o := <-done; o.err != nil || o.res.ETag != "3" {
		t.Errorf("result %s", o)
	}
}

// TCP and TLS (sips:, certificate checked against the client's roots)
// carry PUBLISHes both ways; the receiver learns the transport and scheme.
func TestSenderStreams(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	server := newStack(t, Options{Node: companion.NodeConfig{TLSCertFile: certFile, TLSKeyFile: keyFile}}, "tcp", "tls")
	h := &script{}
	serve(t, server, h)
	client := newStack(t, Options{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}, "tcp")

	for _, c := range []struct{ uri, transport, scheme string }{
		{"sip:r@" + addr(t, server, "tcp").String() + ";transport=tcp", "tcp", "sip"},
		{"sip:r@" + addr(t, server, "tls").String() + ";transport=tls", "tls", "sip"},
		{"sips:r@" + addr(t, server, "tls").String(), "tls", "sips"},
	} {
		before := len(h.calls())
		o := <-goPublish(client.Sender(publishConfig(t, c.uri), companion.EventMWI), companion.PublishRequest{Event: companion.EventMWI, Expires: 60, Body: []byte("{}")})
		if o.err != nil || o.res.Status != 200 {
			t.Errorf("%s: %s", c.uri, o)
			continue
		}
		in := h.calls()[before]
		if in.Transport != c.transport || in.URIScheme != c.scheme || string(in.Body) != "{}" || in.Source.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%s: %+v", c.uri, in)
		}
	}

	// A client that does not trust the certificate gets no answer.
	distrust := newStack(t, Options{RequestTimeout: 2 * time.Second})
	o := <-goPublish(distrust.Sender(publishConfig(t, "sips:r@"+addr(t, server, "tls").String()), companion.EventMWI), companion.PublishRequest{Event: companion.EventMWI, Expires: 60})
	if o.err == nil {
		t.Errorf("untrusted certificate: %s", o)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "companion test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, roots
}

// A proxy's 407 is answered with Proxy-Authorization; a challenge that
// comes back without stale=true after an answer means the password is
// wrong: the 401 is the result, after one try, as pjsip gives up.
func TestSenderChallenges(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	peer := newUDPPeer(t)
	cfg := publishConfig(t, "sip:ast1@"+peer.addr().String())
	cfg.Username, cfg.Password = "ast1", companion.NewSecret("s3cret", "test")
	done := goPublish(st.Sender(cfg, companion.EventMWI), companion.PublishRequest{Event: companion.EventMWI, Expires: 60})

	req, _, from := peer.request()
	peer.reply(req, from, 407, "Proxy Authentication Required", `Proxy-Authenticate: Digest realm="proxy", nonce="p1", qop="auth"`)
	req, _, from = peer.request()
	if !strings.Contains(header(req, "Proxy-Authorization"), `realm="proxy"`) || header(req, "Authorization") != "" {
		t.Fatalf("after 407:\n%s", req)
	}
	peer.reply(req, from, 401, "Unauthorized", `WWW-Authenticate: Digest realm="asterisk", nonce="n1", qop="auth"`)
	req, _, from = peer.request()
	if !strings.Contains(header(req, "Authorization"), `nonce="n1"`) || header(req, "Proxy-Authorization") == "" {
		t.Fatalf("after 401:\n%s", req)
	}
	peer.reply(req, from, 401, "Unauthorized", `WWW-Authenticate: Digest realm="asterisk", nonce="n2", qop="auth"`)
	if o := <-done; o.err != nil || o.res.Status != 401 {
		t.Errorf("result %s, want the 401", o)
	}
}

// Over IPv6 the request leaves from the listener on [::], and the
// receiver sees that address.
func TestSenderIPv6(t *testing.T) {
	server := newStack(t, Options{Node: companion.NodeConfig{SIPListen: []companion.Listener{{Transport: "udp", Host: "::1"}}}})
	h := &script{}
	serve(t, server, h)
	client := newStack(t, Options{Node: companion.NodeConfig{SIPListen: []companion.Listener{
		{Transport: "udp", Host: "127.0.0.1"}, {Transport: "udp", Host: "::"},
	}}})
	to := addr(t, server, "udp")
	o := <-goPublish(client.Sender(publishConfig(t, "sip:r@"+to.String()), companion.EventMWI), companion.PublishRequest{Event: companion.EventMWI, Expires: 60})
	if o.err != nil || o.res.Status != 200 {
		t.Fatalf("result %s", o)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("::1"), uint16(client.Addrs()[1].Port))
	if got := h.calls()[0].Source; got != want {
		t.Errorf("source %s, want %s", got, want)
	}
}
