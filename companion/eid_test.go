package companion

import (
	"errors"
	"testing"
)

func TestParseEntityID(t *testing.T) {
	tests := []struct {
		in   string
		want EntityID
		ok   bool
	}{
		{"02:00:00:00:00:01", EntityID{2, 0, 0, 0, 0, 1}, true},
		{"02:42:AC:11:00:02", EntityID{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}, true},
		{"ff:ff:ff:ff:ff:ff", EntityID{255, 255, 255, 255, 255, 255}, true},
		{"", EntityID{}, false},
		{"not-an-eid", EntityID{}, false},
		{"02:00:00:00:00", EntityID{}, false},
		{"02:00:00:00:00:01:", EntityID{}, false},
		{"02-00-00-00-00-01", EntityID{}, false},
		{"2:0:0:0:0:1", EntityID{}, false},
		{"02:00:00:00:00:0g", EntityID{}, false},
		{" 02:00:00:00:00:01", EntityID{}, false},
		{"0200:00:00:00:001", EntityID{}, false},
	}
	for _, tt := range tests {
		got, err := ParseEntityID(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseEntityID(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalidEntityID) {
			t.Errorf("ParseEntityID(%q) error %v is not ErrInvalidEntityID", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("ParseEntityID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEntityIDString(t *testing.T) {
	eid := EntityID{0x02, 0x42, 0xac, 0x11, 0x00, 0x02}
	if got := eid.String(); got != "02:42:ac:11:00:02" {
		t.Fatalf("String() = %q", got)
	}
	back, err := ParseEntityID(eid.String())
	if err != nil || back != eid {
		t.Fatalf("round trip = %v, %v", back, err)
	}
	if eid.IsZero() || !(EntityID{}).IsZero() {
		t.Fatal("IsZero wrong")
	}
}

func mustEID(s string) EntityID {
	e, err := ParseEntityID(s)
	if err != nil {
		panic(err)
	}
	return e
}
