package companion

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"PJSIP/alice", true},
		{"Custom:a/b:c@d,e|f;g=h#i*j%k[l]\"m'n", true},
		{"Custom:zoë 🎧", true},
		{"1000@default", true},
		{strings.Repeat("x", MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"PJSIP/inj\r\n\r\nAction: Originate", false},
		{"PJSIP/inj\nAction: Originate", false},
		{"PJSIP/inj\r", false},
		{"PJSIP/inj\x00", false},
		{"PJSIP/inj\x01", false},
		{"PJSIP/inj\ttab", false},
		{"PJSIP/inj\x1b[31m", false},
		{"PJSIP/inj\x7f", false},
		{"PJSIP/\xff\xfe", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Errorf("CheckName(%q) does not wrap ErrBadName", tc.name)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00\x1b\x7f") {
				t.Errorf("CheckName(%q) error holds a raw control character: %q", tc.name, err.Error())
			}
		}
	}
}
