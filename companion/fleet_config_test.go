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
	if got := x.PeerOf(stranger); got != FleetPeerName {
		t.Errorf("/status names the source of a fleet EID %q, want %q", got, FleetPeerName)
	}
	// The link runs from start to stop: a reload that drops [fleet] does
	// not rename the states it still brings.
	cfg.Fleet = nil
	if got := x.peerOf(stranger); got != FleetPeerName {
		t.Errorf("after the configuration lost [fleet]: %q", got)
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
