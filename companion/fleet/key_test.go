package fleet

import (
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestKeyRoundTrip(t *testing.T) {
	eid, _ := companion.ParseEntityID("02:42:ac:11:00:0a")
	for _, k := range []companion.Key{
		companion.DeviceKey("PJSIP/alice"),
		companion.DeviceKey("Custom:a.b*c>d e/f@g=h%i"),
		companion.DeviceKey("Custom:héllo ☎"),
		companion.DeviceKey(strings.Repeat("x", companion.MaxNameLen)),
		companion.MailboxKey(companion.MailboxID{Box: "1000", Context: "default"}),
	} {
		s := stateKey(eid, k)
		if !validNATSKey(s) {
			t.Errorf("%q: key %q breaks the NATS key rules", k.Name, s)
		}
		if strings.Count(s, ".") != 2 || !strings.HasPrefix(s, "0242ac11000a.") {
			t.Errorf("%q: key %q is not three tokens under the EID", k.Name, s)
		}
		p, err := parseKey(s)
		if err != nil || p.presence || p.origin != eid || p.key != k {
			t.Errorf("%q: parse(%q) = %+v, %v", k.Name, s, p, err)
		}
	}
	p, err := parseKey(presenceKey(eid))
	if err != nil || !p.presence || p.origin != eid {
		t.Errorf("presence key: %+v %v", p, err)
	}
}

func TestParseKeyRefuses(t *testing.T) {
	for _, s := range []string{
		"", "presence", "0242ac11000a", "0242AC11000A.presence", "0242ac11000.presence", "zz42ac11000a.presence",
		"0242ac11000a.other", "0242ac11000a.x.YQ", "0242ac11000a.d.YQ=", "0242ac11000a.d.Y", "0242ac11000a.d.YR",
		"0242ac11000a.d.YQ.x", "0242ac11000a.d.a+b",
	} {
		if p, err := parseKey(s); err == nil {
			t.Errorf("parseKey(%q) = %+v, want an error", s, p)
		}
	}
}

// validNATSKey is the KV key rule of nats.go: [-/_=.a-zA-Z0-9]+, no dot
// at either end.
func validNATSKey(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, c := range s {
		switch {
		case c == '-', c == '/', c == '_', c == '=', c == '.', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}

func FuzzParseKey(f *testing.F) {
	f.Add("0242ac11000a.d.UEpTSVAvYWxpY2U")
	f.Add("0242ac11000a.presence")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseKey(s)
		if err != nil || p.presence {
			return
		}
		// One name, one spelling: a parsed key encodes back to itself.
		if back := stateKey(p.origin, p.key); back != s {
			t.Fatalf("parseKey(%q) encodes back as %q", s, back)
		}
	})
}
