package ari

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	ariv6 "github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/astcompanion/sidecar/companion"
)

// ApplyDevice sets a Stasis: device: PUT /deviceStates/{name}?deviceState=.
// name is escaped here ("Stasis:PJSIP/alice" is one path segment). ARI can
// set only Stasis: devices; other names get 409, reported as
// companion.ErrUnsupported. ARI refuses UNKNOWN on PUT (500 "Unknown
// device"), so UNKNOWN deletes the device instead, which Asterisk reports
// as UNKNOWN. A name with a control byte is refused unsent
// (*UnsafeNameError).
func (c *Client) ApplyDevice(ctx context.Context, name string, state companion.DeviceState) error {
	method := "PUT"
	if state == companion.Unknown {
		method = "DELETE"
	}
	if err := checkPathName("device name", name); err != nil {
		// Not in Op: the error quotes it.
		return &Error{Op: method + " /deviceStates", Where: c.url, Kind: companion.ErrARIFailed, Err: err}
	}
	op := method + " /deviceStates/" + name
	if name == "" {
		return &Error{Op: op, Where: c.url, Kind: companion.ErrARIFailed, Err: errors.New("empty device name")}
	}
	key := ariv6.NewKey(ariv6.DeviceStateKey, escapeSegment(name))
	x, err := c.call(ctx, func(lib *native.Client) error {
		if state == companion.Unknown {
			return lib.DeviceState().Delete(key)
		}
		// ari/v6 sends {"deviceState":"INUSE"}; ARI reads a string
		// parameter from the body as from the query.
		return lib.DeviceState().Update(key, state.String())
	})
	e, done := c.baseError(op, x, err)
	if done {
		if e == nil {
			return nil
		}
		return e
	}
	e.Kind = companion.ErrARIFailed
	switch {
	case x.status == http.StatusConflict:
		e.Kind, e.Hint = companion.ErrUnsupported, "ARI can set only Stasis: devices: use device_name = \"Stasis:{device}\""
	case x.status == http.StatusNotFound && x.msg == "Resource not found":
		e.Kind, e.Hint = companion.ErrUnsupported, "this Asterisk has no /deviceStates: load res_ari_device_states and res_stasis_device_state"
	case x.status == http.StatusInternalServerError && x.msg == "Unknown device":
		e.Hint = fmt.Sprintf("Asterisk did not take the state %s", state)
	}
	return e
}

// ApplyMailbox sets a mailbox's counts through res_mwi_external:
// PUT /mailboxes/{box@context}?oldMessages=&newMessages=. It goes around
// ari/v6, whose Mailbox().Update sends the counts as JSON strings that
// Asterisk reads as 0. Without res_mwi_external (which cannot be loaded
// beside app_voicemail) ARI has no /mailboxes: companion.ErrUnsupported.
// A mailbox with a control byte is refused unsent (*UnsafeNameError).
func (c *Client) ApplyMailbox(ctx context.Context, id companion.MailboxID, old, new int) error {
	if err := checkPathName("mailbox", id.String()); err != nil {
		return &Error{Op: "PUT /mailboxes", Where: c.url, Kind: companion.ErrARIFailed, Err: err}
	}
	op := "PUT /mailboxes/" + id.String()
	if id.Box == "" || old < 0 || new < 0 {
		return &Error{Op: op, Where: c.url, Kind: companion.ErrARIFailed, Err: fmt.Errorf("bad mailbox update %q %d/%d", id, old, new)}
	}
	path := "/mailboxes/" + escapeSegment(id.String()) + "?oldMessages=" + strconv.Itoa(old) + "&newMessages=" + strconv.Itoa(new)
	x := c.direct(ctx, http.MethodPut, path)
	e, done := c.baseError(op, x, nil)
	if done {
		if e == nil {
			return nil
		}
		return e
	}
	e.Kind = companion.ErrARIFailed
	if x.status == http.StatusNotFound && x.msg == "Resource not found" {
		e.Kind = companion.ErrUnsupported
		e.Hint = "ARI has no /mailboxes: it needs res_mwi_external (with res_stasis_mailbox and res_ari_mailboxes), " +
			"which cannot be loaded beside app_voicemail; on a box that runs app_voicemail set mailbox_state = \"none\""
	}
	return e
}
