package ami

import (
	"strconv"

	"github.com/astcompanion/sidecar/companion"
)

// AMI names this package reads. Asterisk writes them in exactly this case.
const (
	evDeviceStateChange     = "DeviceStateChange" // live, and the items of DeviceStateList
	evDeviceStateListDone   = "DeviceStateListComplete"
	evMessageWaiting        = "MessageWaiting"
	evMWIGet                = "MWIGet" // items of the MWIGet action (res_mwi_external_ami)
	evMWIGetDone            = "MWIGetComplete"
	evVoicemailUserEntry    = "VoicemailUserEntry" // items of VoicemailUsersList (app_voicemail)
	evVoicemailUserListDone = "VoicemailUserEntryComplete"
	evShutdown              = "Shutdown"
)

// deviceState reads DeviceStateChange (Device, State), live or listed. The
// events carry the aggregate state and say nothing of cachability; the
// state is what Asterisk holds, so it is reported cachable. An unknown
// state name reads as UNKNOWN, as Asterisk itself reads it.
func deviceState(m map[string]string) (companion.State, bool) {
	name := m["Device"]
	if name == "" {
		return companion.State{}, false
	}
	st, _ := companion.ParseDeviceState(m["State"])
	return companion.Device(name, st, true), true
}

// messageWaiting reads MessageWaiting (Mailbox, New, Old). Waiting is left
// aside: it comes from the local voicemail provider and reads 0 for a
// mailbox only known from a peer even when New > 0.
func messageWaiting(m map[string]string) (companion.State, bool) {
	return mailboxState(m["Mailbox"], m["Old"], m["New"])
}

// mwiGetItem reads an MWIGet list item (Mailbox, OldMessages, NewMessages).
func mwiGetItem(m map[string]string) (companion.State, bool) {
	return mailboxState(m["Mailbox"], m["OldMessages"], m["NewMessages"])
}

// voicemailUser reads a VoicemailUserEntry: the mailbox is VoiceMailbox
// in VMContext, as app_voicemail names it in MessageWaiting.
// Older app_voicemail versions leave OldMessageCount out; it reads as 0.
func voicemailUser(m map[string]string) (companion.State, bool) {
	box, ctx := m["VoiceMailbox"], m["VMContext"]
	if ctx != "" {
		box += "@" + ctx
	}
	old := m["OldMessageCount"]
	if old == "" {
		old = "0"
	}
	return mailboxState(box, old, m["NewMessageCount"])
}

func mailboxState(mailbox, old, new string) (companion.State, bool) {
	id, ok := companion.ParseMailboxID(mailbox)
	if !ok {
		return companion.State{}, false
	}
	o, err1 := strconv.Atoi(old)
	n, err2 := strconv.Atoi(new)
	if err1 != nil || err2 != nil || o < 0 || n < 0 {
		return companion.State{}, false
	}
	return companion.Mailbox(id, o, n), true
}
