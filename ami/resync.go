package ami

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// A snapshot follows every (re)connect. Besides making peers converge on
// what changed while the client was away, it covers events amigo loses:
// amigo reads the login response through a buffered reader it then throws
// away, so events Asterisk sends in the same packet (FullyBooted, a
// DeviceStateChange during boot) never reach a handler. The snapshot is
// read after the login, so it holds their effect.

// resyncLoop reads a snapshot after each connect, retrying at the
// reconnect interval until both kinds are read or the next connect.
func (c *Client) resyncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.connects:
		}
		c.resync(ctx)
	}
}

func (c *Client) resync(ctx context.Context) {
	devices, mailboxes := false, false
	var lastErr string
	for {
		if c.waitConnected(ctx) {
			var err error
			if !devices {
				err = c.snapshotDevices(ctx)
				devices = err == nil
			}
			if err == nil && !mailboxes {
				err = c.snapshotMailboxes(ctx)
				mailboxes = err == nil
			}
			if devices && mailboxes {
				return
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				c.log.Warn("AMI snapshot failed; retrying", "err", err, "retry_every", c.retryInterval())
			}
		}
		t := time.NewTimer(c.retryInterval())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.connects:
			// A new connection: its snapshot starts from scratch.
			t.Stop()
			devices, mailboxes, lastErr = false, false, ""
		case <-t.C:
		}
	}
}

// waitConnected waits until amigo counts itself connected, which happens
// just after its connect callback; false if that does not happen within
// the action timeout (the new connection failed at once).
func (c *Client) waitConnected(ctx context.Context) bool {
	deadline := time.NewTimer(c.actionTimeout())
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !c.am.Connected() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	c.link.up.Store(true)
	return true
}

// snapshotDevices reads DeviceStateList and queues it as the device
// snapshot.
func (c *Client) snapshotDevices(ctx context.Context) error {
	run := c.beginRun(companion.KindDevice)
	defer c.endRun(run)
	if err := c.collect(ctx, run, map[string]string{"Action": "DeviceStateList"}); err != nil {
		return err
	}
	n := c.deliver(run)
	c.log.Info("AMI device states read", "devices", n)
	return nil
}

// snapshotMailboxes reads the mailbox counts from whichever of
// app_voicemail (VoicemailUsersList) and res_mwi_external_ami (MWIGet) is
// loaded; the two exclude each other, and a missing one answers "unknown
// command", which is normal. When neither is loaded the mailboxes cannot
// be known: no snapshot is queued, so nothing known is erased.
func (c *Client) snapshotMailboxes(ctx context.Context) error {
	run := c.beginRun(companion.KindMailbox)
	defer c.endRun(run)
	answered := 0
	for _, action := range []map[string]string{
		{"Action": "VoicemailUsersList"},
		{"Action": "MWIGet", "Mailbox": "/.*/"}, // a regular expression: every mailbox
	} {
		err := c.collect(ctx, run, action)
		var ae *ActionError
		switch {
		case err == nil:
			answered++
		case errors.As(err, &ae) && unknownAction(ae.Message):
		default:
			return err
		}
	}
	if answered == 0 {
		c.mailboxNoticeOnce.Do(func() {
			c.log.Info("mailbox state cannot be read: neither app_voicemail (VoicemailUsersList) " +
				"nor res_mwi_external_ami (MWIGet) is loaded; MessageWaiting events are still followed")
		})
		return nil
	}
	n := c.deliver(run)
	c.log.Info("AMI mailbox states read", "mailboxes", n)
	return nil
}

// collect runs one list action into run and waits for its last item.
func (c *Client) collect(ctx context.Context, run *listRun, action map[string]string) error {
	id, name := c.nextActionID(), action["Action"]
	c.mu.Lock()
	done := run.expect(id)
	c.mu.Unlock()
	action["ActionID"] = id
	resp, err := c.do(ctx, action)
	if err != nil {
		var ae *ActionError
		if errors.As(err, &ae) && permissionDenied(ae.Message) {
			ae.Hint = hintReadPermission
		}
		return err
	}
	if resp["EventList"] != "start" {
		// An empty list may come as a plain acknowledgement, with no
		// Complete event (app_voicemail: "There are no voicemail users
		// currently defined.").
		return nil
	}
	t := time.NewTimer(c.actionTimeout())
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("%w: %s answered, but its list did not complete", ErrTimeout, name)
	}
}

func (c *Client) beginRun(kind companion.Kind) *listRun {
	run := newListRun(kind)
	c.mu.Lock()
	c.runs[kind] = run
	c.mu.Unlock()
	return run
}

// endRun forgets run if still current; its late items are then dropped.
func (c *Client) endRun(run *listRun) {
	c.mu.Lock()
	if c.runs[run.kind] == run {
		delete(c.runs, run.kind)
	}
	c.mu.Unlock()
}

// deliver queues run as its kind's snapshot and reports its size. Under
// c.mu, so that no live event falls between the two (see listRun).
func (c *Client) deliver(run *listRun) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.runs, run.kind)
	states := run.states()
	c.queue.putSnapshot(run.kind, states)
	return len(states)
}
