package companion

import "testing"

func TestFleetStatesNameTheirPeerFleet(t *testing.T) {
	cfg := &Config{Apply: ApplyConfig{DeviceState: ApplyAMI, DeviceName: "Custom:{peer}-{device}"}}
	stranger := EntityID{2, 0, 0, 0, 0, 9}
	x := NewExchange(cfg, EntityID{2, 0, 0, 0, 0, 1}, ExchangeOptions{})
	if got := x.peerOf(stranger); got != "" {
		t.Errorf("without [fleet], an EID no peer holds is named %q", got)
	}
	cfg.Fleet = &FleetConfig{}
	x = NewExchange(cfg, EntityID{2, 0, 0, 0, 0, 1}, ExchangeOptions{})
	if got := x.peerOf(stranger); got != FleetPeerName {
		t.Errorf("with [fleet], an EID no peer holds is named %q, want %q", got, FleetPeerName)
	}
}

func TestFleetSwitchesPasses(t *testing.T) {
	s := FleetSwitches{DeviceState: true, DeviceStateFilter: MustCompileFilter("^pjsip/")}
	for _, c := range []struct {
		k    Key
		want bool
	}{
		{DeviceKey("PJSIP/alice"), true}, // case-insensitive, as Asterisk
		{DeviceKey("Custom:x"), false},
		{MailboxKey(MailboxID{Box: "1", Context: "default"}), false},
	} {
		if got := s.Passes(c.k); got != c.want {
			t.Errorf("Passes(%v) = %v", c.k, got)
		}
	}
}
