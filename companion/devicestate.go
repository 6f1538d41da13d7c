package companion

import "strings"

// DeviceState is one of Asterisk's nine device states. The numeric values
// are those of enum ast_device_state.
type DeviceState uint8

const (
	Unknown DeviceState = iota
	NotInUse
	InUse
	Busy
	Invalid
	Unavailable
	Ringing
	RingInUse
	OnHold
)

var deviceStateNames = [...]string{
	Unknown:     "UNKNOWN",
	NotInUse:    "NOT_INUSE",
	InUse:       "INUSE",
	Busy:        "BUSY",
	Invalid:     "INVALID",
	Unavailable: "UNAVAILABLE",
	Ringing:     "RINGING",
	RingInUse:   "RINGINUSE",
	OnHold:      "ONHOLD",
}

// ParseDeviceState reads a state name case-insensitively. Like Asterisk's
// ast_devstate_val, it reads anything it does not recognise as Unknown; ok
// tells the caller whether the name was recognised, for logging.
func ParseDeviceState(s string) (state DeviceState, ok bool) {
	for i, name := range deviceStateNames {
		if strings.EqualFold(s, name) {
			return DeviceState(i), true
		}
	}
	return Unknown, false
}

// String returns the upper-case name Asterisk writes (ast_devstate_str).
func (s DeviceState) String() string {
	if int(s) < len(deviceStateNames) {
		return deviceStateNames[s]
	}
	return deviceStateNames[Unknown]
}
