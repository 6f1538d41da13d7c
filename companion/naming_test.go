package companion

import "testing"

// A stock peer's Custom:bob lands as Custom:Custom:bob: the template
// applies alike to every remote name, so a remote state never shares a
// name (and one astdb value) with a local Custom: device, and after a
// restart the name alone still tells it is remote. A local Custom:bob
// stays local.
func TestCustomDeviceNaming(t *testing.T) {
	tmpl := DeviceNameTemplate(DefaultAMIDeviceName)
	for remote, want := range map[string]string{
		"Custom:bob":       "Custom:Custom:bob",
		"PJSIP/alice":      "Custom:PJSIP/alice",
		"MWI:1000@default": "Custom:MWI:1000@default",
	} {
		if got := tmpl.Expand(remote, "p", EntityID{}); got != want {
			t.Errorf("%s lands on %s, want %s", remote, got, want)
		}
	}
	e := NewEchoes(tmpl)
	if !e.Device("Custom:Custom:bob") || !e.Device("custom:Custom:bob") {
		t.Error("Custom:Custom:bob not recognised as written for a peer")
	}
	if e.Device("Custom:bob") {
		t.Error("a local Custom:bob taken for a remote state")
	}
}
