package companion

import "testing"

func TestParseMailboxID(t *testing.T) {
	tests := []struct {
		in   string
		want MailboxID
		ok   bool
	}{
		{"1000@default", MailboxID{"1000", "default"}, true},
		{"701", MailboxID{"701", ""}, true},
		{"a@b@c", MailboxID{"a", "b@c"}, true}, // split at the first '@'
		{"1000@", MailboxID{"1000", ""}, true},
		{"@default", MailboxID{"", "default"}, false},
		{"", MailboxID{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseMailboxID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseMailboxID(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMailboxIDString(t *testing.T) {
	if got := (MailboxID{"1000", "default"}).String(); got != "1000@default" {
		t.Errorf("got %q", got)
	}
	if got := (MailboxID{Box: "300"}).String(); got != "300" {
		t.Errorf("bare box printed %q", got)
	}
	// A bare box and box@default are different mailboxes, and so different keys.
	if MailboxKey(MailboxID{Box: "300"}) == MailboxKey(MailboxID{"300", "default"}) {
		t.Error("bare and qualified mailbox share a key")
	}
	if DeviceKey("300") == MailboxKey(MailboxID{Box: "300"}) {
		t.Error("device and mailbox share a key")
	}
}
