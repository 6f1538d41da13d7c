package sipstack

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/astcompanion/sidecar/companion"
)

const (
	// nonceLifetime is how long an issued nonce authenticates requests.
	nonceLifetime = 5 * time.Minute
	// maxTrackedNonces bounds the nonces whose nonce count is remembered.
	maxTrackedNonces = 4096
)

// nonces issues digest nonces and checks them. A nonce carries its issue
// time and a MAC, so issuing stores nothing and anyone may be challenged
// at no cost; only a nonce that authenticated a request is remembered,
// with its highest nonce count, so that a replayed request is refused.
//
// Times are read on a clock that never goes back: the time elapsed since
// the nonces were made, which time.Now's monotonic reading keeps free of
// wall clock steps; a clock without one (a step back of the wall clock
// as the injected clock of a test shows it) is held where it was until
// it catches up. A nonce issued after a step back therefore still counts
// as issued after every nonce forgotten before it.
type nonces struct {
	key  [32]byte
	now  func() time.Time
	base time.Time // now() when made; issue times count from it

	mu    sync.Mutex
	last  time.Duration // the latest reading of the clock
	used  map[string]*nonceUse
	queue []*nonceUse // in order of first use, for eviction
	// evicted is the latest issue time among forgotten nonces: one issued
	// no later than that and not remembered may have been used, so it is stale.
	evicted time.Duration
}

type nonceUse struct {
	nonce  string
	issued time.Duration
	nc     int
}

func newNonces(now func() time.Time) (*nonces, error) {
	// Nothing is forgotten yet: even a nonce issued at once is younger.
	n := &nonces{now: now, base: now(), evicted: -1, used: make(map[string]*nonceUse)}
	if _, err := rand.Read(n.key[:]); err != nil {
		return nil, err
	}
	return n, nil
}

// clock is the time elapsed since n was made, never less than it was.
func (n *nonces) clock() time.Duration {
	d := n.now().Sub(n.base)
	n.mu.Lock()
	defer n.mu.Unlock()
	if d < n.last {
		return n.last
	}
	n.last = d
	return d
}

// issue returns a fresh nonce: hex of issue time, 8 random bytes and a
// MAC of both.
func (n *nonces) issue() string {
	var b [32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n.clock()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], n.mac(b[:16]))
	return hex.EncodeToString(b[:])
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.key[:])
	m.Write(b)
	return m.Sum(nil)[:16]
}

// check reports when nonce was issued and whether it is ours and alive.
func (n *nonces) check(nonce string) (time.Duration, bool) {
	b, err := hex.DecodeString(nonce)
	if err != nil || len(b) != 32 || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return 0, false
	}
	issued := time.Duration(binary.BigEndian.Uint64(b[:8]))
	age := n.clock() - issued
	return issued, age >= 0 && age <= nonceLifetime
}

// use records nonce count nc for nonce; it fails when nc does not exceed
// the last one seen, or when the nonce may have been forgotten.
func (n *nonces) use(nonce string, issued time.Duration, nc int) bool {
	now := n.clock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if u := n.used[nonce]; u != nil {
		if nc <= u.nc {
			return false
		}
		u.nc = nc
		return true
	}
	if issued <= n.evicted {
		return false
	}
	for len(n.queue) > 0 && (len(n.queue) >= maxTrackedNonces || now-n.queue[0].issued > nonceLifetime) {
		old := n.queue[0]
		n.queue[0] = nil
		n.queue = n.queue[1:]
		delete(n.used, old.nonce)
		n.evicted = max(n.evicted, old.issued)
	}
	u := &nonceUse{nonce: nonce, issued: issued, nc: nc}
	n.used[nonce] = u
	n.queue = append(n.queue, u)
	return true
}

// challenge is the WWW-Authenticate value of a 401: MD5 with qop=auth,
// what Asterisk offers.
func (n *nonces) challenge(realm string, stale bool) string {
	c := digest.Challenge{Realm: realm, Nonce: n.issue(), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// authOf returns the Authenticator of req's Authorization header, nil
// when there is none. Of several, the one for our realm is used.
func (s *Stack) authOf(req *sip.Request) *authenticator {
	hs := req.GetHeaders("authorization")
	if len(hs) == 0 {
		return nil
	}
	a := &authenticator{nonces: s.nonces, realm: s.realm, method: string(req.Method)}
	for _, h := range hs {
		c, err := digest.ParseCredentials(h.Value())
		if err != nil {
			continue
		}
		if a.cred == nil || (c.Realm == s.realm && a.cred.Realm != s.realm) {
			a.cred = c
		}
	}
	return a
}

// authenticator implements companion.Authenticator for one request.
type authenticator struct {
	nonces *nonces
	realm  string
	method string
	cred   *digest.Credentials // nil: no usable Digest credentials

	mu       sync.Mutex
	consumed bool // the nonce count was recorded: a second Verify is no replay
}

// Verify checks the credentials against username and password with the
// arithmetic of RFC 2617 (MD5, qop=auth or none), as pjsip does: the
// digest URI is taken from the credentials.
func (a *authenticator) Verify(username string, password companion.Secret) companion.AuthResult {
	c := a.cred
	switch {
	case c == nil:
		return companion.AuthMalformed
	case c.Username != username:
		return companion.AuthOtherUser
	case c.Nonce == "" || c.Response == "" || c.URI == "" || c.Userhash:
		return companion.AuthMalformed
	case c.Algorithm != "" && !strings.EqualFold(c.Algorithm, "MD5"):
		return companion.AuthMalformed
	}
	var qop []string
	nc := 1 // without qop a nonce authenticates one request
	switch {
	case c.QOP == "":
	case strings.EqualFold(c.QOP, "auth") && c.Cnonce != "" && c.Nc > 0:
		qop, nc = []string{"auth"}, c.Nc
	default:
		return companion.AuthMalformed
	}
	issued, ok := a.nonces.check(c.Nonce)
	if !ok {
		return companion.AuthStale
	}
	if c.Realm != a.realm {
		return companion.AuthWrong
	}
	want, err := digest.Digest(
		&digest.Challenge{Realm: a.realm, Nonce: c.Nonce, Algorithm: c.Algorithm, QOP: qop},
		digest.Options{Method: a.method, URI: c.URI, Username: username, Password: password.Reveal(), Cnonce: c.Cnonce, Count: nc},
	)
	if err != nil {
		return companion.AuthMalformed
	}
	if !hmac.Equal([]byte(want.Response), []byte(strings.ToLower(c.Response))) {
		return companion.AuthWrong
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.consumed {
		if !a.nonces.use(c.Nonce, issued, nc) {
			return companion.AuthStale
		}
		a.consumed = true
	}
	return companion.AuthOK
}
