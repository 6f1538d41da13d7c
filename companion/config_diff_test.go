package companion

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// What cannot change live is named under Restart, and ReloadedConfig
// keeps its running value; peers' changes are named field by field,
// never with their values.
func TestDiffConfig(t *testing.T) {
	running := reloadConfig(t, reloadPeer{name: "b"}, reloadPeer{name: "c"})
	src := strings.NewReplacer(
		`eid = "02:00:00:00:00:0a"`, `eid = "02:00:00:00:00:0f"`,
		`udp://127.0.0.1:5070`, `udp://127.0.0.1:5071`,
		`secret = "s"`, `secret = "hunter2"`,
	).Replace(reloadNodeTOML) + `
[apply]
device_name = "Custom:{peer}-{device}"
[[peer]]
name = "c"
  [peer.publish]
  server_uri = "sip:a@c.example:5060"
  device_state = true
  max_in_flight = 1
  [peer.accept]
  resource = "c"
  match = ["127.0.0.0/8"]
  username = "c"
  password = "pa55word"
  device_state = true
  mailbox_state = true
  qualify_frequency = "off"
[[peer]]
name = "d"
  [peer.accept]
  resource = "d"
  match = ["127.0.0.1/32"]
`
	next, err := ParseConfig("a.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d := DiffConfig(running, next)
	if !slices.Equal(d.Added, []string{"d"}) || !slices.Equal(d.Removed, []string{"b"}) {
		t.Errorf("added %v, removed %v; want [d], [b]", d.Added, d.Removed)
	}
	wantPeer := []PeerChange{{Name: "c", Fields: []string{"publish.mailbox_state", "accept.username", "accept.password"}}}
	if fmt.Sprint(d.Changed) != fmt.Sprint(wantPeer) {
		t.Errorf("changed %v, want %v", d.Changed, wantPeer)
	}
	wantRestart := []string{"companion.eid", "companion.sip_listen", "ami.secret", "apply.device_name"}
	if !slices.Equal(d.Restart, wantRestart) {
		t.Errorf("restart %v, want %v", d.Restart, wantRestart)
	}
	if s := fmt.Sprintf("%+v", d); strings.Contains(s, "hunter2") || strings.Contains(s, "pa55word") {
		t.Errorf("the diff shows a secret: %s", s)
	}

	r := ReloadedConfig(running, next)
	if r.Node.EID != running.Node.EID || r.AMI != running.AMI || r.Apply != running.Apply || len(r.Peers) != 2 || r.Peers[1].Name != "d" {
		t.Errorf("reloaded config: eid %v, ami %p (running %p), apply %+v, peers %d", r.Node.EID, r.AMI, running.AMI, r.Apply, len(r.Peers))
	}
	if d := DiffConfig(running, running); !d.IsZero() {
		t.Errorf("a configuration differs from itself: %+v", d)
	}
}

// An accept change may widen (then the peer is asked for its state) only
// when a switch turns on or a filter that was set changes.
func TestAcceptWidened(t *testing.T) {
	f := MustCompileFilter
	for _, c := range []struct {
		name string
		a, b *AcceptConfig
		want bool
	}{
		{"added", nil, &AcceptConfig{}, true},
		{"removed", &AcceptConfig{}, nil, false},
		{"switch on", &AcceptConfig{}, &AcceptConfig{MailboxState: true}, true},
		{"switch off", &AcceptConfig{DeviceState: true}, &AcceptConfig{}, false},
		{"filter set", &AcceptConfig{DeviceState: true}, &AcceptConfig{DeviceState: true, DeviceStateFilter: f("^PJSIP/")}, false},
		{"filter changed", &AcceptConfig{DeviceState: true, DeviceStateFilter: f("^PJSIP/")}, &AcceptConfig{DeviceState: true, DeviceStateFilter: f("^SIP/")}, true},
		{"filter dropped", &AcceptConfig{DeviceState: true, DeviceStateFilter: f("^PJSIP/")}, &AcceptConfig{DeviceState: true}, true},
		{"filter of an event off", &AcceptConfig{DeviceStateFilter: f("a")}, &AcceptConfig{DeviceStateFilter: f("b")}, false},
	} {
		if got := acceptWidened(c.a, c.b); got != c.want {
			t.Errorf("%s: widened %v, want %v", c.name, got, c.want)
		}
	}
}

// [fleet] is built at start: a change is reported as needing a restart,
// and the running section stays.
func TestDiffConfigFleetNeedsARestart(t *testing.T) {
	running := reloadConfig(t, reloadPeer{name: "b"})
	fleet := func(bucket string) string {
		return "\n[fleet]\nnats_urls = [\"nats://127.0.0.1:4222\"]\nbucket = \"" + bucket + "\"\n  [fleet.publish]\n  device_state = true\n"
	}
	withFleet, err := ParseConfig("a.toml", []byte(reloadNodeTOML+fleet("one")))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		from    *Config
		src     string
		restart bool
	}{
		{"added", running, reloadNodeTOML + fleet("one"), true},
		{"unchanged", withFleet, reloadNodeTOML + fleet("one"), false},
		{"bucket changed", withFleet, reloadNodeTOML + fleet("two"), true},
	} {
		next, err := ParseConfig("a.toml", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		d := DiffConfig(tc.from, next)
		if got := slices.Contains(d.Restart, "fleet"); got != tc.restart {
			t.Errorf("%s: restart %v, want fleet listed: %v", tc.name, d.Restart, tc.restart)
		}
		if kept := ReloadedConfig(tc.from, next).Fleet; kept != tc.from.Fleet {
			t.Errorf("%s: the running [fleet] was not kept", tc.name)
		}
	}
}
