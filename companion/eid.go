package companion

import (
	"errors"
	"fmt"
)

// EntityID is an Asterisk Entity ID: six bytes, written as lower-case hex
// pairs joined by colons ("02:00:00:00:00:01"). Asterisk stamps every state
// it publishes with the EID of the server it originated on; that origin is
// what keeps a mesh of peers free of loops.
type EntityID [6]byte

// ErrInvalidEntityID is returned by ParseEntityID for anything that is not
// exactly six colon-separated hex byte pairs.
var ErrInvalidEntityID = errors.New("entity ID must be six hex byte pairs joined by ':' (aa:bb:cc:dd:ee:ff)")

// ParseEntityID parses "aa:bb:cc:dd:ee:ff" (either case). It rejects
// everything else, including the shorter forms ast_str_to_eid tolerates,
// so that a typo in a configuration file never becomes a different EID.
func ParseEntityID(s string) (EntityID, error) {
	var eid EntityID
	if len(s) != 17 {
		return eid, fmt.Errorf("%q: %w", s, ErrInvalidEntityID)
	}
	for i := range eid {
		hi, ok1 := unhex(s[i*3])
		lo, ok2 := unhex(s[i*3+1])
		if !ok1 || !ok2 || (i < 5 && s[i*3+2] != ':') {
			return EntityID{}, fmt.Errorf("%q: %w", s, ErrInvalidEntityID)
		}
		eid[i] = hi<<4 | lo
	}
	return eid, nil
}

// String formats the EID as Asterisk writes it: lower-case, colon-separated.
func (e EntityID) String() string {
	return string(e.appendTo(make([]byte, 0, 17)))
}

func (e EntityID) appendTo(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i, c := range e {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// IsZero reports whether e is the zero EID, which no configured node uses.
func (e EntityID) IsZero() bool { return e == EntityID{} }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
