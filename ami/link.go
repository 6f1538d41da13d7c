package ami

import (
	"strings"
	"sync"
	"sync/atomic"
)

// linkState is what the client last learnt about its AMI connection.
type linkState uint8

const (
	linkConnecting   linkState = iota // since Run started, nothing yet
	linkUp                            // logged in
	linkLost                          // an established connection ended
	linkRefused                       // Asterisk refused the login
	linkFailed                        // the connection failed before or during login
	linkUnreachable                   // the TCP connection could not be made
	linkShuttingDown                  // Asterisk announced its shutdown
)

// link follows the connection through amigo's callbacks and logs every
// transition once: amigo retries every ReconnectInterval and reports each
// failed attempt, which must not flood the log. Nothing logged here
// carries the secret: amigo's messages never include it.
type link struct {
	up atomic.Bool

	mu     sync.Mutex
	state  linkState
	reason string

	bufferFull atomic.Bool // "events chan is full" logged for this connection
	leaving    atomic.Bool // Run is logging off: the connection's end is expected
	counts     linkCounters
}

// set records a transition; it reports whether it is new, i.e. whether to
// log it.
func (l *link) set(s linkState, reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == s && l.reason == reason {
		return false
	}
	l.state, l.reason = s, reason
	return true
}

// onConnect is amigo's "connect" callback: a login succeeded. amigo fires
// it on its own goroutine before it counts itself connected, so an action
// sent from here can fail with "Not connected": the resync goroutine
// waits for amigo.Connected instead.
func (c *Client) onConnect(banner string) {
	if !c.enter() {
		return
	}
	defer c.leave()
	c.link.counts.connected()
	c.link.set(linkUp, "")
	c.link.bufferFull.Store(false)
	c.log.Info("AMI connected", "banner", banner)
	select {
	case c.connects <- struct{}{}:
	default: // a resync is already due
	}
}

// onAmigoError is amigo's "error" callback. amigo reports everything as
// text; these are the messages of amigo v0.1.10.
func (c *Client) onAmigoError(msg string) {
	if c.link.leaving.Load() {
		return // Run is logging off: the connection's end is expected
	}
	// The established connection ended (EOF, reset, keepalive timeout).
	// amigo reports it on a goroutine of its own, which may run after the
	// next connect: then amigo is connected again and the client stays
	// up. amigo.Connected waits for an action in flight, so it is asked
	// before c.life is taken, which Run's shutdown waits for.
	reason, lost := strings.CutPrefix(msg, "AMI TCP ERROR: ")
	reconnected := lost && c.am.Connected()
	if !c.enter() {
		return
	}
	defer c.leave()
	switch {
	case lost:
		if !reconnected {
			c.link.up.Store(false)
		}
		if c.link.set(linkLost, reason) {
			c.log.Warn("AMI connection lost; reconnecting", "reason", reason, "retry_every", c.retryInterval())
		}
	case strings.HasPrefix(msg, "Asterisk login error: "):
		reason := strings.TrimPrefix(msg, "Asterisk login error: ")
		c.link.up.Store(false)
		if strings.Contains(reason, "Authentication failed") {
			if c.link.set(linkRefused, reason) {
				c.log.Error("AMI login refused: check [ami] username and secret against manager.conf (permit/deny too); retrying",
					"username", c.cfg.Username, "reason", reason, "retry_every", c.retryInterval())
			}
			return
		}
		if c.link.set(linkFailed, reason) {
			c.log.Warn("AMI login failed; retrying", "reason", reason, "retry_every", c.retryInterval())
		}
	case strings.HasPrefix(msg, "Asterisk connection error: "):
		reason := strings.TrimPrefix(msg, "Asterisk connection error: ")
		c.link.up.Store(false)
		if c.link.set(linkFailed, reason) {
			c.log.Warn("AMI connection failed before login; retrying", "reason", reason, "retry_every", c.retryInterval())
		}
	case msg == "AMI Reconnect failed":
		// amigo drops the dial error itself.
		c.link.up.Store(false)
		if c.link.set(linkUnreachable, "") {
			c.log.Warn("cannot reach the AMI port; retrying", "retry_every", c.retryInterval())
		}
	case msg == "events chan is full":
		// Sent from amigo's reader: only flag it, once per connection.
		if !c.link.bufferFull.Swap(true) {
			c.log.Warn("amigo's event buffer is full: the AMI reader is stalling")
		}
	default:
		c.log.Warn("amigo error", "message", msg)
	}
}

// shutdown handles Asterisk's Shutdown event ("Shutdown: Cleanly",
// "Restart: True|False"); the connection closes next and amigo reconnects.
func (c *Client) shutdown(m map[string]string) {
	c.link.up.Store(false)
	if c.link.set(linkShuttingDown, m["Restart"]) {
		c.log.Warn("Asterisk is shutting down; will reconnect and resync",
			"shutdown", m["Shutdown"], "restart", m["Restart"])
	}
}
