package companion

import "strings"

// MailboxID names a mailbox as Asterisk's MWI core does: "box@context", or
// a bare "box" (Asterisk accepts both and keeps them distinct: "300" and
// "300@default" are two mailboxes).
type MailboxID struct {
	Box     string
	Context string // empty for a bare box
}

// ParseMailboxID splits at the first '@', as res_pjsip_publish_asterisk does
// with a received uniqueid. ok is false when the box part is empty.
func ParseMailboxID(s string) (id MailboxID, ok bool) {
	box, context, _ := strings.Cut(s, "@")
	return MailboxID{Box: box, Context: context}, box != ""
}

// String is the uniqueid as it travels on the wire.
func (m MailboxID) String() string {
	if m.Context == "" {
		return m.Box
	}
	return m.Box + "@" + m.Context
}
