package amitest

import "fmt"

// What Asterisk 22.10.1 answers on its own, byte for byte as recorded in
// fixtures/ami (TestBuiltinAnswersAreRecorded checks them against the
// recordings). "%s" stands for the header block "ActionID: x\r\n", empty
// when the action carried no ActionID.
const (
	bannerPrefix = "Asterisk Call Manager/"
	// Banner: every recording.
	Banner = "Asterisk Call Manager/11.0.0\r\n"
	// loginFailed: 05a_wrong_password; Asterisk then closes the connection.
	loginFailed = "Response: Error\r\n%sMessage: Authentication failed\r\n\r\n"
	// loginAccepted: used when no transcript holds a login answer.
	loginAccepted = "Response: Success\r\n%sMessage: Authentication accepted\r\n\r\n"
	// beforeLogin: 05c_action_before_login, any action but Login.
	beforeLogin = "Response: Error\r\n%sMessage: Permission denied\r\n\r\n"
	// pong: 05d_bad_action_and_misc.
	pong = "Response: Success\r\n%sPing: Pong\r\nTimestamp: 1795697131.260993\r\n\r\n"
	// goodbye: 01_inst1_local_devstate; Asterisk then closes the connection.
	goodbye = "Response: Goodbye\r\n%sMessage: Thanks for all the fish.\r\n\r\n"
	// unknownAction: 05d_bad_action_and_misc, the answer to an action no
	// loaded module provides (e.g. MWIGet without res_mwi_external_ami).
	unknownAction = "Response: Error\r\n%sMessage: Invalid/unknown command: %s. Use Action: ListCommands to show available commands.\r\n\r\n"
)

// UnknownAction is Asterisk's answer to an action no loaded module
// provides.
func UnknownAction(actionID, action string) []byte {
	return fmt.Appendf(nil, unknownAction, idHeader(actionID), action)
}

func answer(format string, a Message) []byte {
	return fmt.Appendf(nil, format, idHeader(a.Get("ActionID")))
}

func idHeader(id string) string {
	if id == "" {
		return ""
	}
	return "ActionID: " + id + "\r\n"
}
