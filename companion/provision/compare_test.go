package provision

import (
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

// Values as the file has them against values as ARI GET reports them
// (recorded from Asterisk 22.10.1 where noted).
func TestSameValueLikeAsterisk(t *testing.T) {
	for _, tt := range []struct {
		name, want, have string
		same             bool
	}{
		{"rewrite_contact", "yes", "true", true}, // recorded
		{"remove_existing", "yes", "true", true}, // recorded
		{"ice_support", "no", "false", true},
		{"ice_support", "yes", "false", false},
		{"dtls_verify", "no", "No", true},             // recorded "No"
		{"qualify_timeout", "3", "3.000000", true},    // recorded %f
		{"qualify_timeout", "3.5", "3.000000", false}, //
		{"max_contacts", "1", "1", true},
		{"max_contacts", "2", "1", false},
		{"callerid", `"Alice" <201>`, `"Alice" <201>`, true}, // recorded
		{"callerid", `Alice <201>`, `"Alice" <201>`, true},
		{"callerid", `<unknown>`, `unknown`, true}, // recorded: the default after astdb
		{"callerid", `Bob <201>`, `"Alice" <201>`, false},
		{"dtmf_mode", "RFC4733", "rfc4733", true},
		{"context", "Default", "default", false}, // not an enumeration: case counts
		{"identify_by", "ip,username", "username,ip", true},
		{"aors", "a, b", "a,b", true},
		{"aors", "b,a", "a,b", false},
		{"from_user", "0100", "100", false},
	} {
		if got := sameValue(tt.name, tt.want, tt.have); got != tt.same {
			t.Errorf("%s: %q vs %q: same=%v, want %v", tt.name, tt.want, tt.have, got, tt.same)
		}
	}
}

func TestCodecListAgainstARI(t *testing.T) {
	f := func(kv ...string) []companion.SorceryField {
		var out []companion.SorceryField
		for i := 0; i < len(kv); i += 2 {
			out = append(out, companion.SorceryField{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tt := range []struct {
		fields []companion.SorceryField
		have   string
		match  bool
	}{
		{f("disallow", "all", "allow", "ulaw"), "(ulaw)", true}, // recorded
		{f("disallow", "all", "allow", "g722,ulaw,alaw"), "(g722|ulaw|alaw)", true},
		{f("disallow", "all", "allow", "g722,ulaw,alaw"), "(ulaw|g722|alaw)", false}, // preference order counts
		{f("allow", "!all,g722,ulaw,alaw"), "(g722|ulaw|alaw)", true},                // the seed's form
		{f("allow", "ulaw:20, ALAW"), "(ulaw|alaw)", true},
		{f("disallow", "all"), "(nothing)", true},
		{f("allow", "ulaw", "disallow", "ulaw"), "(nothing)", true},
		{f("allow", "g722,all"), "(g722|ulaw|alaw|gsm)", true},
		{f("allow", "g722,all"), "(ulaw|g722)", false},
	} {
		l, ok := desiredCodecs(tt.fields)
		if !ok || l.matches(tt.have) != tt.match {
			t.Errorf("%v vs %s: match=%v, want %v (list %s)", tt.fields, tt.have, l.matches(tt.have), tt.match, l)
		}
	}
	if _, ok := desiredCodecs(f("context", "x")); ok {
		t.Error("codec list found without allow/disallow")
	}
	if !startsWithReset(f("context", "x", "disallow", "all", "allow", "ulaw")) || startsWithReset(f("allow", "ulaw", "disallow", "all")) {
		t.Error("startsWithReset")
	}
}

func TestListEntriesNormaliseAddresses(t *testing.T) {
	a, ok1 := listEntries("match", "192.0.2.1, 10.0.0.0/8, 2001:db8::/32")
	b, ok2 := listEntries("match", "10.0.0.0/255.0.0.0,192.0.2.1/255.255.255.255,[2001:db8::]/32")
	if !ok1 || !ok2 || !sameSet(a, b) {
		t.Errorf("%v vs %v", a, b)
	}
	if _, ok := listEntries("match", "sip.example.com"); ok {
		t.Error("a host name counted as comparable")
	}
	c, _ := listEntries("contact", "sip:a@192.0.2.1:5060,sip:b@192.0.2.2")
	d, _ := listEntries("contact", "sip:b@192.0.2.2, sip:a@192.0.2.1:5060")
	if !sameSet(c, d) {
		t.Errorf("%v vs %v", c, d)
	}
}
