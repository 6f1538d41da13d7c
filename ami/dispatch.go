package ami

import (
	"fmt"
	"strconv"

	"github.com/astcompanion/sidecar/companion"
)

// maxNameLen bounds, in bytes, a device name or mailbox read from AMI: the
// domain's bound on the names it carries between servers.
const maxNameLen = companion.MaxNameLen

// unsafeName says why a device name or mailbox read from AMI is dropped,
// or "" when it is kept: it holds a control byte (below 0x20, TAB
// included, or DEL), which no peer, log or later action should get, or it
// is longer than maxNameLen bytes.
func unsafeName(name string) string {
	if len(name) > maxNameLen {
		return "is longer than " + strconv.Itoa(maxNameLen) + " bytes"
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "holds a control byte"
		}
	}
	return ""
}

// DroppedNames reports how many events and list items (DeviceStateChange,
// MessageWaiting, MWIGet, VoicemailUserEntry) the client dropped because
// the device name or mailbox they carry breaks unsafeName's rule: a byte
// below 0x20 or 0x7f, or more than 255 bytes. Each reason is logged once
// per minute, then summarised with a count.
func (c *Client) DroppedNames() uint64 { return c.droppedNames.Load() }

// keep reports whether s, read from the event m, may go on; a state it
// refuses is counted and logged, rate-limited.
func (c *Client) keep(m map[string]string, s companion.State) bool {
	why := unsafeName(s.Key.Name)
	if why == "" {
		return true
	}
	c.droppedNames.Add(1)
	kind := "device name"
	if s.Key.Kind == companion.KindMailbox {
		kind = "mailbox"
	}
	// The name is quoted and cut here: whatever the log handler does,
	// it gets no control byte and no unbounded text.
	c.dropLog.Warn(c.cfg.Address, kind+" "+why, "AMI event dropped: its "+kind+" "+why,
		"event", m["Event"], "name", fmt.Sprintf("%.64q", s.Key.Name), "name_bytes", len(s.Key.Name))
	return false
}

// onMessage is amigo's default handler: it gets every event read from
// Asterisk (responses go to Action only), one at a time in wire order, on
// amigo's event goroutine. It must return quickly (see queue): it parses,
// patches a running list and queues, nothing else.
func (c *Client) onMessage(m map[string]string) {
	if !c.enter() {
		return
	}
	defer c.leave()
	c.dispatch(m)
}

func (c *Client) dispatch(m map[string]string) {
	switch m["Event"] {
	case evDeviceStateChange:
		if s, ok := deviceState(m); ok && c.keep(m, s) {
			c.received(m["ActionID"], s)
		}
	case evMessageWaiting:
		if s, ok := messageWaiting(m); ok && c.keep(m, s) {
			c.received("", s)
		}
	case evMWIGet:
		if s, ok := mwiGetItem(m); ok && c.keep(m, s) {
			c.received(m["ActionID"], s)
		}
	case evVoicemailUserEntry:
		if s, ok := voicemailUser(m); ok && c.keep(m, s) {
			c.received(m["ActionID"], s)
		}
	case evDeviceStateListDone, evMWIGetDone, evVoicemailUserListDone:
		c.listDone(m["ActionID"])
	case evShutdown:
		c.shutdown(m)
	}
}

// received takes a state read from a list item (actionID set) or from a
// live event (actionID empty).
func (c *Client) received(actionID string, s companion.State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statesRead.Add(1)
	r := c.runs[s.Key.Kind]
	if actionID != "" {
		// A list item; one of a run that was abandoned (timeout, new
		// connection) is stale and dropped.
		if r != nil && r.actionID == actionID {
			r.set(s)
		}
		return
	}
	if r != nil {
		r.set(s)
	}
	c.queue.put(s)
}

func (c *Client) listDone(actionID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runs {
		if r.actionID == actionID {
			r.finish()
		}
	}
}
