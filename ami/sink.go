package ami

import (
	"context"
	"errors"
	"strconv"

	"github.com/astcompanion/sidecar/companion"
)

// Hints for refusals that retrying cannot cure (they wrap
// companion.ErrUnsupported).
const (
	hintSetvarRefused = "Asterisk sets only Custom: device states through DEVICE_STATE, " +
		"to one of UNKNOWN NOT_INUSE INUSE BUSY INVALID UNAVAILABLE RINGING RINGINUSE ONHOLD"
	hintNoMWIUpdate = "MWIUpdate comes with res_mwi_external and res_mwi_external_ami, which are not loaded, " +
		"and res_mwi_external cannot be loaded beside app_voicemail. Either unload app_voicemail and load " +
		"res_mwi_external and res_mwi_external_ami, or set [apply] mailbox_state = \"none\"; " +
		"mailbox_state = \"ari\" needs res_mwi_external too"
	hintPermission = "the AMI user may not run this action: give it write = call in manager.conf"
)

// ApplyDevice writes a remote device state into the local Asterisk with
// Setvar DEVICE_STATE(name). Asterisk refusing the name or the state, or
// the AMI user lacking the permission, is permanent (ErrUnsupported);
// other failures are transient.
func (c *Client) ApplyDevice(ctx context.Context, name string, state companion.DeviceState) error {
	variable := "DEVICE_STATE(" + name + ")"
	_, err := c.do(ctx, map[string]string{"Action": "Setvar", "Variable": variable, "Value": state.String()})
	var ae *ActionError
	if errors.As(err, &ae) {
		ae.Target = variable + "=" + state.String()
		switch {
		case ae.Message == "Variable not set":
			ae.Hint = hintSetvarRefused
		case permissionDenied(ae.Message):
			ae.Hint = hintPermission
		}
	}
	return err
}

// ApplyMailbox writes a remote mailbox state into the local Asterisk with
// MWIUpdate. An Asterisk without res_mwi_external knows no MWIUpdate: that
// error wraps ErrUnsupported and says what to change.
func (c *Client) ApplyMailbox(ctx context.Context, id companion.MailboxID, old, new int) error {
	_, err := c.do(ctx, map[string]string{
		"Action":      "MWIUpdate",
		"Mailbox":     id.String(),
		"OldMessages": strconv.Itoa(old),
		"NewMessages": strconv.Itoa(new),
	})
	var ae *ActionError
	if errors.As(err, &ae) {
		ae.Target = id.String() + " old=" + strconv.Itoa(old) + " new=" + strconv.Itoa(new)
		switch {
		case unknownAction(ae.Message):
			ae.Hint = hintNoMWIUpdate
		case permissionDenied(ae.Message):
			ae.Hint = hintPermission
		}
	}
	return err
}

var _ companion.Applier = (*Client)(nil)
