package ami

import (
	"context"
	"fmt"
)

// do sends one action and interprets Asterisk's answer: the map of a
// "Response: Success" (or Goodbye), an *ActionError for "Response:
// Error", ErrTimeout, ErrNotConnected, or ctx's error.
//
// Every action of the client goes through here, and checkAction refuses
// one that could end early or carry a second action (*UnsafeHeaderError)
// before anything else, so nothing of it reaches amigo or the socket.
//
// amigo allows one action in flight: Action holds a mutex for the whole
// round trip, which knows no context. do queues callers on its own slot
// instead, so that ctx can end the wait, and runs amigo's Action on a
// goroutine that keeps the slot until amigo returns, so a caller whose ctx
// ends leaves at once and at most one goroutine waits inside amigo.
func (c *Client) do(ctx context.Context, fields map[string]string) (map[string]string, error) {
	if fields["ActionID"] == "" {
		fields["ActionID"] = c.nextActionID()
	}
	if err := checkAction(fields); err != nil {
		return nil, err
	}
	c.life.RLock()
	am, running := c.am, c.running
	if running {
		c.actions.Add(1)
	}
	c.life.RUnlock()
	if !running {
		return nil, ErrNotConnected
	}
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		c.actions.Done()
		return nil, ctx.Err()
	}
	name := fields["Action"]
	type result struct {
		m   map[string]string
		err error
	}
	answered := make(chan result, 1)
	go func() {
		defer c.actions.Done()
		defer func() { <-c.slot }()
		m, err := am.Action(fields) // fields belongs to amigo from here on
		answered <- result{m, err}
	}()
	select {
	case r := <-answered:
		return c.interpret(name, r.m, r.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) interpret(action string, m map[string]string, err error) (map[string]string, error) {
	if err != nil {
		// amigo's only error: it does not count itself connected.
		return nil, ErrNotConnected
	}
	switch m["Response"] {
	case "Success", "Goodbye":
		return m, nil
	case "Error":
		return m, &ActionError{Action: action, Message: m["Message"]}
	case "":
		// amigo reports its own timeout as a map {"Error": "Timeout"}
		// with a nil error.
		if m["Error"] == "Timeout" {
			return nil, fmt.Errorf("%w: %s, %v", ErrTimeout, action, c.actionTimeout())
		}
	}
	return m, fmt.Errorf("ami: unexpected answer to %s: Response %q", action, m["Response"])
}
