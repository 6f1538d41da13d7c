package ami

import (
	"errors"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Errors of an action. All but those wrapping companion.ErrUnsupported
// are transient: the same action may succeed later.
var (
	// ErrNotConnected: no logged-in AMI session right now (or the client
	// is not running).
	ErrNotConnected = errors.New("ami: not connected to Asterisk")
	// ErrTimeout: Asterisk did not answer within the action timeout.
	ErrTimeout = errors.New("ami: no answer from Asterisk in time")
)

// ActionError is Asterisk's "Response: Error" to an action.
type ActionError struct {
	Action  string // e.g. "Setvar"
	Target  string // what it was about, e.g. "DEVICE_STATE(Custom:x)=INUSE"; may be empty
	Message string // Asterisk's Message header, verbatim
	// Hint says what to change in the local Asterisk when retrying cannot
	// help; such errors wrap companion.ErrUnsupported.
	Hint string
}

func (e *ActionError) Error() string {
	s := "ami: Asterisk refused " + e.Action
	if e.Target != "" {
		s += " " + e.Target
	}
	s += ": " + e.Message
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, companion.ErrUnsupported) true for refusals
// that only a change to the local Asterisk can cure.
func (e *ActionError) Unwrap() error {
	if e.Hint != "" {
		return companion.ErrUnsupported
	}
	return nil
}

// unknownAction tells Asterisk's answer to an action that no loaded module
// provides ("Invalid/unknown command: MWIGet. Use Action: ListCommands
// ...", recorded in 05d_bad_action_and_misc).
func unknownAction(message string) bool {
	return strings.HasPrefix(message, "Invalid/unknown command")
}

// hintReadPermission is the fix for "Permission denied" to a list
// action. DeviceStateList, VoicemailUsersList and MWIGet are registered
// with the call and reporting classes; Asterisk runs an action when the
// user's write classes hold any of its classes. The events the companion
// follows come under read = call (DeviceStateChange, MessageWaiting) and
// read = system (FullyBooted, Shutdown).
const hintReadPermission = "the AMI user may not run it: give it write = call in its manager.conf section, " +
	"then 'manager reload'; the companion needs read = system,call and write = call"

// permissionDenied tells Asterisk's answer to an action the AMI user may
// not run (05e_permission_denied_readonly_user).
func permissionDenied(message string) bool { return message == "Permission denied" }
