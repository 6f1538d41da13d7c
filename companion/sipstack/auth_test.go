package sipstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/astcompanion/sidecar/companion"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testNonces(t *testing.T) (*nonces, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	n, err := newNonces(c.now)
	if err != nil {
		t.Fatal(err)
	}
	return n, c
}

// creds answers a challenge as a client would.
func creds(t *testing.T, challenge, user, pass string, nc int, mutate func(*digest.Credentials)) *authenticator {
	t.Helper()
	chal, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	c, err := digest.Digest(chal, digest.Options{Method: "PUBLISH", URI: "sip:ast1@127.0.0.1:5060;transport=udp", Username: user, Password: pass, Count: nc, Cnonce: "0a4f113b"})
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(c)
	}
	parsed, err := digest.ParseCredentials(c.String())
	if err != nil {
		t.Fatal(err)
	}
	return &authenticator{realm: "asterisk", method: "PUBLISH", cred: parsed}
}

func TestVerify(t *testing.T) {
	n, clk := testNonces(t)
	secret := companion.NewSecret("s3cret", "test")
	verify := func(a *authenticator) companion.AuthResult {
		a.nonces = n
		return a.Verify("ast1", secret)
	}
	chal := n.challenge("asterisk", false)
	for _, want := range []string{`realm="asterisk"`, `algorithm=MD5`, `qop="auth"`} {
		if !strings.Contains(chal, want) {
			t.Errorf("challenge %s lacks %s", chal, want)
		}
	}
	if strings.Contains(chal, "stale") || !strings.Contains(n.challenge("asterisk", true), "stale=true") {
		t.Errorf("stale flag: %s", chal)
	}

	cases := []struct {
		name   string
		a      *authenticator
		want   companion.AuthResult
		before func()
	}{
		{name: "good", a: creds(t, chal, "ast1", "s3cret", 1, nil), want: companion.AuthOK},
		{name: "same nonce, higher nc", a: creds(t, chal, "ast1", "s3cret", 2, nil), want: companion.AuthOK},
		{name: "replayed nc", a: creds(t, chal, "ast1", "s3cret", 2, nil), want: companion.AuthStale},
		{name: "lower nc", a: creds(t, chal, "ast1", "s3cret", 1, nil), want: companion.AuthStale},
		{name: "wrong password", a: creds(t, chal, "ast1", "guess", 3, nil), want: companion.AuthWrong},
		{name: "other user", a: creds(t, chal, "ast2", "s3cret", 3, nil), want: companion.AuthOtherUser},
		{name: "other realm", a: creds(t, strings.Replace(chal, `"asterisk"`, `"elsewhere"`, 1), "ast1", "s3cret", 3, nil), want: companion.AuthWrong},
		{name: "forged nonce", a: creds(t, strings.Replace(chal, `nonce="`, `nonce="00`, 1), "ast1", "s3cret", 3, nil), want: companion.AuthStale},
		{name: "foreign nonce", a: creds(t, `Digest realm="asterisk",nonce="1795697500/c9dcf6218321450618fe0e5d7d8a73be",qop="auth"`, "ast1", "s3cret", 1, nil), want: companion.AuthStale},
		{name: "auth-int", a: creds(t, strings.Replace(chal, `qop="auth"`, `qop="auth-int"`, 1), "ast1", "s3cret", 4, nil), want: companion.AuthMalformed},
		{name: "SHA-256", a: creds(t, strings.Replace(chal, `MD5`, `SHA-256`, 1), "ast1", "s3cret", 4, nil), want: companion.AuthMalformed},
		{name: "no response", a: creds(t, chal, "ast1", "s3cret", 4, func(c *digest.Credentials) { c.Response = "" }), want: companion.AuthMalformed},
		{name: "no Digest credentials", a: &authenticator{realm: "asterisk", method: "PUBLISH"}, want: companion.AuthMalformed},
		{name: "upper-case response hex", a: creds(t, chal, "ast1", "s3cret", 5, func(c *digest.Credentials) { c.Response = strings.ToUpper(c.Response) }), want: companion.AuthOK},
		{name: "expired nonce", a: creds(t, chal, "ast1", "s3cret", 6, nil), want: companion.AuthStale,
			before: func() { clk.t = clk.t.Add(nonceLifetime + time.Second) }},
	}
	for _, c := range cases {
		if c.before != nil {
			c.before()
		}
		if got := verify(c.a); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// Asking twice about one request is no replay.
func TestVerifyTwice(t *testing.T) {
	n, _ := testNonces(t)
	a := creds(t, n.challenge("asterisk", false), "ast1", "s3cret", 1, nil)
	a.nonces = n
	secret := companion.NewSecret("s3cret", "test")
	for i := range 2 {
		if a.Verify("ast1", secret) != companion.AuthOK {
			t.Errorf("Verify #%d refused", i+1)
		}
	}
	if a.Verify("ast1", companion.NewSecret("other", "test")) != companion.AuthWrong {
		t.Error("another password accepted after a good one")
	}
}

// Credentials without qop (RFC 2069) carry no nonce count: a nonce then
// authenticates a single request.
func TestVerifyWithoutQOP(t *testing.T) {
	n, _ := testNonces(t)
	chal := strings.Replace(n.challenge("asterisk", false), `, qop="auth"`, "", 1)
	secret := companion.NewSecret("s3cret", "test")
	for i, want := range []companion.AuthResult{companion.AuthOK, companion.AuthStale} {
		a := creds(t, chal, "ast1", "s3cret", 0, nil)
		a.nonces = n
		if got := a.Verify("ast1", secret); got != want {
			t.Errorf("use %d: %v, want %v", i+1, got, want)
		}
	}
}

// The store of used nonces is bounded; a forgotten nonce is stale, never
// open to replay.
func TestNonceEviction(t *testing.T) {
	n, clk := testNonces(t)
	first := n.issue()
	issued, ok := n.check(first)
	if !ok || !n.use(first, issued, 1) {
		t.Fatal("first use refused")
	}
	for range maxTrackedNonces {
		clk.t = clk.t.Add(time.Millisecond)
		nonce := n.issue()
		iss, _ := n.check(nonce)
		if !n.use(nonce, iss, 1) {
			t.Fatal("fresh nonce refused")
		}
	}
	if len(n.used) > maxTrackedNonces {
		t.Errorf("%d nonces remembered", len(n.used))
	}
	if n.use(first, issued, 2) {
		t.Error("a forgotten nonce was accepted")
	}
	clk.t = clk.t.Add(time.Millisecond)
	fresh := n.issue()
	iss, _ := n.check(fresh)
	if !n.use(fresh, iss, 1) {
		t.Error("a nonce issued after the eviction was refused")
	}
}

// Of several Authorization headers the one for our realm is checked.
func TestAuthOfPicksRealm(t *testing.T) {
	st := &Stack{realm: "asterisk"}
	var err error
	if st.nonces, err = newNonces(time.Now); err != nil {
		t.Fatal(err)
	}
	ours := creds(t, st.nonces.challenge("asterisk", false), "ast1", "s3cret", 1, nil).cred
	req := sip.NewRequest(sip.PUBLISH, sip.Uri{Scheme: "sip", User: "ast1", Host: "127.0.0.1"})
	req.AppendHeader(sip.NewHeader("Authorization", `Basic YXN0MTpzM2NyZXQ=`))
	req.AppendHeader(sip.NewHeader("Authorization", `Digest username="ast1", realm="proxy", nonce="x", uri="sip:a@b", response="00"`))
	req.AppendHeader(sip.NewHeader("authorization", ours.String()))
	a := st.authOf(req)
	if a == nil || a.Verify("ast1", companion.NewSecret("s3cret", "test")) != companion.AuthOK {
		t.Error("our realm's credentials not used")
	}
	if st.authOf(sip.NewRequest(sip.PUBLISH, sip.Uri{Host: "h"})) != nil {
		t.Error("an Authenticator without Authorization")
	}
	basic := sip.NewRequest(sip.PUBLISH, sip.Uri{Host: "h"})
	basic.AppendHeader(sip.NewHeader("Authorization", `Basic YXN0MTpzM2NyZXQ=`))
	if a := st.authOf(basic); a == nil || a.Verify("ast1", companion.NewSecret("s3cret", "test")) != companion.AuthMalformed {
		t.Error("Basic credentials not reported malformed")
	}
}

// sipgo's own digest client (which computes over the Request-URI without
// parameters) authenticates against the server edge.
func TestSipgoDigestClient(t *testing.T) {
	server := newStack(t, Options{}, "udp")
	h := newDigestHandler("ast1", "s3cret")
	serve(t, server, h)
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	client, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	var uri sip.Uri
	if err := sip.ParseUri("sip:ast1@"+addr(t, server, "udp").String()+";transport=udp", &uri); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.PUBLISH, uri)
	req.AppendHeader(sip.NewHeader("Event", "asterisk-mwi"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("first answer %v %v", res, err)
	}
	res, err = client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "ast1", Password: "s3cret"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("authenticated answer %v %v", res, err)
	}
}

// A wall clock stepping back past the issue time of a forgotten nonce
// does not make every fresh nonce stale: peers would loop on 401.
func TestNonceClockStepsBack(t *testing.T) {
	n, clk := testNonces(t)
	secret := companion.NewSecret("s3cret", "test")
	verify := func(chal string, nc int) companion.AuthResult {
		a := creds(t, chal, "ast1", "s3cret", nc, nil)
		a.nonces = n
		return a.Verify("ast1", secret)
	}
	start := clk.t
	old := n.challenge("asterisk", false)
	if got := verify(old, 1); got != companion.AuthOK {
		t.Fatalf("first nonce: %v", got)
	}
	// The first nonce ages out and is forgotten when the next is used.
	clk.t = clk.t.Add(nonceLifetime + time.Minute)
	if got := verify(n.challenge("asterisk", false), 1); got != companion.AuthOK {
		t.Fatalf("second nonce: %v", got)
	}
	if _, ok := n.used[nonceOf(t, old)]; ok {
		t.Fatal("the aged-out nonce is still remembered")
	}

	// The wall clock steps back an hour: before the forgotten nonce.
	clk.t = start.Add(-time.Hour)
	for i := range 3 {
		if got := verify(n.challenge("asterisk", false), 1); got != companion.AuthOK {
			t.Fatalf("fresh nonce %d after the step back: %v", i, got)
		}
	}
	if got := verify(old, 2); got == companion.AuthOK {
		t.Error("the forgotten nonce was accepted again")
	}
	// Once the clock has caught up and moved on, nonces still age out.
	last := n.challenge("asterisk", false)
	clk.t = start.Add(2*nonceLifetime + 2*time.Minute)
	if got := verify(last, 1); got != companion.AuthStale {
		t.Errorf("a nonce past its lifetime: %v", got)
	}
	if got := verify(n.challenge("asterisk", false), 1); got != companion.AuthOK {
		t.Errorf("a fresh nonce after the catch-up: %v", got)
	}
}

func nonceOf(t *testing.T, challenge string) string {
	t.Helper()
	c, err := digest.ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	return c.Nonce
}
