package config

import (
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// noise reads the noise switches of [peer.accept]; both default to true.
// ignore_devices is read here; its default, which depends on the node
// name and [peer.publish], is filled by ignoredDevicesDefault.
func (l *loader) noise(s *section, a *companion.AcceptConfig) {
	a.IgnoreMWIDevices, a.IgnoreInvalid = true, true
	if v, ok := s.boolean("ignore_mwi_devices"); ok {
		a.IgnoreMWIDevices = v
	}
	if v, ok := s.boolean("ignore_invalid"); ok {
		a.IgnoreInvalid = v
	}
	list, ok := s.strings("ignore_devices")
	if !ok {
		return
	}
	a.IgnoreDevices = []string{} // set, even when empty: nothing is dropped by name
	for i, v := range list {
		switch {
		case companion.CheckName(v) != nil:
			s.elemErrorf("ignore_devices", i, "is not a device name (empty, too long or with control characters)")
		case strings.ContainsAny(v, "*?[") || strings.HasPrefix(v, "^"):
			s.elemErrorf("ignore_devices", i, "%q: exact device names only (e.g. \"PJSIP/instance1\"); patterns go in device_state_filter", v)
		default:
			a.IgnoreDevices = append(a.IgnoreDevices, v)
		}
	}
}

// ignoredDevicesDefault fills ignore_devices of a [peer.accept] that does
// not set it.
func ignoredDevicesDefault(s *section, node string, p *companion.PeerConfig) {
	if p.Accept != nil && !s.has("ignore_devices") {
		p.Accept.IgnoreDevices = companion.DefaultIgnoredDevices(node, p.Publish)
	}
}
