package companion

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Echoes remembers what the sink wrote into the local Asterisk, so that
// the AMI events those writes cause are not taken for local state and
// published back: without this, two companions loop forever.
//
// A device name is an echo when the sink wrote it, when it is the
// res_mwi_devstate twin MWI:<mailbox> of a mailbox the sink wrote, or when
// the device_name template could have produced it from a remote device
// name (e.g. "Custom:PJSIP/alice" from "Custom:{device}"). The last rule
// survives a restart of the companion, when states it wrote before are
// still in Asterisk's astdb; it recognises a remote device by the
// technology separator ('/' or ':') every Asterisk device name has, so a
// plain local "Custom:alice" stays local.
//
// A mailbox count is an echo when it equals one of the last few counts the
// sink wrote for that mailbox: MessageWaiting events can trail the writes.
type Echoes struct {
	produced *regexp.Regexp // nil when the template cannot tell
	ledger   *Ledger        // names written before a restart; nil for none

	mu         sync.Mutex
	devices    map[string]uint64         // upper-cased technology, as Asterisk normalises it; 0 while written, else its release number
	mailboxes  map[string][]mailboxCount // by MailboxID.String()
	mailboxRel map[string]uint64         // release number of a mailbox no longer written
	released   []released                // oldest first, at most echoReleased
	releases   uint64
}

// released is a name the sink no longer writes, still taken for an echo
// until echoReleased newer ones push it out: its last (clearing) write may
// still echo, and Asterisk keeps Custom: values in astdb.
type released struct {
	device  string // deviceKey form, or ""
	mailbox string // MailboxID.String(), or ""
	seq     uint64
}

// echoReleased bounds the names remembered after the sink stopped writing
// them, so that peers coming and going with ever new names cannot grow
// this record without end.
const echoReleased = 10_000

type mailboxCount struct{ old, new int }

// echoHistory is how many recent writes per mailbox count as echoes.
const echoHistory = 4

// NewEchoes returns an empty record for the given template ("" when remote
// device states are not applied).
func NewEchoes(t DeviceNameTemplate) *Echoes {
	return &Echoes{
		produced:   templatePattern(t),
		devices:    make(map[string]uint64),
		mailboxes:  make(map[string][]mailboxCount),
		mailboxRel: make(map[string]uint64),
	}
}

// templatePattern compiles a template into a pattern of the names it
// produces: {device} must look like an Asterisk device name (technology,
// then '/' or ':'), {eid} like an entity ID, {peer} anything non-empty.
func templatePattern(t DeviceNameTemplate) *regexp.Regexp {
	s := string(t)
	if !strings.Contains(s, "{device}") {
		return nil
	}
	var b strings.Builder
	b.WriteString("^(?i:")
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(regexp.QuoteMeta(s))
			break
		}
		b.WriteString(regexp.QuoteMeta(s[:i]))
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "{device}"):
			b.WriteString(`[A-Za-z0-9_-]+[/:].+`)
			s = s[len("{device}"):]
		case strings.HasPrefix(s, "{eid}"):
			b.WriteString(`[0-9a-f]{2}(?::[0-9a-f]{2}){5}`)
			s = s[len("{eid}"):]
		case strings.HasPrefix(s, "{peer}"):
			b.WriteString(`.+`)
			s = s[len("{peer}"):]
		default:
			b.WriteString(regexp.QuoteMeta(s[:1]))
			s = s[1:]
		}
	}
	b.WriteString(")$")
	return regexp.MustCompile(b.String())
}

// UseLedger makes every name in l an echo: it was written for a peer,
// possibly before a restart, and is not local state.
func (e *Echoes) UseLedger(l *Ledger) { e.ledger = l }

// deviceKey folds the technology's case: Asterisk turns "custom:x" into
// "Custom:x", while the resource part is case-sensitive.
func deviceKey(name string) string {
	if i := strings.IndexAny(name, "/:"); i > 0 {
		return strings.ToUpper(name[:i]) + name[i:]
	}
	return name
}

// WroteDevice records that the sink is writing name. Call it before the
// write: the event it causes can arrive before the action's response.
func (e *Echoes) WroteDevice(name string, _ DeviceState) {
	e.mu.Lock()
	e.devices[deviceKey(name)] = 0
	e.mu.Unlock()
}

// ReleaseDevice says the sink no longer writes name (its clearing value is
// written): it stays an echo until echoReleased newer releases.
func (e *Echoes) ReleaseDevice(name string) {
	k := deviceKey(name)
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.devices[k]; !ok {
		return
	}
	e.releases++
	e.devices[k] = e.releases
	e.pushReleasedLocked(released{device: k, seq: e.releases})
}

// ReleaseMailbox is ReleaseDevice for a mailbox.
func (e *Echoes) ReleaseMailbox(id MailboxID) {
	k := id.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.mailboxes[k]; !ok {
		return
	}
	e.releases++
	e.mailboxRel[k] = e.releases
	e.pushReleasedLocked(released{mailbox: k, seq: e.releases})
}

func (e *Echoes) pushReleasedLocked(r released) {
	e.released = append(e.released, r)
	if len(e.released) <= echoReleased {
		return
	}
	old := e.released[0]
	e.released[0] = released{}
	e.released = e.released[1:]
	// Written or released again since? Then it is not this release's to
	// forget.
	if old.device != "" && e.devices[old.device] == old.seq {
		delete(e.devices, old.device)
	}
	if old.mailbox != "" && e.mailboxRel[old.mailbox] == old.seq {
		delete(e.mailboxes, old.mailbox)
		delete(e.mailboxRel, old.mailbox)
	}
}

// WroteMailbox records that the sink is writing these counts to id.
func (e *Echoes) WroteMailbox(id MailboxID, old, new int) {
	k := id.String()
	e.mu.Lock()
	delete(e.mailboxRel, k)
	h := append(e.mailboxes[k], mailboxCount{old, new})
	if len(h) > echoHistory {
		h = slices.Delete(h, 0, len(h)-echoHistory)
	}
	e.mailboxes[k] = h
	e.mu.Unlock()
}

// Device reports whether a device state event for name is an echo.
func (e *Echoes) Device(name string) bool {
	if e.produced != nil && e.produced.MatchString(name) {
		return true
	}
	if e.ledger != nil {
		if e.ledger.Has(KindDevice, name) || e.ledger.Has(KindDevice, deviceKey(name)) {
			return true
		}
		if len(name) > 4 && strings.EqualFold(name[:4], "MWI:") && e.ledger.Has(KindMailbox, name[4:]) {
			return true
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.devices[deviceKey(name)]; ok {
		return true
	}
	if len(name) > 4 && strings.EqualFold(name[:4], "MWI:") {
		_, ok := e.mailboxes[name[4:]]
		return ok
	}
	return false
}

// Mailbox reports whether a mailbox count for id is an echo.
func (e *Echoes) Mailbox(id MailboxID, old, new int) bool {
	if e.ledger != nil && e.ledger.Has(KindMailbox, id.String()) {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Contains(e.mailboxes[id.String()], mailboxCount{old, new})
}

// State reports whether s, seen on the local Asterisk, is an echo.
func (e *Echoes) State(s State) bool {
	switch s.Key.Kind {
	case KindDevice:
		return e.Device(s.Key.Name)
	case KindMailbox:
		id, _ := s.Key.Mailbox()
		return e.Mailbox(id, s.Old, s.New)
	}
	return false
}
