package companion

import "testing"

func TestParseDeviceState(t *testing.T) {
	tests := []struct {
		in   string
		want DeviceState
		ok   bool
	}{
		{"UNKNOWN", Unknown, true},
		{"NOT_INUSE", NotInUse, true},
		{"INUSE", InUse, true},
		{"BUSY", Busy, true},
		{"INVALID", Invalid, true},
		{"UNAVAILABLE", Unavailable, true},
		{"RINGING", Ringing, true},
		{"RINGINUSE", RingInUse, true},
		{"ONHOLD", OnHold, true},
		{"inuse", InUse, true},        // recorded: Asterisk accepts lower case
		{"Not_InUse", NotInUse, true}, // any case
		{"FOO", Unknown, false},       // recorded: read as UNKNOWN, answered 200
		{"", Unknown, false},
		{"IN USE", Unknown, false},
		{"NOT_INUSE ", Unknown, false}, // no trimming, as ast_devstate_val
	}
	for _, tt := range tests {
		got, ok := ParseDeviceState(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseDeviceState(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDeviceStateStringRoundTrip(t *testing.T) {
	for s := Unknown; s <= OnHold; s++ {
		back, ok := ParseDeviceState(s.String())
		if !ok || back != s {
			t.Errorf("%d: String %q parses back to %v, %v", s, s.String(), back, ok)
		}
	}
	if got := DeviceState(42).String(); got != "UNKNOWN" {
		t.Errorf("out-of-range state prints %q, want UNKNOWN", got)
	}
}
