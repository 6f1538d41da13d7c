package companion

import (
	"log/slog"
	"strings"
	"sync"
)

// A stock Asterisk peer (res_pjsip_publish_asterisk) publishes every
// device state it has, some of which mean nothing here or are wrong here:
//
//   - MWI:<mailbox>, the device res_mwi_devstate derives from every
//     mailbox, the ones we published to it included. The mailbox itself
//     arrives as mailbox state, and the local Asterisk derives its own
//     MWI:<mailbox> from the count written to it; the peer's copy would
//     only land beside it as Custom:MWI:<mailbox>.
//   - PJSIP/<the peer's endpoint for this node>: the peer's view of us
//     (mostly UNAVAILABLE, as we never register), not a device of its own.
//   - INVALID: Asterisk's answer for a device that does not exist there,
//     e.g. a hint naming a device only we have. It asserts nothing.
//
// [peer.accept] ignore_mwi_devices, ignore_devices and ignore_invalid say
// what is dropped. A dropped state counts as filtered (Receiver.Filtered),
// is answered 200 like any filtered state, and withdraws the value this
// peer's EID held for that device, if any: noise is not asserted.

// Reasons a state is filtered as noise, as counted by Receiver.Filtered.
const (
	FilteredMWIDevice     = "mwi_device"
	FilteredIgnoredDevice = "ignored_device"
	FilteredInvalid       = "invalid_state"
)

// DefaultIgnoredDevices is [peer.accept] ignore_devices when the file does
// not set it: PJSIP/<user> for the user of the [peer.publish] from_uri
// towards that peer (the name a stock Asterisk peer identifies us by with
// identify_by = username, and the endpoint name of the README's pjsip.conf
// block) and PJSIP/<node name> when that differs. An endpoint named
// otherwise (identify by address) must be listed explicitly.
func DefaultIgnoredDevices(node string, pub *PublishConfig) []string {
	var out []string
	add := func(user string) {
		if user == "" {
			return
		}
		name := "PJSIP/" + user
		for _, d := range out {
			if d == name {
				return
			}
		}
		out = append(out, name)
	}
	if pub != nil {
		add(pub.FromURI.User)
	}
	add(node)
	return out
}

// noiseOf returns why acc drops s as noise, "" when s is kept.
func noiseOf(acc *AcceptConfig, s State) string {
	if s.Key.Kind != KindDevice {
		return ""
	}
	name := s.Key.Name
	switch {
	case acc.IgnoreMWIDevices && len(name) > 4 && strings.EqualFold(name[:4], "MWI:"):
		return FilteredMWIDevice
	case acc.IgnoreInvalid && s.Device == Invalid:
		return FilteredInvalid
	}
	key := deviceKey(name)
	for _, d := range acc.IgnoreDevices {
		if deviceKey(d) == key {
			return FilteredIgnoredDevice
		}
	}
	return ""
}

// noiseSetting is the setting that keeps what reason drops.
var noiseSetting = map[string]string{
	FilteredMWIDevice:     "set [peer.accept] ignore_mwi_devices = false to apply them",
	FilteredIgnoredDevice: "list the devices to drop in [peer.accept] ignore_devices (ignore_devices = [] keeps all)",
	FilteredInvalid:       "set [peer.accept] ignore_invalid = false to apply INVALID",
}

// noiseLog counts the states dropped as noise and says once per peer and
// reason, at INFO, what is dropped and which setting keeps it; later drops
// are logged at DEBUG through the rate-limited log. Its record is bounded
// by the configured peers times the three reasons.
type noiseLog struct {
	mu     sync.Mutex
	counts map[string]uint64
	told   map[rateKey]bool
}

// screenNoise reports whether s, which passed peer's switches and
// filters, is still to be applied; when it is noise it is counted and
// logged.
func (r *Receiver) screenNoise(peer *PeerConfig, s State) bool {
	reason := noiseOf(peer.Accept, s)
	if reason == "" {
		return true
	}
	n := &r.noise
	n.mu.Lock()
	if n.counts == nil {
		n.counts, n.told = make(map[string]uint64), make(map[rateKey]bool)
	}
	n.counts[reason]++
	k := rateKey{peer.Name, reason}
	first := !n.told[k] && len(n.told) < DefaultRateLogSources
	if first {
		n.told[k] = true
	}
	n.mu.Unlock()
	if first {
		r.log.Info("dropping a peer's device states that mean nothing here (expected from a stock Asterisk); counted as filtered; "+noiseSetting[reason],
			"peer", peer.Name, "reason", reason, "device", s.Key.Name, "state", s.Device.String())
		return false
	}
	r.refused.Log(slog.LevelDebug, peer.Name, "filtered "+reason, "device state dropped as noise", "device", s.Key.Name, "state", s.Device.String())
	return false
}

// withdrawLocked removes the value eid held for k, if any: a state
// dropped as noise is not asserted. Call it with r.mu held.
func (r *Receiver) withdrawLocked(peer string, eid EntityID, k Key) {
	if _, held := r.remote.Delete(eid, k); held {
		r.usageOf(peer).keys--
	}
}

// Filtered returns how many device states were dropped as noise, by
// reason (FilteredMWIDevice, FilteredIgnoredDevice, FilteredInvalid).
func (r *Receiver) Filtered() map[string]uint64 {
	r.noise.mu.Lock()
	defer r.noise.mu.Unlock()
	out := make(map[string]uint64, len(r.noise.counts))
	for k, v := range r.noise.counts {
		out[k] = v
	}
	return out
}
