package ami

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

// Replayed through the fake server: every kind of event or list item
// whose name holds a control byte or is too long is dropped and counted,
// its neighbours are kept, and each reason is logged once, quoted.
func TestUnsafeNamesFromAsteriskAreDropped(t *testing.T) {
	t.Parallel()
	srv := serve(t, "handmade_unsafe_names.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{})
	srv.Session(t, 1)
	long255 := "Custom:" + strings.Repeat("a", 248)

	// Live events that arrive while a list runs are merged into it
	// (listRun), so the end markers may come in a snapshot or observed.
	seen := func(calls []call) map[companion.Key]companion.State {
		out := make(map[companion.Key]companion.State)
		for _, c := range calls {
			for _, s := range c.states {
				out[s.Key] = s
			}
		}
		return out
	}
	ends := []companion.State{dev("Custom:ok-live", companion.InUse), mbox(t, "500@default", 0, 1)}
	calls := rec.await(t, "both snapshots and both end markers", func(cs []call) bool {
		got := seen(cs)
		return len(snapshotsOf(cs, companion.KindDevice)) > 0 && len(snapshotsOf(cs, companion.KindMailbox)) > 0 &&
			got[ends[0].Key] == ends[0] && got[ends[1].Key] == ends[1]
	})
	// The end markers come after every dropped event on the wire, and
	// amigo hands events over in wire order: all are through by now.
	want := map[companion.Key]companion.State{}
	for _, s := range append(ends, dev("Custom:ok-listed", companion.NotInUse), dev(long255, companion.InUse), mbox(t, "100@default", 3, 0)) {
		want[s.Key] = s
	}
	if got := seen(calls); !maps.Equal(got, want) {
		t.Errorf("reported %v\nwant %v", got, want)
	}
	if n := c.DroppedNames(); n != 12 {
		t.Errorf("DroppedNames = %d, want 12 (the transcript's header lists them)", n)
	}

	// One line per reason: the 12 drops share 4 reasons, and the whole
	// test stays far inside RateLog's one-minute window.
	logs := c.logs.String()
	if n := c.logs.count("AMI event dropped"); n != 4 {
		t.Errorf("%d drop lines, want 4 (one per reason):\n%s", n, logs)
	}
	for _, reason := range []string{
		"device name holds a control byte", "device name is longer than 255 bytes",
		"mailbox holds a control byte", "mailbox is longer than 255 bytes",
	} {
		if c.logs.count("reason="+reason) != 1 {
			t.Errorf("no line, or more than one, for %q", reason)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if i := badHeaderValue(line); i >= 0 || strings.Contains(line, "\t") {
			t.Errorf("a log line holds a raw control byte: %q", line)
		}
	}
}

// The check covers every event the client reads, VoicemailUserEntry
// included (which no transcript combines with MWIGet), and the length
// bound is inclusive.
func TestDispatchDropsUnsafeNames(t *testing.T) {
	c := New(companion.AMIConfig{Address: "127.0.0.1:5038"}, nil, newRecorder())
	kept := []map[string]string{
		{"Event": "DeviceStateChange", "Device": "Custom:" + strings.Repeat("x", maxNameLen-7), "State": "INUSE"},
		{"Event": "DeviceStateChange", "Device": `Custom:ünï/cødé:x@y,z|a;b=c#d*e%f"g'h`, "State": "INUSE"},
		{"Event": "MessageWaiting", "Mailbox": "1@default", "New": "1", "Old": "0"},
		{"Event": "MWIGet", "Mailbox": "2@default", "NewMessages": "1", "OldMessages": "0"},
		{"Event": "VoicemailUserEntry", "VoiceMailbox": "3", "VMContext": "default", "NewMessageCount": "1"},
	}
	dropped := []map[string]string{
		{"Event": "DeviceStateChange", "Device": "Custom:" + strings.Repeat("x", maxNameLen-6), "State": "INUSE"},
		{"Event": "DeviceStateChange", "Device": "Custom:a\tb", "State": "INUSE"},
		{"Event": "DeviceStateChange", "Device": "Custom:a\x00", "State": "INUSE"},
		{"Event": "MessageWaiting", "Mailbox": "1\r@default", "New": "1", "Old": "0"},
		{"Event": "MWIGet", "Mailbox": "2@default\x7f", "NewMessages": "1", "OldMessages": "0"},
		{"Event": "VoicemailUserEntry", "VoiceMailbox": "3", "VMContext": "def\x1bault", "NewMessageCount": "1"},
		{"Event": "VoicemailUserEntry", "VoiceMailbox": strings.Repeat("4", maxNameLen), "VMContext": "default", "NewMessageCount": "1"},
	}
	for _, m := range append(slices.Clone(kept), dropped...) {
		c.dispatch(m) // no list runs: list items are treated as live
	}
	if n := c.queue.pendingKeys(); n != len(kept) {
		t.Errorf("%d states queued, want %d", n, len(kept))
	}
	if n := c.DroppedNames(); n != uint64(len(dropped)) {
		t.Errorf("DroppedNames = %d, want %d", n, len(dropped))
	}
}
