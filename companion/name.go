package companion

import (
	"fmt"
	"unicode/utf8"
)

// A device name or mailbox uniqueid is data, never protocol: it travels in
// AMI headers (Setvar DEVICE_STATE(...), MWIUpdate Mailbox:), in ARI URL
// paths and in logs, where a CR or LF would end the header and start
// another action. CheckName is the rule every name from a peer or from the
// local Asterisk must pass before it enters a table.

// MaxNameLen bounds a device name or mailbox uniqueid, in bytes. Asterisk
// keeps device names up to 79 bytes and mailbox ids up to 162
// (AST_MAX_MAILBOX_UNIQUEID); 255 leaves room for a device_name template's
// prefix without letting a peer fill memory with one key.
const MaxNameLen = 255

// ErrBadName is what CheckName's errors wrap.
var ErrBadName = fmt.Errorf("unusable name")

// CheckName reports why name cannot be a device name or mailbox uniqueid:
// empty, longer than MaxNameLen, not UTF-8, or holding a control
// character (below 0x20, or 0x7f). The error quotes the name, escaped.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: %d bytes, more than %d, starting %.40q", ErrBadName, len(name), MaxNameLen, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8: %.80q", ErrBadName, name)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: control character %#02x at byte %d: %.80q", ErrBadName, c, i, name)
		}
	}
	return nil
}
