package companion

import (
	"net/netip"
	"testing"
)

func TestAdmitsSource(t *testing.T) {
	byAddr := PeerConfig{Name: "a", Accept: &AcceptConfig{Resource: "a", Match: []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::1/128"),
	}}}
	other := PeerConfig{Name: "b", Accept: &AcceptConfig{Resource: "b", Match: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32")}}}
	digestOnly := PeerConfig{Name: "c", Accept: &AcceptConfig{Resource: "c", Username: "c"}}
	sendOnly := PeerConfig{Name: "d", Publish: &PublishConfig{}}

	cases := []struct {
		name  string
		peers []PeerConfig
		addr  string
		want  bool
	}{
		{"no peers", nil, "192.0.2.1", false},
		{"only publish peers", []PeerConfig{sendOnly}, "192.0.2.1", false},
		{"in a match", []PeerConfig{byAddr, other}, "192.0.2.200", true},
		{"in a second peer's match", []PeerConfig{byAddr, other}, "198.51.100.7", true},
		{"outside every match", []PeerConfig{byAddr, other}, "198.51.100.8", false},
		{"IPv4-mapped IPv6 in a match", []PeerConfig{byAddr}, "::ffff:192.0.2.5", true},
		{"IPv6 in a match", []PeerConfig{byAddr}, "2001:db8::1", true},
		{"IPv6 outside", []PeerConfig{byAddr}, "2001:db8::2", false},
		{"digest-only peer admits anyone", []PeerConfig{byAddr, digestOnly}, "203.0.113.9", true},
		{"digest-only peer alone", []PeerConfig{sendOnly, digestOnly}, "::1", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{Peers: c.peers}
			if got := cfg.AdmitsSource(netip.MustParseAddr(c.addr)); got != c.want {
				t.Errorf("AdmitsSource(%s) = %v, want %v", c.addr, got, c.want)
			}
		})
	}
}
