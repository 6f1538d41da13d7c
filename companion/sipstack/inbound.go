package sipstack

import (
	"math"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// inbound reads what the receiver needs from a PUBLISH. A non-zero status
// is the edge's own answer to a request it cannot hand on: pjsip refuses a
// message whose Expires is not a number with 400 before any module sees
// it.
func (s *Stack) inbound(req *sip.Request) (in companion.InboundPublish, status int, reason string) {
	in = companion.InboundPublish{
		Transport: strings.ToLower(req.Transport()),
		URIScheme: strings.ToLower(req.Recipient.Scheme),
		Resource:  unescape(req.Recipient.User),
		Expires:   -1,
		Body:      req.Body(),
	}
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		// sipgo sets the source from the socket; this cannot happen.
		return in, 500, ""
	}
	in.Source = src
	if h := firstHeader(req, "event", "o"); h != nil {
		ev, _, _ := strings.Cut(h.Value(), ";")
		in.Event = strings.TrimSpace(ev)
	}
	if h := firstHeader(req, "sip-if-match"); h != nil {
		in.IfMatch = strings.TrimSpace(h.Value())
	}
	if h := firstHeader(req, "expires"); h != nil {
		n, ok := deltaSeconds(h.Value())
		if !ok {
			return in, 400, "Invalid Expires"
		}
		in.Expires = n
	}
	if h := req.ContentType(); h != nil {
		mt, _, _ := strings.Cut(h.Value(), ";")
		in.ContentType = strings.ToLower(strings.TrimSpace(mt))
	}
	if a := s.authOf(req); a != nil {
		in.Auth = a
	}
	return in, 0, ""
}

// firstHeader returns the first header named by any of names (lower
// case; compact forms included by the caller).
func firstHeader(req *sip.Request, names ...string) sip.Header {
	for _, h := range req.Headers() {
		n := sip.HeaderToLower(h.Name())
		for _, want := range names {
			if n == want {
				return h
			}
		}
	}
	return nil
}

// deltaSeconds reads RFC 3261 delta-seconds; values past the int32 range
// are capped as the RFC caps values past 2**32-1.
func deltaSeconds(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < math.MaxInt32 {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, math.MaxInt32), true
}

// unescape decodes %HH in a URI user part, as pjsip's parser does before
// Asterisk looks the resource up. Malformed escapes are kept verbatim.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := hexVal(s[i+1])
			lo, ok2 := hexVal(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
