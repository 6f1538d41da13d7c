package companion

import "fmt"

// Kind separates the two namespaces of state: a device named "1000" and a
// mailbox named "1000" are different keys.
type Kind uint8

const (
	KindDevice Kind = iota + 1
	KindMailbox
)

func (k Kind) String() string {
	switch k {
	case KindDevice:
		return "device"
	case KindMailbox:
		return "mailbox"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Key identifies one piece of state: a device name (exactly as Asterisk
// names it, "PJSIP/alice", "Custom:foo") or a mailbox uniqueid.
type Key struct {
	Kind Kind
	Name string
}

// DeviceKey and MailboxKey build keys.
func DeviceKey(name string) Key          { return Key{Kind: KindDevice, Name: name} }
func MailboxKey(id MailboxID) Key        { return Key{Kind: KindMailbox, Name: id.String()} }
func (k Key) String() string             { return k.Kind.String() + " " + k.Name }
func (k Key) Mailbox() (MailboxID, bool) { return ParseMailboxID(k.Name) }

// State is the value of a key: for a device its state and cachable flag,
// for a mailbox its old and new message counts. It is comparable, so a
// table can tell a real change from a repeat.
type State struct {
	Key Key

	Device   DeviceState // KindDevice only
	Cachable bool        // KindDevice only

	Old, New int // KindMailbox only
}

// Device builds the state of a device.
func Device(name string, s DeviceState, cachable bool) State {
	return State{Key: DeviceKey(name), Device: s, Cachable: cachable}
}

// Mailbox builds the state of a mailbox.
func Mailbox(id MailboxID, old, new int) State {
	return State{Key: MailboxKey(id), Old: old, New: new}
}

func (s State) String() string {
	switch s.Key.Kind {
	case KindDevice:
		return fmt.Sprintf("%s %s", s.Key.Name, s.Device)
	case KindMailbox:
		return fmt.Sprintf("%s new=%d old=%d", s.Key.Name, s.New, s.Old)
	}
	return "invalid state"
}

// normalized clears the fields that do not belong to s's kind, so that
// equal states compare equal. A state of no known kind is a programming
// error.
func (s State) normalized() State {
	switch s.Key.Kind {
	case KindDevice:
		s.Old, s.New = 0, 0
	case KindMailbox:
		s.Device, s.Cachable = Unknown, false
	default:
		panic(fmt.Sprintf("companion: state %q has no kind", s.Key.Name))
	}
	return s
}
