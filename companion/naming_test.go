package companion

import (
	"strings"
	"testing"
)

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

// Expand gives what a strings.Replacer of the three placeholders gives
// (its first form), odd templates and names included.
func TestDeviceNameTemplateExpandIsOnePass(t *testing.T) {
	eid := EntityID{2, 0, 0, 0, 0, 7}
	for _, tmpl := range []string{
		"", "plain", "Custom:{device}", "Stasis:{peer}-{device}", "{eid}/{device}/{peer}",
		"{{device}}", "{device", "{dev}{device}", "}{device}{", "{peer}{peer}", "{", "{{{",
	} {
		for _, device := range []string{"PJSIP/alice", "{peer}", "{device}", ""} {
			want := strings.NewReplacer("{device}", device, "{peer}", "p{eid}", "{eid}", eid.String()).Replace(tmpl)
			if got := DeviceNameTemplate(tmpl).Expand(device, "p{eid}", eid); got != want {
				t.Errorf("%q with %q: %q, want %q", tmpl, device, got, want)
			}
		}
	}
}

func BenchmarkDeviceNameTemplateExpand(b *testing.B) {
	eid := EntityID{2, 0, 0, 0, 0, 7}
	b.ReportAllocs()
	for b.Loop() {
		DeviceNameTemplate("Stasis:{peer}-{device}").Expand("PJSIP/alice", "b", eid)
	}
}
