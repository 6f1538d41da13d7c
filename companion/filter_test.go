package companion

import (
	"strings"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		pattern string
		name    string
		want    bool
	}{
		// empty = everything, as an unset Asterisk filter
		{"", "PJSIP/alice", true},
		{"", "", true},
		// case-insensitive (REG_ICASE)
		{"^PJSIP/", "PJSIP/alice", true},
		{"^PJSIP/", "pjsip/alice", true},
		{"^pjsip/", "PJSIP/alice", true},
		{"ALICE", "Custom:alice", true},
		// anchors, unanchored search otherwise
		{"^PJSIP/", "Custom:PJSIP/alice", false},
		{"PJSIP/", "Custom:PJSIP/alice", true},
		{"^1000", "1000@default", true},
		{"^1000", "21000@default", false},
		{"@default$", "1000@default", true},
		{"@default$", "1000@default2", false},
		{"^1000$", "1000@default", false},
		// $ is end of text, not end of line (no REG_NEWLINE)
		{"^a$", "a\nb", false},
		{".", "\n", true},
		// alternation and groups
		{"^(PJSIP|SIP)/", "SIP/bob", true},
		{"^(PJSIP|SIP)/", "IAX2/bob", false},
		{"^PJSIP/|^Custom:", "custom:x", true},
		{"^PJSIP/|^Custom:", "MWI:100@default", false},
		// bracket expressions and classes
		{"^[0-9]{4}@", "1234@default", true},
		{"^[0-9]{4}@", "123@default", false},
		{"^[[:digit:]]+$", "701", true},
		{"^[[:digit:]]+$", "701a", false},
		// special characters seen in recorded device names
		{`^Custom:a\|b$`, "Custom:a|b", true},
		{`^Custom:a\.b`, "Custom:aXb", false},
		{"äöü", "Custom:ÄÖÜ-漢", true},
		// stacked repetition is plain ERE (glibc accepts it), not a Perl lazy quantifier
		{"^a*?$", "aaa", true},
		{"^a**$", "aaa", true},
		{"^(ab)+$", "ABab", true},
		{"^(ab)+$", "aba", false},
	}
	for _, tt := range tests {
		f, err := CompileFilter(tt.pattern)
		if err != nil {
			t.Fatalf("CompileFilter(%q): %v", tt.pattern, err)
		}
		if got := f.Match(tt.name); got != tt.want {
			t.Errorf("Filter(%q).Match(%q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestFilterInvalid(t *testing.T) {
	tests := []struct {
		pattern string
		why     string
	}{
		{"^PJSIP/(", "missing closing )"},
		{"[a-", "missing closing ]"},
		{"*abc", "missing argument to repetition operator"},
		{`\d+`, "Perl class, not POSIX"},
		{"(?i)abc", "Perl flags, not POSIX"},
		{`\pL`, "Unicode class, not POSIX"},
	}
	for _, tt := range tests {
		_, err := CompileFilter(tt.pattern)
		if err == nil {
			t.Errorf("CompileFilter(%q) accepted (%s)", tt.pattern, tt.why)
			continue
		}
		if strings.Contains(err.Error(), "regexp: Compile") {
			t.Errorf("CompileFilter(%q) error %q carries Go's framing", tt.pattern, err)
		}
	}
}

func TestFilterString(t *testing.T) {
	f := MustCompileFilter("^PJSIP/")
	if f.String() != "^PJSIP/" || f.IsZero() {
		t.Errorf("String() = %q, IsZero = %v", f.String(), f.IsZero())
	}
	if !(Filter{}).IsZero() {
		t.Error("zero Filter is not zero")
	}
}
