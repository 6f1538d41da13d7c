package ami

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// What may go into an AMI action. amigo writes each header as
// "Name: Value\r\n" and ends the action with an empty line, escaping
// nothing; Asterisk ends a header line at LF (a CR before it dropped) and
// the action at the first empty line, and reads values as C strings. So a
// line break in a name or value would end the action early and have
// Asterisk read the rest as headers of its own choosing, or as a new
// action; a NUL would cut the value. Every action the client sends goes
// through checkAction (in do), and the login credentials through settings:
//
//   - a header name is one or more bytes from 0x21 to 0x7e, ':' excepted;
//   - a header value holds no byte below 0x20 but TAB (0x09), and no DEL
//     (0x7f); bytes from 0x80 up pass as they are (UTF-8 names travel
//     verbatim, as recorded against Asterisk 22).
//
// A refused action never reaches amigo, so nothing of it reaches the
// socket.

// ErrUnsafeHeader is matched by every *UnsafeHeaderError (errors.Is).
var ErrUnsafeHeader = errors.New("ami: action not sent: a header holds a byte that AMI cannot carry")

// UnsafeHeaderError is an action refused before sending because a header
// name or value breaks the rule above. It does not wrap
// companion.ErrUnsupported: companion.Apply stops applying a whole kind
// on such an error, and one bad name must not stop the others; the
// refusal costs no I/O, so Apply's backoff retries are cheap.
type UnsafeHeaderError struct {
	Action string // the Action header, as given
	Header string // the header at fault, as given
	InName bool   // the name of the header is at fault, not its value
	Offset int    // offset of the first refused byte in the name or value
	Value  string // the value as given; quote it before printing
}

func (e *UnsafeHeaderError) Error() string {
	part, s := "value", e.Value
	if e.InName {
		part, s = "name", e.Header
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ami: action %q not sent: header %q: %s", e.Action, e.Header, part)
	switch {
	case s == "":
		b.WriteString(" is empty")
	case e.Offset < len(s):
		fmt.Fprintf(&b, " holds byte 0x%02x at offset %d", s[e.Offset], e.Offset)
	}
	// %.64q quotes at most 64 runes: control bytes come out escaped.
	fmt.Fprintf(&b, " (%.64q", s)
	if len(s) > 64 {
		b.WriteString("...")
	}
	b.WriteString("); AMI takes no CR, LF, NUL, other control byte but TAB, or DEL in a value, " +
		"and only 0x21-0x7e without ':' in a name")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrUnsafeHeader) true.
func (e *UnsafeHeaderError) Unwrap() error { return ErrUnsafeHeader }

// checkAction applies the rule to every header of an action, the
// ActionID included; headers are looked at in name order, so the error
// names the same one every time.
func checkAction(fields map[string]string) error {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := fields[k]
		if i, ok := badHeaderName(k); !ok {
			return &UnsafeHeaderError{Action: fields["Action"], Header: k, InName: true, Offset: i, Value: v}
		}
		if i := badHeaderValue(v); i >= 0 {
			return &UnsafeHeaderError{Action: fields["Action"], Header: k, Offset: i, Value: v}
		}
	}
	return nil
}

// badHeaderName returns the offset of the first byte a header name may not
// hold; ok is false when the name is refused (an empty name: offset 0).
func badHeaderName(name string) (offset int, ok bool) {
	if name == "" {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= 0x20 || c >= 0x7f || c == ':' {
			return i, false
		}
	}
	return 0, true
}

// badHeaderValue returns the offset of the first byte a header value may
// not hold, or -1.
func badHeaderValue(v string) int {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return i
		}
	}
	return -1
}
