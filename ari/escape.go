package ari

import (
	"fmt"
	"strings"
)

// escapeSegment makes s one URL path segment. ARI splits the path on '/'
// first and then decodes each segment with ast_uri_decode in its legacy
// mode, which turns '+' into a space: so everything but unreserved
// characters, ':' and '@' is percent-encoded, '/' and '+' included.
// "Stasis:PJSIP/alice" becomes "Stasis:PJSIP%2Falice".
func escapeSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == ':', c == '@':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// checkSegment refuses what ari/v6 would put into a URL path unescaped and
// split on: config load refuses such sorcery ids already; this keeps the
// adapter safe on its own.
func checkSegment(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if escapeSegment(s) != s || strings.ContainsAny(s, ":@") {
		return fmt.Errorf("%s %q has characters that cannot go unescaped into the ARI URL (only A-Z a-z 0-9 - . _ ~)", what, s)
	}
	return nil
}
