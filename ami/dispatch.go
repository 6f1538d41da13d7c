package ami

import "github.com/astcompanion/sidecar/companion"

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
		if s, ok := deviceState(m); ok {
			c.received(m["ActionID"], s)
		}
	case evMessageWaiting:
		if s, ok := messageWaiting(m); ok {
			c.received("", s)
		}
	case evMWIGet:
		if s, ok := mwiGetItem(m); ok {
			c.received(m["ActionID"], s)
		}
	case evVoicemailUserEntry:
		if s, ok := voicemailUser(m); ok {
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
