package companion

import "testing"

func TestConfigParseSIPURI(t *testing.T) {
	good := []struct {
		in   string
		want SIPURI
	}{
		{"sip:instance1@172.16.10.2", SIPURI{"sip", "instance1", "172.16.10.2", 0, ""}},
		{"sip:instance1@172.16.10.2:5060", SIPURI{"sip", "instance1", "172.16.10.2", 5060, ""}},
		{"SIPS:a@pbx.example.com:5061;transport=tls", SIPURI{"sips", "a", "pbx.example.com", 5061, "transport=tls"}},
		{"sip:[2001:db8::1]", SIPURI{"sip", "", "2001:db8::1", 0, ""}},
		{"sip:a%20b@h", SIPURI{"sip", "a%20b", "h", 0, ""}},
		{"sip:h;lr", SIPURI{"sip", "", "h", 0, "lr"}},
	}
	for _, tt := range good {
		got, err := ParseSIPURI(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSIPURI(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "sip", "sip:", "tel:+123", "sip:@h", "sip:a@", "sip:a@h:", "sip:a@h:0", "sip:a@h:65536", "sip:a@h:+5",
		"sip:a@h:5060x", "sip:a@[::1", "sip:a@[10.0.0.1]", "sip:a@[::1]x", "sip:a@::1", "sip:a b@h", "<sip:a@h>", "sip:a@h?x=y",
		"sip:a@-h", "sip:a@h;=x", "sip:a@1.2.3", "sip:a@h;", "sip:a@h;;x", "sip:a%2@h", "sip:a@h..com"} {
		if u, err := ParseSIPURI(in); err == nil {
			t.Errorf("ParseSIPURI(%q) = %+v, want an error", in, u)
		}
	}
	u, _ := ParseSIPURI("sips:a@[2001:db8::1]:5061;transport=tls")
	if u.String() != "sips:a@[2001:db8::1]:5061;transport=tls" || u.Identity().String() != "sips:a@[2001:db8::1]" {
		t.Errorf("String = %s, Identity = %s", u, u.Identity())
	}
}
