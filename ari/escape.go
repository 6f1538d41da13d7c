package ari

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsafeName is matched by every *UnsafeNameError (errors.Is).
var ErrUnsafeName = errors.New("ari: name not sent: it holds a control byte")

// UnsafeNameError is a name refused before any request because it holds
// a control byte: below 0x20 (TAB included) or DEL (0x7f). escapeSegment
// would percent-encode it, but Asterisk decodes the path, and the byte
// would end up in a device, mailbox or sorcery object, and from there in
// events, AMI actions and peers. It does not wrap companion.ErrUnsupported:
// companion.Apply stops a whole kind on that, and one bad name must not
// stop the others; Apply retries it with backoff at no I/O cost.
type UnsafeNameError struct {
	What   string // "device name", "mailbox", "sorcery id", ...
	Name   string // as given; quote it before printing
	Offset int    // offset of the first refused byte
}

func (e *UnsafeNameError) Error() string {
	more := ""
	if len(e.Name) > 64 {
		more = "..."
	}
	return fmt.Sprintf("ari: %s %.64q%s not sent: byte 0x%02x at offset %d; "+
		"ARI takes no control byte (below 0x20, or 0x7f) in a URL path", e.What, e.Name, more, e.Name[e.Offset], e.Offset)
}

// Unwrap makes errors.Is(err, ErrUnsafeName) true.
func (e *UnsafeNameError) Unwrap() error { return ErrUnsafeName }

// checkPathName refuses a name that holds a control byte; what names it
// in the error.
func checkPathName(what, s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return &UnsafeNameError{What: what, Name: s, Offset: i}
		}
	}
	return nil
}

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
	if err := checkPathName(what, s); err != nil {
		return err
	}
	if escapeSegment(s) != s || strings.ContainsAny(s, ":@") {
		return fmt.Errorf("%s %q has characters that cannot go unescaped into the ARI URL (only A-Z a-z 0-9 - . _ ~)", what, s)
	}
	return nil
}
