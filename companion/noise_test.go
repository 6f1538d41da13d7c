package companion

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// noiseTOML is a node beside a stock Asterisk peer configured from the
// README's pjsip.conf block: the peer knows us as endpoint "instance1".
const noiseTOML = `
[companion]
name = "instance1"
eid = "02:00:00:00:00:01"
sip_listen = ["udp://127.0.0.1:5070"]

[ami]
username = "u"
secret = "s"

[[peer]]
name = "instance2"
  [peer.publish]
  server_uri = "sip:instance1@127.0.0.2:5060"
  device_state = true
  [peer.accept]
  match = ["127.0.0.0/8"]
  device_state = true
  mailbox_state = true
  %s
`

func noiseRig(t *testing.T, extra string) (*receiverRig, *bytes.Buffer) {
	t.Helper()
	cfg, err := ParseConfig("n.toml", []byte(strings.Replace(noiseTOML, "%s", extra, 1)))
	if err != nil {
		t.Fatal(err)
	}
	rig := &receiverRig{t: t, remote: NewTable(), now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	rig.r = NewReceiver(cfg, cfg.Node.EID, rig.remote)
	rig.r.now = func() time.Time { return rig.now }
	var logs bytes.Buffer
	rig.r.SetLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	return rig, &logs
}

func TestNoiseDroppedByDefault(t *testing.T) {
	g, logs := noiseRig(t, "")
	for _, body := range []string{
		devBody("MWI:1000@default", "INUSE", peerEID), // res_mwi_devstate's twin of a mailbox
		devBody("mwi:1001@default", "NOT_INUSE", peerEID),
		devBody("PJSIP/instance1", "UNAVAILABLE", peerEID), // the peer's endpoint for us
		devBody("pjsip/instance1", "UNAVAILABLE", peerEID), // the technology's case is folded
		devBody("PJSIP/carol", "INVALID", peerEID),         // no such device there
		devBody("PJSIP/alice", "INUSE", peerEID),           // a real one
		devBody("Custom:bob", "BUSY", peerEID),
	} {
		g.ok(pub("instance2", "asterisk-devicestate", "", 60, body))
	}
	got := g.remoteNames()
	want := []string{"Custom:bob BUSY", "PJSIP/alice INUSE"}
	if !slices.Equal(got, want) {
		t.Errorf("remote = %q, want %q", got, want)
	}
	f := g.r.Filtered()
	if f[FilteredMWIDevice] != 2 || f[FilteredIgnoredDevice] != 2 || f[FilteredInvalid] != 1 {
		t.Errorf("filtered = %v", f)
	}
	if len(g.r.Refusals()) != 0 {
		t.Errorf("noise counted as refusals: %v", g.r.Refusals())
	}

	// Once per peer and reason at INFO, naming the setting; never WARN.
	out := logs.String()
	if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") {
		t.Errorf("noise logged above INFO:\n%s", out)
	}
	for _, setting := range []string{"ignore_mwi_devices = false", "ignore_devices = [", "ignore_invalid = false"} {
		if n := strings.Count(out, setting); n != 1 {
			t.Errorf("%q named %d times, want once:\n%s", setting, n, out)
		}
	}
	if n := strings.Count(out, "level=INFO"); n != 3 {
		t.Errorf("%d INFO lines, want 3 (one per reason):\n%s", n, out)
	}
}

func TestNoiseInvalidWithdrawsTheHeldValue(t *testing.T) {
	g, _ := noiseRig(t, "max_keys = 1")
	g.ok(pub("instance2", "asterisk-devicestate", "", 60, devBody("PJSIP/alice", "INUSE", peerEID)))
	if got := g.remoteNames(); len(got) != 1 {
		t.Fatalf("remote = %q", got)
	}
	// The device is gone on the peer: what it asserted is cleared here.
	g.ok(pub("instance2", "asterisk-devicestate", "", 60, devBody("PJSIP/alice", "INVALID", peerEID)))
	if got := g.remoteNames(); len(got) != 0 {
		t.Errorf("remote after INVALID = %q, want nothing", got)
	}
	// Its key no longer counts against max_keys = 1.
	g.ok(pub("instance2", "asterisk-devicestate", "", 60, devBody("PJSIP/bob", "RINGING", peerEID)))
	if got := g.remoteNames(); !slices.Equal(got, []string{"PJSIP/bob RINGING"}) {
		t.Errorf("remote = %q", got)
	}
}

func TestNoiseKeptWhenAskedFor(t *testing.T) {
	g, _ := noiseRig(t, `ignore_mwi_devices = false
  ignore_invalid = false
  ignore_devices = ["PJSIP/other"]`)
	for _, body := range []string{
		devBody("MWI:1000@default", "INUSE", peerEID),
		devBody("PJSIP/instance1", "UNAVAILABLE", peerEID),
		devBody("PJSIP/carol", "INVALID", peerEID),
		devBody("PJSIP/other", "INUSE", peerEID),
	} {
		g.ok(pub("instance2", "asterisk-devicestate", "", 60, body))
	}
	want := []string{"MWI:1000@default INUSE", "PJSIP/carol INVALID", "PJSIP/instance1 UNAVAILABLE"}
	if got := g.remoteNames(); !slices.Equal(got, want) {
		t.Errorf("remote = %q, want %q", got, want)
	}
	if f := g.r.Filtered(); f[FilteredIgnoredDevice] != 1 || len(f) != 1 {
		t.Errorf("filtered = %v", f)
	}
}

func TestNoiseLaterDropsAreDebugAndRateLimited(t *testing.T) {
	g, logs := noiseRig(t, "")
	for range 50 {
		g.ok(pub("instance2", "asterisk-devicestate", "", 60, devBody("MWI:1000@default", "INUSE", peerEID)))
	}
	out := logs.String()
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d log lines for 50 drops, want 2 (INFO, then one DEBUG; the rest counted):\n%s", n, out)
	}
	if g.r.Filtered()[FilteredMWIDevice] != 50 {
		t.Errorf("filtered = %v", g.r.Filtered())
	}
}

func TestDefaultIgnoredDevices(t *testing.T) {
	pubTo := func(from string) *PublishConfig {
		u, err := ParseSIPURI(from)
		if err != nil {
			t.Fatal(err)
		}
		return &PublishConfig{FromURI: u}
	}
	for _, c := range []struct {
		node string
		pub  *PublishConfig
		want []string
	}{
		{"instance1", pubTo("sip:instance1@10.0.0.2"), []string{"PJSIP/instance1"}},
		{"node-a", pubTo("sip:ast1@10.0.0.2"), []string{"PJSIP/ast1", "PJSIP/node-a"}},
		{"node-a", nil, []string{"PJSIP/node-a"}},
		{"node-a", pubTo("sip:10.0.0.2"), []string{"PJSIP/node-a"}},
	} {
		if got := DefaultIgnoredDevices(c.node, c.pub); !slices.Equal(got, c.want) {
			t.Errorf("DefaultIgnoredDevices(%q, %v) = %q, want %q", c.node, c.pub, got, c.want)
		}
	}
}
