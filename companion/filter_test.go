package companion

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// refusedGNU are the constructs glibc accepts that the companion refuses
// (loudly, at configuration load) because Go's matcher cannot express them.
var refusedGNU = regexp.MustCompile(`\\[1-9bB<>]`)

// The recorded answers of glibc's regcomp/regexec, the matcher Asterisk
// uses, are the reference: every pattern glibc accepts must match the same
// subjects here, or be refused with a reason; every pattern glibc refuses
// must be refused here too.
func TestFilterAgreesWithGlibc(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "fixtures", "regex", "glibc-2.36-ere-icase.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			t.Fatalf("bad fixture line %q", line)
		}
		pattern, subject, glibc := f[0], f[1], f[2]
		rows++
		filter, err := CompileFilter(pattern)
		switch {
		case glibc == "error":
			if err == nil {
				t.Errorf("CompileFilter(%q) accepted a pattern glibc refuses", pattern)
			}
		case refusedGNU.MatchString(pattern):
			if err == nil || !strings.Contains(err.Error(), "not supported") {
				t.Errorf("CompileFilter(%q) = %v, want a 'not supported' refusal", pattern, err)
			}
		case err != nil:
			t.Errorf("CompileFilter(%q): %v (glibc accepts it)", pattern, err)
		default:
			if got := filter.Match(subject); got != (glibc == "match") {
				t.Errorf("Filter(%q).Match(%q) = %v, glibc says %s", pattern, subject, got, glibc)
			}
		}
	}
	if rows < 100 {
		t.Fatalf("fixture has %d rows, want the 108 recorded", rows)
	}
}

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
		{`\d+`, "Perl class: glibc reads \\d as neither d nor a digit"},
		{`\n`, "Perl escape, not POSIX"},
		{"a{b}", "malformed interval (Go would read literal braces)"},
		{"a{", "unclosed interval"},
		{"[[:word:]]", "Go's class, not glibc's"},
		{"[[.ab.]]", "multi-character collating element"},
		{`(a)\1`, "back-reference"},
		{`\<word`, "GNU word boundary"},
		{`abc\`, "trailing backslash"},
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

func FuzzCompileFilter(f *testing.F) {
	for _, seed := range []string{"^PJSIP/", `[]a-]`, `a{,3}`, `\w\s\'`, `[[.a.][:digit:]]`, `(a|b)*?c{2}`} {
		f.Add(seed, "PJSIP/alice")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		filter, err := CompileFilter(pattern)
		if err != nil {
			return
		}
		filter.Match(name) // must not panic
		if pattern != "" && filter.String() != pattern {
			t.Fatalf("String() = %q, want %q", filter.String(), pattern)
		}
	})
}

// The filters run on every state a publisher queues and every state a
// receiver takes: a hot path.
func BenchmarkFilterMatch(b *testing.B) {
	for _, bc := range []struct{ name, pattern, input string }{
		{"prefix", "^PJSIP/", "PJSIP/alice-1234"},
		{"alternation", "^(PJSIP|SIP)/[0-9]{3,4}$", "PJSIP/1234"},
		{"miss", "^Custom:.*-park$", "PJSIP/alice-1234"},
	} {
		f, err := CompileFilter(bc.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.Match(bc.input)
			}
		})
	}
}
