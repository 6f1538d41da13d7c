package ami

import (
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestDeviceStateEvent(t *testing.T) {
	for _, c := range []struct {
		m    map[string]string
		want companion.State
		ok   bool
	}{
		{map[string]string{"Device": "Custom:a b", "State": "RINGINUSE"}, dev("Custom:a b", companion.RingInUse), true},
		{map[string]string{"Device": "Custom:a", "State": "inuse"}, dev("Custom:a", companion.InUse), true},
		// Asterisk reads a name it does not know as UNKNOWN; so does the client.
		{map[string]string{"Device": "Custom:a", "State": "BOGUS"}, dev("Custom:a", companion.Unknown), true},
		{map[string]string{"Device": "", "State": "INUSE"}, companion.State{}, false},
	} {
		got, ok := deviceState(c.m)
		if got != c.want || ok != c.ok {
			t.Errorf("deviceState(%v) = %v, %v", c.m, got, ok)
		}
	}
}

func TestMailboxEvents(t *testing.T) {
	for _, c := range []struct {
		name string
		got  func() (companion.State, bool)
		want companion.State
		ok   bool
	}{
		{"MessageWaiting", func() (companion.State, bool) {
			return messageWaiting(map[string]string{"Mailbox": "100@default", "Waiting": "0", "New": "2", "Old": "1"})
		}, mbox(t, "100@default", 1, 2), true},
		{"MessageWaiting bare box", func() (companion.State, bool) {
			return messageWaiting(map[string]string{"Mailbox": "300", "New": "5", "Old": "0"})
		}, mbox(t, "300", 0, 5), true},
		{"MessageWaiting bad count", func() (companion.State, bool) {
			return messageWaiting(map[string]string{"Mailbox": "300", "New": "x", "Old": "0"})
		}, companion.State{}, false},
		{"MessageWaiting negative", func() (companion.State, bool) {
			return messageWaiting(map[string]string{"Mailbox": "300", "New": "-1", "Old": "0"})
		}, companion.State{}, false},
		{"MessageWaiting no box", func() (companion.State, bool) {
			return messageWaiting(map[string]string{"Mailbox": "@default", "New": "1", "Old": "0"})
		}, companion.State{}, false},
		{"MWIGet", func() (companion.State, bool) {
			return mwiGetItem(map[string]string{"Mailbox": "100@default", "OldMessages": "3", "NewMessages": "0"})
		}, mbox(t, "100@default", 3, 0), true},
		{"VoicemailUserEntry", func() (companion.State, bool) {
			return voicemailUser(map[string]string{"VMContext": "default", "VoiceMailbox": "100", "NewMessageCount": "2", "OldMessageCount": "1"})
		}, mbox(t, "100@default", 1, 2), true},
		{"VoicemailUserEntry without OldMessageCount", func() (companion.State, bool) {
			return voicemailUser(map[string]string{"VMContext": "default", "VoiceMailbox": "100", "NewMessageCount": "2"})
		}, mbox(t, "100@default", 0, 2), true},
	} {
		got, ok := c.got()
		if got != c.want || ok != c.ok {
			t.Errorf("%s = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
