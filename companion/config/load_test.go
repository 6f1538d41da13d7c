package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

type wantErr struct {
	line int
	key  string
	msg  string // substring of the message
}

// checkErrors asserts that err lists exactly want, in order.
func checkErrors(t *testing.T, err error, want []wantErr) {
	t.Helper()
	var errs companion.ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("got error %v (%T), want ConfigErrors", err, err)
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), errs)
	}
	for i, w := range want {
		e := errs[i]
		if e.Line != w.line || e.Key != w.key || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d = %q\nwant line %d, key %s, message containing %q", i+1, e.Error(), w.line, w.key, w.msg)
		}
	}
}

func loadExample(t *testing.T) *companion.Config {
	t.Helper()
	cfg, err := Load("../../companion.example.toml")
	if err != nil {
		t.Fatalf("example: %v", err)
	}
	return cfg
}

// onlyUDPSpoofWarning fails unless the warnings are exactly the one about
// a peer accepted by address alone over UDP: the example follows the seed,
// which identifies its peer by address.
func onlyUDPSpoofWarning(t *testing.T, cfg *companion.Config) {
	t.Helper()
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Error(), "can be forged") {
		t.Errorf("warnings: %v", companion.ConfigErrors(cfg.Warnings))
	}
}

func TestConfigExample(t *testing.T) {
	cfg := loadExample(t)
	onlyUDPSpoofWarning(t, cfg)
	if cfg.Node.Name != "instance1" || !cfg.Node.EIDAuto() {
		t.Errorf("node = %+v", cfg.Node)
	}
	if want := []companion.Listener{{Transport: "udp", Host: "172.16.10.1", Port: 5070}}; !reflect.DeepEqual(cfg.Node.SIPListen, want) {
		t.Errorf("sip_listen = %v", cfg.Node.SIPListen)
	}
	if cfg.AMI == nil || cfg.AMI.Address != "127.0.0.1:5038" || cfg.AMI.Username != "companion" ||
		cfg.AMI.Secret.Reveal() != "change-me" || cfg.AMI.ReconnectInterval != 2*time.Second {
		t.Errorf("ami = %+v", cfg.AMI)
	}
	if cfg.ARI == nil || cfg.ARI.URL != "http://127.0.0.1:8088/ari" || cfg.ARI.Username != "asterisk" || cfg.ARI.Password.Reveal() != "change-me" {
		t.Errorf("ari = %+v", cfg.ARI)
	}
	if want := (companion.ApplyConfig{DeviceState: companion.ApplyAMI, DeviceName: "Custom:{device}", MailboxState: companion.ApplyAMI, ClearDeviceState: companion.Unavailable, LedgerFile: "/var/lib/companion/applied.json"}); cfg.Apply != want {
		t.Errorf("apply = %+v", cfg.Apply)
	}
	if len(cfg.Peers) != 1 {
		t.Fatalf("peers = %+v", cfg.Peers)
	}
	p := cfg.Peer("instance2")
	if p == nil || p.Publish == nil || p.Accept == nil {
		t.Fatalf("peer instance2 = %+v", p)
	}
	pub := p.Publish
	if pub.ServerURI.String() != "sip:instance1@172.16.10.2:5070" || pub.ServerURI.User != "instance1" ||
		pub.ServerURI.Host != "172.16.10.2" || pub.ServerURI.Port != 5070 {
		t.Errorf("server_uri = %+v", pub.ServerURI)
	}
	if pub.FromURI.String() != "sip:instance1@172.16.10.2" || pub.ToURI.String() != "sip:instance1@172.16.10.2" {
		t.Errorf("from/to = %s / %s", pub.FromURI, pub.ToURI)
	}
	if !pub.DeviceState || !pub.MailboxState || !pub.DeviceStateFilter.IsZero() || pub.Expiration != time.Hour || pub.Username != "" {
		t.Errorf("publish = %+v", pub)
	}
	acc := p.Accept
	if acc.Resource != "instance2" || !reflect.DeepEqual(acc.Match, []netip.Prefix{netip.MustParsePrefix("172.16.10.2/32")}) ||
		!acc.DeviceState || !acc.MailboxState || !acc.Refresh || acc.Username != "" {
		t.Errorf("accept = %+v", acc)
	}
	// The seed's first example shares everything; its filters are on instance 2.
	if !acc.DeviceStateFilter.IsZero() || !acc.MailboxStateFilter.IsZero() {
		t.Errorf("instance 1 filters = %q, %q; want none", acc.DeviceStateFilter, acc.MailboxStateFilter)
	}
	if !acc.Allows(netip.MustParseAddr("172.16.10.2")) || !acc.Allows(netip.MustParseAddr("::ffff:172.16.10.2")) || acc.Allows(netip.MustParseAddr("172.16.10.3")) {
		t.Error("Allows does not follow match")
	}

	var paths []string
	for _, o := range cfg.Sorcery {
		paths = append(paths, o.Path())
	}
	if want := []string{"res_pjsip/auth/alice", "res_pjsip/aor/alice", "res_pjsip/endpoint/alice"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("sorcery = %v", paths)
	}
	wantFields := [][]companion.SorceryField{
		{{Name: "auth_type", Value: "userpass"}, {Name: "username", Value: "alice"}, {Name: "password", Value: "secret"}},
		{{Name: "support_path", Value: "yes"}, {Name: "remove_existing", Value: "yes"}, {Name: "max_contacts", Value: "1"}},
		{{Name: "from_user", Value: "alice"}, {Name: "context", Value: "default"}, {Name: "disallow", Value: "all"}, {Name: "allow", Value: "g722,ulaw,alaw"},
			{Name: "ice_support", Value: "yes"}, {Name: "force_rport", Value: "yes"}, {Name: "rewrite_contact", Value: "yes"}, {Name: "rtp_symmetric", Value: "yes"},
			{Name: "auth", Value: "alice"}, {Name: "aors", Value: "alice"}},
	}
	for i, o := range cfg.Sorcery {
		if !reflect.DeepEqual(o.Fields, wantFields[i]) {
			t.Errorf("%s fields = %v\nwant %v", o.Path(), o.Fields, wantFields[i])
		}
	}
}

// The commented block at the end of the example is instance 2's whole file.
func TestConfigExampleInstance2(t *testing.T) {
	data, err := os.ReadFile("../../companion.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "# ---- instance 2")
	if !ok {
		t.Fatal("no instance 2 block")
	}
	var lines []string
	for _, ln := range strings.Split(block, "\n")[1:] {
		if ln == "" {
			continue
		}
		if !strings.HasPrefix(ln, "#") {
			t.Fatalf("uncommented line in the instance 2 block: %q", ln)
		}
		lines = append(lines, strings.TrimPrefix(strings.TrimPrefix(ln, "#"), " "))
	}
	cfg, err := Parse("instance2.toml", []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatalf("instance 2: %v", err)
	}
	onlyUDPSpoofWarning(t, cfg)
	p := cfg.Peer("instance1")
	if cfg.Node.Name != "instance2" || p == nil || p.Publish == nil || p.Accept == nil {
		t.Fatalf("instance 2 = %+v", cfg)
	}
	if p.Publish.ServerURI.String() != "sip:instance2@172.16.10.1:5070" || p.Publish.FromURI.String() != "sip:instance2@172.16.10.1" {
		t.Errorf("publish = %+v", p.Publish)
	}
	if p.Accept.Resource != "instance1" || p.Accept.Match[0].String() != "172.16.10.1/32" || !p.Accept.Refresh {
		t.Errorf("accept = %+v", p.Accept)
	}
	// The seed's filtering example.
	acc := p.Accept
	if acc.DeviceStateFilter.String() != "^PJSIP/" || !acc.DeviceStateFilter.Match("pjsip/alice") || acc.DeviceStateFilter.Match("SIP/alice") {
		t.Errorf("device_state_filter = %v", acc.DeviceStateFilter)
	}
	if !acc.MailboxStateFilter.Match("1000@default") || acc.MailboxStateFilter.Match("2000@default") {
		t.Errorf("mailbox_state_filter = %v", acc.MailboxStateFilter)
	}
	// The two files fit together: each publishes to the resource the other accepts it on.
	one := loadExample(t)
	if one.Peers[0].Publish.ServerURI.User != p.Accept.Resource || p.Publish.ServerURI.User != one.Peers[0].Accept.Resource {
		t.Error("instance 1 and 2 do not publish to each other's resources")
	}
}

const minimal = `[companion]
name = "n1"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://0.0.0.0:5070"]

[ami]
username = "companion"
secret = "s"
`

var minimalLines = strings.Count(minimal, "\n")

func TestConfigDefaults(t *testing.T) {
	cfg, err := Parse("c.toml", []byte(minimal+`
[[peer]]
name = "p1"
  [peer.publish]
  server_uri = "sips:me@[2001:db8::1]:5071;transport=tls"
  device_state = true
  [peer.accept]
  match = ["10.0.0.1", "2001:db8::/32"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.EID.String() != "02:42:ac:11:00:02" || cfg.Node.EIDAuto() {
		t.Errorf("eid = %v", cfg.Node.EID)
	}
	if cfg.AMI.Address != companion.DefaultAMIAddress || cfg.AMI.ReconnectInterval != 2*time.Second {
		t.Errorf("ami = %+v", cfg.AMI)
	}
	if cfg.ARI != nil {
		t.Errorf("ari = %+v, want nil without [ari]", cfg.ARI)
	}
	if want := (companion.ApplyConfig{DeviceState: companion.ApplyAMI, DeviceName: "Custom:{device}", MailboxState: companion.ApplyAMI, ClearDeviceState: companion.Unavailable, LedgerFile: "/var/lib/companion/applied.json"}); cfg.Apply != want {
		t.Errorf("apply = %+v", cfg.Apply)
	}
	p := cfg.Peers[0]
	u := p.Publish.ServerURI
	if u.Scheme != "sips" || u.User != "me" || u.Host != "2001:db8::1" || u.Port != 5071 || u.Params != "transport=tls" {
		t.Errorf("server_uri = %+v", u)
	}
	if p.Publish.FromURI.String() != "sips:me@[2001:db8::1]" || p.Publish.ToURI != p.Publish.FromURI {
		t.Errorf("from/to = %v %v", p.Publish.FromURI, p.Publish.ToURI)
	}
	if p.Publish.MailboxState || p.Publish.Expiration != 3600*time.Second {
		t.Errorf("publish = %+v", p.Publish)
	}
	a := p.Accept
	if a.Resource != "p1" || a.DeviceState || a.MailboxState || a.Refresh {
		t.Errorf("accept = %+v", a)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("2001:db8::/32")}; !reflect.DeepEqual(a.Match, want) {
		t.Errorf("match = %v", a.Match)
	}

	cfg, err = Parse("c.toml", []byte(`[companion]
name = "n1"
[ari]
username = "u"
password = "p"
[apply]
device_state = "ari"
mailbox_state = "none"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Apply.DeviceName != "Stasis:{device}" || cfg.Apply.MailboxState != companion.ApplyNone || cfg.AMI != nil {
		t.Errorf("apply = %+v, ami = %v", cfg.Apply, cfg.AMI)
	}
	if cfg.ARI.URL != companion.DefaultARIURL || !cfg.Node.EIDAuto() {
		t.Errorf("ari = %+v", cfg.ARI)
	}
	if got := companion.DeviceNameTemplate("Stasis:{peer}-{device}-{eid}").Expand("PJSIP/a", "p1", mustEID("02:00:00:00:00:01")); got != "Stasis:p1-PJSIP/a-02:00:00:00:00:01" {
		t.Errorf("Expand = %q", got)
	}
}

func mustEID(s string) companion.EntityID {
	e, err := companion.ParseEntityID(s)
	if err != nil {
		panic(err)
	}
	return e
}

func TestConfigFiveMistakes(t *testing.T) {
	cfg, err := Load("../../fixtures/config/five_mistakes.toml")
	checkErrors(t, err, []wantErr{
		{11, "ami.Reconnect_interval", `unknown key (did you mean "reconnect_interval"?)`},
		{15, "apply.device_name", `must start with "Custom:"`},
		{20, `peer "instance2".publish.server_uri`, "bad URI: port"},
		{22, `peer "instance2".publish.expiration`, "must be an integer, not a string"},
		{25, `peer "instance2".accept.match[1]`, "is not an IP address or CIDR"},
	})
	if cfg == nil {
		t.Fatal("no partial config with the errors")
	}
	if !strings.HasPrefix(err.Error(), "../../fixtures/config/five_mistakes.toml:11: ami.Reconnect_interval: unknown key") {
		t.Errorf("Error() = %q", err.Error())
	}
	if strings.Contains(err.Error(), "ami-secret-5m") {
		t.Error("secret in errors")
	}
}

func TestConfigMoreMistakes(t *testing.T) {
	_, err := Load("../../fixtures/config/more_mistakes.toml")
	checkErrors(t, err, []wantErr{
		{2, "companion.sip_listen", "required"},
		{12, `peer "instance2".publish.server_uri`, "missing (required)"},
		{16, "peer[2].name", `duplicate peer name "instance2" (first at line 11)`},
		{17, "peer[2].accept", "accepts publications from anyone"},
		{19, "peer[2].accept.device_state_filter", "not a POSIX extended regular expression"},
		{20, "peer[2].accept.refresh", "needs [peer.publish]"},
		{25, "sorcery[1].id", `'/' is not allowed`},
		{26, "sorcery[1].fields.rtp_timeout", "not a float"},
	})
}

// BurntSushi/toml would put every key of [[peer]] at the last peer's line.
func TestConfigSecondOfThreePeers(t *testing.T) {
	_, err := Load("../../fixtures/config/three_peers.toml")
	checkErrors(t, err, []wantErr{
		{20, `peer "two".publish.server_uri`, "port must be a number"},
		{24, `peer "two".accept.mailbox_state`, "must be a boolean (true or false), not a string"},
	})
}

func TestConfigSingleMistakes(t *testing.T) {
	tests := []struct {
		name string
		full string // whole file; else minimal + add, lines counted in add
		add  string
		line int
		key  string
		msg  string
		more []wantErr // further errors the mistake causes
	}{
		{name: "unknown section", add: "[amii]\nx = 1\n", line: 1, key: "amii", msg: `unknown table (did you mean "ami"?)`},
		{name: "unknown key case", full: "[companion]\nName = \"x\"\neid = \"02:42:ac:11:00:02\"\n", line: 1, key: "companion.name", msg: "missing (required)",
			more: []wantErr{{2, "companion.Name", `unknown key (did you mean "name"?)`}}},
		{name: "missing companion", full: "[ami]\nusername = \"u\"\nsecret = \"s\"\n", line: 0, key: "companion", msg: "missing section [companion]"},
		{name: "companion not a table", full: "companion = \"x\"\neid = 1\n", line: 1, key: "companion", msg: "must be a table, not a string",
			more: []wantErr{{2, "eid", `unknown key`}}},
		{name: "unknown key typo", add: "secrte_file = \"x\"\n", line: 1, key: "ami.secrte_file", msg: `did you mean "secret_file"?`},
		{name: "empty name", full: "[companion]\nname = \"\"\neid = \"02:42:ac:11:00:02\"\n", line: 2, key: "companion.name", msg: "is empty"},
		{name: "bad eid", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00\"\n", line: 3, key: "companion.eid", msg: "six hex byte pairs"},
		{name: "zero eid", full: "[companion]\nname = \"n\"\neid = \"00:00:00:00:00:00\"\n", line: 3, key: "companion.eid", msg: "not a usable"},
		{name: "eid auto without ari", full: "[companion]\nname = \"n\"\n", line: 1, key: "companion.eid", msg: "add an [ari] section"},
		{name: "listen ws", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\n  \"udp://0.0.0.0:5070\",\n  \"ws://0.0.0.0:8088\",\n]\n",
			line: 6, key: "companion.sip_listen[2]", msg: "transport must be udp, tcp or tls"},
		{name: "listen without port", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\"tcp://0.0.0.0\"]\n", line: 4, key: "companion.sip_listen[1]", msg: "port required"},
		{name: "listen bare ipv6", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\"udp://::1:5070\"]\n", line: 4, key: "companion.sip_listen[1]", msg: "brackets"},
		{name: "listen duplicate", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\"udp://[::1]:5070\", \"udp://[::1]:5070\"]\n", line: 4, key: "companion.sip_listen[2]", msg: "already listed"},
		{name: "listen empty", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = []\n[[peer]]\nname = \"p\"\naccept = { match = [\"10.0.0.1\"], device_state = true }\n",
			line: 4, key: "companion.sip_listen", msg: `required: peer "p" accepts publications`,
			more: []wantErr{{7, `peer "p".accept.device_state`, "needs an [ami] section"}}},
		{name: "listen a string", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = \"udp://0.0.0.0:5070\"\n", line: 4, key: "companion.sip_listen", msg: "must be an array of strings"},
		{name: "tls without cert", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\"tls://0.0.0.0:5061\"]\ntls_key_file = \"load_test.go\"\n",
			line: 1, key: "companion.tls_cert_file", msg: "required by the tls:// listener"},
		{name: "tls key unreadable", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\nsip_listen = [\"tls://0.0.0.0:5061\"]\ntls_cert_file = \"load_test.go\"\ntls_key_file = \"/nonexistent/k.pem\"\n",
			line: 6, key: "companion.tls_key_file", msg: "cannot read /nonexistent/k.pem: no such file or directory"},
		{name: "ami missing username", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n[ami]\nsecret = \"s\"\n", line: 4, key: "ami.username", msg: "missing (required)"},
		{name: "ami username without secret", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n[ami]\nusername = \"u\"\n", line: 5, key: "ami.username", msg: "needs secret, secret_env or secret_file"},
		{name: "ami two secrets", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n[ami]\nusername = \"u\"\nsecret = \"s\"\nsecret_env = \"X\"\n", line: 7, key: "ami.secret_env", msg: "set only one of secret, secret_env or secret_file"},
		{name: "ami reconnect zero", add: "reconnect_interval = \"0s\"\n", line: 1, key: "ami.reconnect_interval", msg: "greater than zero"},
		{name: "ami reconnect integer", add: "reconnect_interval = 2\n", line: 1, key: "ami.reconnect_interval", msg: "must be a duration string such as \"2s\", not an integer"},
		{name: "ari ftp", add: "[ari]\nurl = \"ftp://h/ari\"\nusername = \"u\"\npassword = \"p\"\n", line: 2, key: "ari.url", msg: "http or https"},
		{name: "ari without password", add: "[ari]\nusername = \"u\"\n", line: 2, key: "ari.username", msg: "needs password, password_env or password_file"},
		{name: "apply mode", add: "[apply]\ndevice_state = \"sip\"\n", line: 2, key: "apply.device_state", msg: `must be "ami", "ari" or "none"`},
		{name: "apply placeholder", add: "[apply]\ndevice_name = \"Custom:{host}/{device}\"\n", line: 2, key: "apply.device_name", msg: "unknown placeholder {host}"},
		{name: "apply no device", add: "[apply]\ndevice_name = \"Custom:{peer}\"\n", line: 2, key: "apply.device_name", msg: "must contain {device}"},
		{name: "apply unclosed", add: "[apply]\ndevice_name = \"Custom:{device\"\n", line: 2, key: "apply.device_name", msg: "unclosed"},
		{name: "apply ari custom", add: "[ari]\nusername = \"u\"\npassword = \"p\"\n[apply]\ndevice_state = \"ari\"\ndevice_name = \"Custom:{device}\"\n", line: 6, key: "apply.device_name", msg: `must start with "Stasis:"`},
		{name: "apply ari without ari", add: "[apply]\nmailbox_state = \"ari\"\n", line: 2, key: "apply.mailbox_state", msg: "needs an [ari] section"},
		{name: "peer not array", add: "[peer]\nname = \"p\"\n", line: 1, key: "peer", msg: "write [[peer]], not [peer]"},
		{name: "peer name type", add: "[[peer]]\nname = 5\n", line: 2, key: "peer[1].name", msg: "must be a string, not an integer"},
		{name: "peer name missing", add: "[[peer]]\n[peer.publish]\nserver_uri = \"sip:a@h\"\ndevice_state = true\n", line: 1, key: "peer[1].name", msg: "missing (required)"},
		{name: "peer name space", add: "[[peer]]\nname = \"a b\"\n", line: 2, key: "peer[1].name", msg: "spaces"},
		{name: "peer unknown key", add: "[[peer]]\nname = \"p\"\npublsh = {}\n", line: 3, key: `peer "p".publsh`, msg: `did you mean "publish"?`},
		{name: "scheme", add: "[[peer]]\nname = \"p\"\npublish = { server_uri = \"http://a@h\", device_state = true }\n", line: 3, key: `peer "p".publish.server_uri`, msg: "scheme must be sip or sips"},
		{name: "no user", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:172.16.10.2\"\n", line: 4, key: `peer "p".publish.server_uri`, msg: "needs a user part"},
		{name: "uri bare ipv6", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@2001:db8::1\"\n", line: 4, key: `peer "p".publish.server_uri`, msg: "brackets"},
		{name: "uri bad host", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@10.0.0.256\"\n", line: 4, key: `peer "p".publish.server_uri`, msg: "neither an IP address nor a valid host name"},
		{name: "uri headers", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h?subject=x\"\n", line: 4, key: `peer "p".publish.server_uri`, msg: "without headers"},
		{name: "from_uri", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\nfrom_uri = \"a@h\"\n", line: 5, key: `peer "p".publish.from_uri`, msg: "bad URI"},
		{name: "expiration zero", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\nexpiration = 0\n", line: 5, key: `peer "p".publish.expiration`, msg: "at least 1"},
		{name: "switch yes", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\ndevice_state = \"yes\"\n", line: 5, key: `peer "p".publish.device_state`, msg: "must be a boolean (true or false), not a string"},
		{name: "publish filter", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\ndevice_state = true\ndevice_state_filter = '^PJSIP/(alice'\n", line: 6, key: `peer "p".publish.device_state_filter`, msg: "not a POSIX extended regular expression"},
		{name: "perl escape in filter", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\ndevice_state = true\ndevice_state_filter = '^PJSIP/\\d+'\n", line: 6, key: `peer "p".publish.device_state_filter`, msg: "not a POSIX escape"},
		{name: "publish user without password", add: "[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\nusername = \"u\"\n", line: 5, key: `peer "p".publish.username`, msg: "needs password"},
		{name: "accept password without user", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = [\"10.0.0.1\"]\npassword = \"pw\"\n", line: 5, key: `peer "p".accept.password`, msg: "needs username"},
		{name: "accept open", add: "[[peer]]\nname = \"p\"\n\n  [peer.accept]\n  device_state = true\n", line: 4, key: `peer "p".accept`, msg: "accepts publications from anyone"},
		{name: "accept empty match", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = []\n", line: 4, key: `peer "p".accept.match`, msg: "nobody could publish"},
		{name: "match hostname", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = [\n  \"10.0.0.1\",\n  \"pbx2.example.com\",\n]\n", line: 6, key: `peer "p".accept.match[2]`, msg: "host names are not resolved"},
		{name: "match prefix", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = [\"10.0.0.0/33\"]\n", line: 4, key: `peer "p".accept.match[1]`, msg: "not an IP address or CIDR"},
		{name: "resource", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = [\"10.0.0.1\"]\nresource = \"a b\"\n", line: 5, key: `peer "p".accept.resource`, msg: "valid SIP URI user"},
		{name: "refresh without publish", add: "[[peer]]\nname = \"p\"\n[peer.accept]\nmatch = [\"10.0.0.1\"]\nrefresh = true\n", line: 5, key: `peer "p".accept.refresh`, msg: "needs [peer.publish]"},
		{name: "duplicate resource", add: "[[peer]]\nname = \"p\"\naccept = { match = [\"10.0.0.1\"], resource = \"r\" }\n[[peer]]\nname = \"q\"\naccept = { match = [\"10.0.0.2\"], resource = \"r\" }\n",
			line: 6, key: `peer "q".accept.resource`, msg: `resource "r" is already used by another peer (line 11)`},
		{name: "duplicate default resource", add: "[[peer]]\nname = \"p\"\naccept = { match = [\"10.0.0.1\"] }\n[[peer]]\nname = \"q\"\naccept = { match = [\"10.0.0.2\"], resource = \"p\" }\n",
			line: 6, key: `peer "q".accept.resource`, msg: "already used"},
		{name: "sorcery missing id", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\n", line: 1, key: "sorcery[1].id", msg: "missing (required)"},
		{name: "sorcery class space", add: "[[sorcery]]\nclass = \"res pjsip\"\ntype = \"aor\"\nid = \"a\"\n", line: 2, key: "sorcery[1].class", msg: "' ' is not allowed"},
		{name: "sorcery id at", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"alice@example\"\n", line: 4, key: "sorcery[1].id", msg: "'@' is not allowed"},
		{name: "sorcery id unicode", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"zoë\"\n", line: 4, key: "sorcery[1].id", msg: "'ë' is not allowed"},
		{name: "sorcery duplicate", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"a\"\n[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"a\"\n",
			line: 5, key: "sorcery[2]", msg: "res_pjsip/aor/a is already defined (line 9)"},
		{name: "sorcery array value", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"identify\"\nid = \"a\"\n[sorcery.fields]\nendpoint = \"a\"\nmatch = [\"10.0.0.1\"]\n", line: 7, key: "sorcery[1].fields.match", msg: "not an array"},
		{name: "sorcery table value", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"a\"\nfields = { x = { y = 1 } }\n", line: 5, key: "sorcery[1].fields.x", msg: "must be a string, integer, boolean, { env"},
		{name: "sorcery date value", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"a\"\nfields = { x = 2024-01-01 }\n", line: 5, key: "sorcery[1].fields.x", msg: "not a date/time"},
		{name: "sorcery empty field name", add: "[[sorcery]]\nclass = \"res_pjsip\"\ntype = \"aor\"\nid = \"a\"\nfields = { \"\" = \"v\" }\n", line: 5, key: "sorcery[1].fields.", msg: "field name is empty"},
		{name: "publish without ami", full: "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n[[peer]]\nname = \"p\"\n[peer.publish]\nserver_uri = \"sip:a@h\"\nmailbox_state = true\n",
			line: 6, key: `peer "p".publish`, msg: "add an [ami] section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, line := tt.full, tt.line
			if src == "" {
				src = minimal + tt.add
				if line > 0 {
					line += minimalLines
				}
			}
			_, err := Parse("c.toml", []byte(src))
			want := []wantErr{{line, tt.key, tt.msg}}
			checkErrors(t, err, append(want, tt.more...))
		})
	}
}

func TestConfigAMIAddress(t *testing.T) {
	for _, addr := range []string{"localhost", ":5038", "h:0", "h:65536", "[::1]"} {
		_, err := Parse("c.toml", []byte(minimal+"address = \""+addr+"\"\n"))
		checkErrors(t, err, []wantErr{{minimalLines + 1, "ami.address", "want host:port"}})
	}
	cfg, err := Parse("c.toml", []byte(minimal+"address = \"[::1]:5039\"\n"))
	if err != nil || cfg.AMI.Address != "[::1]:5039" {
		t.Errorf("address = %v, %v", cfg.AMI, err)
	}
}

func TestConfigWarnings(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://0.0.0.0:5070"]
tls_cert_file = "c.pem"

[ami]
username = "u"
secret = "s"

[[peer]]
name = "n"
accept = { match = ["10.0.0.1"], device_state = true }

[[peer]]
name = "quiet"

[[peer]]
name = "p"
  [peer.publish]
  server_uri = "sip:a@h"
  expiration = 30
  mailbox_state_filter = "^1"
  [peer.accept]
  match = ["10.1.2.3/8"]

[[sorcery]]
class = "res_pjsip"
type = "endpoint"
id = "e"
fields = { disallow = "all" }
`
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []wantErr{
		{5, "companion.tls_cert_file", "unused: no tls:// listener"},
		{12, `peer[1].name`, "is this node's own name"},
		{13, `peer "n".accept`, "accepted by source address alone while udp://0.0.0.0:5070 listens"},
		{15, `peer "quiet"`, "neither [peer.publish] nor [peer.accept]"},
		{20, `peer "p".publish`, "sends nothing"},
		{22, `peer "p".publish.expiration`, "30 seconds is short"},
		{23, `peer "p".publish.mailbox_state_filter`, "has no effect"},
		{24, `peer "p".accept`, "applies nothing"},
		{24, `peer "p".accept`, "set username and password (digest), or take this peer over tls:// only"},
		{25, `peer "p".accept.match[1]`, "host bits set; read as 10.0.0.0/8"},
		{27, "sorcery[1]", "endpoint without allow"},
		{27, "sorcery[1]", "without an [ari] section, companion run leaves them alone"},
	}
	checkErrors(t, companion.ConfigErrors(cfg.Warnings), want)
	if cfg.Node.TLSCertFile != cert {
		t.Errorf("tls_cert_file = %q, want it relative to the config file: %q", cfg.Node.TLSCertFile, cert)
	}
	if cfg.Peer("p").Accept.Match[0].String() != "10.0.0.0/8" {
		t.Errorf("match = %v", cfg.Peer("p").Accept.Match)
	}
}

func TestConfigSyntaxErrorRedacted(t *testing.T) {
	const secret = "hunter2XYZ"
	for _, tt := range []struct {
		src  string
		line int
	}{
		{"[ami]\nsecret = " + secret + "\n", 2},
		{"[ami]\nsecret = \"" + secret + "\n", 2},
		{"[ami]\nsecret = \"" + secret + "\" trailing\n", 2},
		{"[ami]\nsecret = '" + secret + "' '" + secret + "'\n", 2},
		{"[ami]\n" + secret + "\n", 2},
		{"[ami]\n" + secret + " = \"x\"\nsecret: " + secret + "\n", 3},
		{"[ami]\nsecret = 0x" + secret + "\n", 2},
		{"[ami]\nsecret = 1234567890123456789012345\n", 2},
		{"[ami]\nsecret = \"a\\q" + secret + "\"\n", 2},
		{"[ami]\nsecret = {x = \"" + secret + "\"\n", 2},
		{"[ami]\nsecret = [\"" + secret + "\" \"x\"]\n", 2},
		{"[ami]\nsecret = 1979-05-27T" + secret + "\n", 2},
		{"[ami]\nsecret = \"a\"\nsecret = \"" + secret + "\"\n", 3},
	} {
		_, err := Parse("c.toml", []byte(tt.src))
		var errs companion.ConfigErrors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Errorf("%q: got %v, want one error", tt.src, err)
			continue
		}
		msg := errs[0].Error()
		if errs[0].Line != tt.line || !strings.HasPrefix(msg, fmt.Sprintf("c.toml:%d: TOML syntax error: ", tt.line)) {
			t.Errorf("%q: got %q, want line %d", tt.src, msg, tt.line)
		}
		for _, leak := range []string{secret, "hunter", "XYZ", "12345", "trailing"} {
			if strings.Contains(msg, leak) {
				t.Errorf("%q: message %q repeats the input", tt.src, msg)
			}
		}
	}
}

func TestConfigSecretSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ami.secret", "from-file\n", 0o600)
	abs := write("crlf.secret", "from-crlf\r\n", 0o600)
	write("two.secret", "two-lines\n\n", 0o600)
	write("empty.secret", "\n", 0o600)
	write("open.secret", "world\n", 0o644)
	t.Setenv("COMPANION_TEST_SECRET", "from-env")
	t.Setenv("COMPANION_TEST_EMPTY", "")
	file := filepath.Join(dir, "c.toml")
	head := "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n[ami]\nusername = \"u\"\n"

	for _, tt := range []struct {
		line, value, source string
	}{
		{`secret = "inline"`, "inline", "inline"},
		{`secret_file = "ami.secret"`, "from-file", "file " + filepath.Join(dir, "ami.secret")},
		{`secret_file = "` + abs + `"`, "from-crlf", "file " + abs},
		{`secret_file = "two.secret"`, "two-lines\n", "file " + filepath.Join(dir, "two.secret")},
		{`secret_env = "COMPANION_TEST_SECRET"`, "from-env", "env COMPANION_TEST_SECRET"},
	} {
		cfg, err := Parse(file, []byte(head+tt.line+"\n"))
		if err != nil {
			t.Errorf("%s: %v", tt.line, err)
			continue
		}
		if got := cfg.AMI.Secret; got.Reveal() != tt.value || got.Source() != tt.source {
			t.Errorf("%s: secret %q from %q, want %q from %q", tt.line, got.Reveal(), got.Source(), tt.value, tt.source)
		}
	}

	for _, tt := range []struct {
		line string
		want wantErr
	}{
		{`secret_env = "COMPANION_TEST_UNSET"`, wantErr{6, "ami.secret_env", "the environment variable named here is not set"}},
		{`secret_env = "COMPANION_TEST_EMPTY"`, wantErr{6, "ami.secret_env", "the environment variable named here is empty"}},
		// the secret itself typed where its variable name or path belongs
		{`secret_env = "hunter2-Secret!"`, wantErr{6, "ami.secret_env", "is not an environment variable name"}},
		{`secret_file = "hunter2-Secret!"`, wantErr{6, "ami.secret_file", "cannot read the file named here: no such file"}},
		{`secret_file = "empty.secret"`, wantErr{6, "ami.secret_file", "is empty"}},
		{"secret = \"x\"\nsecret_file = \"ami.secret\"", wantErr{7, "ami.secret_file", "set only one of secret, secret_env or secret_file (found secret and secret_file)"}},
		{"secret_env = \"X\"\nsecret = \"x\"", wantErr{7, "ami.secret", "set only one of"}},
		{`secret = ""`, wantErr{6, "ami.secret", "is empty"}},
		{`secret_file = "/dev/null"`, wantErr{6, "ami.secret_file", "cannot read the file named here: not a regular file"}},
		{`secret_file = "` + dir + `"`, wantErr{6, "ami.secret_file", "not a regular file"}},
		{`secret = 1234`, wantErr{6, "ami.secret", "must be a string, not an integer"}},
	} {
		_, err := Parse(file, []byte(head+tt.line+"\n"))
		checkErrors(t, err, []wantErr{tt.want})
		if err != nil && (strings.Contains(err.Error(), "from-file") || strings.Contains(err.Error(), "1234") || strings.Contains(err.Error(), "hunter2")) {
			t.Errorf("%s: secret in %q", tt.line, err)
		}
	}

	cfg, err := Parse(file, []byte(head+`secret_file = "open.secret"`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	checkErrors(t, companion.ConfigErrors(cfg.Warnings), []wantErr{{6, "ami.secret_file", "readable by every user"}})
}

func TestSecretNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pub.secret"), []byte("pub-SECRET-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COMPANION_TEST_ARI", "ari-SECRET-2")
	src := `[companion]
name = "n"
sip_listen = ["udp://0.0.0.0:5070"]
[ami]
username = "u"
secret = "ami-SECRET-1"
[ari]
username = "u"
password_env = "COMPANION_TEST_ARI"
[[peer]]
name = "p"
  [peer.publish]
  server_uri = "sip:a@h"
  device_state = true
  username = "me"
  password_file = "pub.secret"
  [peer.accept]
  username = "them"
  password = "acc-SECRET-4"
  device_state = true
[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "a"
fields = { username = "a", password = "sorc-SECRET-5", md5_cred = "sorc-SECRET-6" }
`
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Peers[0]
	if cfg.AMI.Secret.Reveal() != "ami-SECRET-1" || cfg.ARI.Password.Reveal() != "ari-SECRET-2" ||
		p.Publish.Password.Reveal() != "pub-SECRET-3" || p.Accept.Password.Reveal() != "acc-SECRET-4" {
		t.Fatal("secrets not loaded")
	}
	if v, _ := cfg.Sorcery[0].Field("password"); v != "sorc-SECRET-5" {
		t.Fatal("sorcery password not loaded")
	}
	var out strings.Builder
	for _, v := range []any{cfg, *cfg, *cfg.AMI, *cfg.ARI, p, *p.Publish, *p.Accept, cfg.Sorcery, cfg.Sorcery[0].Fields[1], cfg.AMI.Secret} {
		fmt.Fprintf(&out, "%v %+v %#v %s %q %x %X %10s|", v, v, v, v, v, v, v, v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		if tm, ok := v.(interface{ MarshalText() ([]byte, error) }); ok {
			b, _ := tm.MarshalText()
			out.Write(b)
		}
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Errorf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), companion.SecretMask) {
		t.Error("no mask printed")
	}
	if s := fmt.Sprint(companion.Secret{}); s != "" {
		t.Errorf("unset secret prints %q", s)
	}
	if s := fmt.Sprintf("%#v", cfg.AMI.Secret); s != `companion.Secret("******")` {
		t.Errorf("%%#v = %s", s)
	}

	// A secret in a misspelled key or of the wrong type is not echoed either.
	_, err = Parse("c.toml", []byte(minimal+"secert = \"typo-SECRET-7\"\n[ari]\nusername = \"u\"\npassword = 12345678\n"))
	if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "12345678") {
		t.Errorf("error = %v", err)
	}
	// Credentials in the ARI URL are refused without repeating them.
	_, err = Parse("c.toml", []byte(minimal+"[ari]\nurl = \"http://u:url-SECRET-8@h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n"))
	checkErrors(t, err, []wantErr{{minimalLines + 2, "ari.url", "must not contain credentials"}})
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error = %v", err)
	}
	_, err = Parse("c.toml", []byte(minimal+"[[peer]]\nname = \"p\"\npublish = { server_uri = \"sip:a:uri-SECRET-9@h\", device_state = true }\n"))
	checkErrors(t, err, []wantErr{{minimalLines + 3, `peer "p".publish.server_uri`, "passwords in URIs are not supported"}})
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error = %v", err)
	}
}

func TestConfigSorceryFields(t *testing.T) {
	src := minimal + `
[[sorcery]]
class = "res_pjsip"
type = "endpoint"
id = "e-1.x~y"
  [sorcery.fields]
  zeta = "z"
  alpha = 1
  "quoted.key" = false # a comment = not a field
  mid = true
  neg = -5
  hex = 0x1F
  big = 9_000
  multi = """
one = 1
two"""
  after = ""

[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "a"
fields.z = 1
fields.y = "two"
fields.x = true

[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "a"
fields = { c = 1, b = "two", a = false }
`
	cfg, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]companion.SorceryField{
		{{Name: "zeta", Value: "z"}, {Name: "alpha", Value: "1"}, {Name: "quoted.key", Value: "no"}, {Name: "mid", Value: "yes"}, {Name: "neg", Value: "-5"}, {Name: "hex", Value: "31"}, {Name: "big", Value: "9000"}, {Name: "multi", Value: "one = 1\ntwo"}, {Name: "after", Value: ""}},
		{{Name: "z", Value: "1"}, {Name: "y", Value: "two"}, {Name: "x", Value: "yes"}},
		{{Name: "c", Value: "1"}, {Name: "b", Value: "two"}, {Name: "a", Value: "no"}},
	}
	for i, o := range cfg.Sorcery {
		if !reflect.DeepEqual(o.Fields, want[i]) {
			t.Errorf("%s fields = %v\nwant %v", o.Path(), o.Fields, want[i])
		}
	}
	if o := cfg.Sorcery[0]; o.ID != "e-1.x~y" || o.Line != minimalLines+2 {
		t.Errorf("object = %+v", o)
	}
	// The endpoint has no allow: warned, not refused.
	checkErrors(t, companion.ConfigErrors(cfg.Warnings), []wantErr{
		{minimalLines + 2, "sorcery[1]", "endpoint without allow"},
		{minimalLines + 2, "sorcery[1]", "pushed through ARI: without an [ari] section"},
	})

	_, err = Parse("c.toml", []byte(minimal+"[[sorcery]]\nclass = \"c\"\ntype = \"t\"\nid = \"i\"\nfields = { a = 1, b = 2.5, c = [1], d = \"ok\" }\n"))
	checkErrors(t, err, []wantErr{
		{minimalLines + 5, "sorcery[1].fields.b", "not a float"},
		{minimalLines + 5, "sorcery[1].fields.c", "not an array"},
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{"../../companion.example.toml", "../../fixtures/config/five_mistakes.toml",
		"../../fixtures/config/more_mistakes.toml", "../../fixtures/config/three_peers.toml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.toml", data)
		if err == nil && cfg == nil {
			t.Fatal("nil config without error")
		}
		var errs companion.ConfigErrors
		if err != nil && (!errors.As(err, &errs) || len(errs) == 0) {
			t.Fatalf("error %T %v", err, err)
		}
	})
}

func TestConfigSorceryFieldSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bob.pw"), []byte("bob-FILE-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COMPANION_TEST_ALICE_PW", "alice-ENV-pw")
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"

[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "alice"
fields = { username = "alice", password = { env = "COMPANION_TEST_ALICE_PW" } }

[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "bob"
  [sorcery.fields]
  username = "bob"
  md5 = { file = "bob.pw" }
  realm = "asterisk"
`
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := cfg.Sorcery[0], cfg.Sorcery[1]
	if v, _ := alice.Field("password"); v != "alice-ENV-pw" {
		t.Errorf("alice password = %q, want the environment's value", v)
	}
	// read from a file: secret whatever the field's name, and in file order
	if len(bob.Fields) != 3 || bob.Fields[1].Name != "md5" || bob.Fields[1].Value != "bob-FILE-pw" || !bob.Fields[1].Sensitive() {
		t.Errorf("bob fields = %#v", bob.Fields)
	}
	if out := fmt.Sprintf("%v %+v %#v", cfg, cfg.Sorcery, bob.Fields); strings.Contains(out, "FILE-pw") || strings.Contains(out, "ENV-pw") {
		t.Errorf("sorcery secret printed: %s", out)
	}

	_, err = Parse(filepath.Join(dir, "c.toml"), []byte(strings.Replace(src, `{ file = "bob.pw" }`, `{ file = "nope.pw" }`, 1)))
	checkErrors(t, err, []wantErr{{17, "sorcery[2].fields.md5.file", "cannot read the file named here"}})
}

func TestConfigMatchIPv4Mapped(t *testing.T) {
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://127.0.0.1:5070"]
[apply]
device_state = "none"
mailbox_state = "none"
[[peer]]
name = "p"
  [peer.accept]
  match = ["::ffff:10.0.0.0/104", "::ffff:192.0.2.7"]
`
	cfg, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	acc := cfg.Peers[0].Accept
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"192.0.2.7", true},
		{"11.0.0.1", false},
	} {
		if got := acc.Allows(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Allows(%s) = %v, want %v (match %v)", tt.addr, got, tt.want, acc.Match)
		}
	}
}

func TestParseConfigTimeoutsAndClearState(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[companion]
name = "n"
eid = "02:00:00:00:00:01"
[ami]
username = "u"
secret = "s"
action_timeout = "750ms"
[ari]
username = "u"
password = "p"
timeout = "3s"
state_file = "/tmp/x.json"
[apply]
device_clear_state = "not_inuse"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AMI.ActionTimeout != 750*time.Millisecond || cfg.ARI.Timeout != 3*time.Second || cfg.ARI.StateFile != "/tmp/x.json" {
		t.Errorf("ami %+v ari %+v", cfg.AMI, cfg.ARI)
	}
	if cfg.Apply.ClearDeviceState != companion.NotInUse {
		t.Errorf("clear state = %v", cfg.Apply.ClearDeviceState)
	}
	_, err = Parse("t.toml", []byte(`
[companion]
name = "n"
eid = "02:00:00:00:00:01"
[ari]
username = "u"
password = "p"
timeout = "-1s"
[apply]
device_clear_state = "SLEEPY"
`))
	for _, want := range []string{"t.toml:8: ari.timeout: must be greater than zero", "t.toml:10: apply.device_clear_state:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}

func TestPublishServerURITransport(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:r@192.0.2.1;transport=TCP":  "",
		"sips:r@192.0.2.1;transport=tls": "",
		"sip:r@192.0.2.1;transport=sctp": "transport=sctp: the companion sends over udp, tcp or tls",
		"sips:r@192.0.2.1;transport=udp": "sips: needs a secure transport",
	} {
		_, err := Parse("t.toml", []byte(`
[companion]
name = "n"
eid = "02:00:00:00:00:01"
[ami]
username = "u"
secret = "s"
[[peer]]
name = "p"
  [peer.publish]
  server_uri = "`+uri+`"
  device_state = true
`))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", uri, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), "t.toml:11: peer \"p\".publish.server_uri: "+want)):
			t.Errorf("%s: error %v, want %q", uri, err, want)
		}
	}
}

func TestConfigWarnsOfAddressOnlyAcceptOverUDP(t *testing.T) {
	for _, tc := range []struct {
		name, listen, accept string
		warn                 bool
	}{
		{"address over udp", `["udp://0.0.0.0:5070"]`, `match = ["192.0.2.7"]`, true},
		{"a wide network over udp", `["udp://0.0.0.0:5070", "tcp://0.0.0.0:5071"]`, `match = ["0.0.0.0/0", "::/0"]`, true},
		{"loopback cannot be forged from outside", `["udp://127.0.0.1:5070"]`, `match = ["127.0.0.1", "::1"]`, false},
		{"digest", `["udp://0.0.0.0:5070"]`, `match = ["192.0.2.7"]
username = "u"
password = "p"`, false},
		{"tcp only", `["tcp://0.0.0.0:5070"]`, `match = ["192.0.2.7"]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ` + tc.listen + `

[ami]
username = "u"
secret = "s"

[[peer]]
name = "p"
  [peer.accept]
  device_state = true
  ` + tc.accept + "\n"
			cfg, err := Parse("w.toml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, w := range cfg.Warnings {
				if strings.Contains(w.Error(), "can be forged") {
					got = true
					if !strings.HasPrefix(w.Error(), "w.toml:12: peer \"p\".accept: ") {
						t.Errorf("warning not at the accept line: %s", w)
					}
				}
			}
			if got != tc.warn {
				t.Errorf("warned %v, want %v: %v", got, tc.warn, companion.ConfigErrors(cfg.Warnings))
			}
		})
	}
}

func TestConfigAcceptBounds(t *testing.T) {
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["tcp://0.0.0.0:5070"]
sip_max_connections = 100
sip_max_connections_per_source = 4
sip_message_timeout = "5s"
sip_idle_timeout = "1m"

[ami]
username = "u"
secret = "s"

[[peer]]
name = "p"
  [peer.accept]
  match = ["192.0.2.7"]
  device_state = true
  eids = ["02:00:00:00:00:0A"]
  max_publications = 64
  max_keys = 1000
  max_eids = 2
  max_expires = "600s"
`
	cfg, err := Parse("b.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	n, a := cfg.Node, cfg.Peer("p").Accept
	if n.SIPMaxConnections != 100 || n.SIPMaxConnectionsPerSource != 4 || n.SIPMessageTimeout != 5*time.Second || n.SIPIdleTimeout != time.Minute {
		t.Errorf("node bounds = %+v", n)
	}
	if len(a.EIDs) != 1 || a.EIDs[0].String() != "02:00:00:00:00:0a" || a.MaxPublications != 64 || a.MaxKeys != 1000 || a.MaxEIDs != 2 || a.MaxExpires != 600*time.Second {
		t.Errorf("accept bounds = %+v", a)
	}

	bad := strings.NewReplacer(`sip_max_connections_per_source = 4`, `sip_max_connections_per_source = 400`,
		`max_keys = 1000`, `max_keys = 0`, `"02:00:00:00:00:0A"`, `"02:00:00:00:00:0A", "nope", "02:00:00:00:00:0B"`,
		`max_expires = "600s"`, `max_expires = "1.5s"`, `max_eids = 2`, `max_eids = 1`).Replace(src)
	_, err = Parse("b.toml", []byte(bad))
	checkErrors(t, err, []wantErr{
		{6, "companion.sip_max_connections_per_source", "is more than sip_max_connections (100)"},
		{19, `peer "p".accept.eids[2]`, "six hex byte pairs"},
		{21, `peer "p".accept.max_keys`, "from 1 to 2147483647"},
		{22, `peer "p".accept.max_eids`, "is less than the 2 eids pinned"},
		{23, `peer "p".accept.max_expires`, "whole seconds"},
	})
}

func TestConfigQualifyAndResend(t *testing.T) {
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://127.0.0.1:5070"]

[ami]
username = "u"
secret = "s"

[[peer]]
name = "p"
  [peer.publish]
  server_uri = "sip:n@192.0.2.7:5070"
  device_state = true
  resend_interval = "10m"
  [peer.accept]
  match = ["127.0.0.1"]
  device_state = true
  qualify_frequency = "20s"
  qualify_attempts = 5

[[peer]]
name = "q"
  [peer.publish]
  server_uri = "sip:n@192.0.2.8:5070"
  device_state = true
  [peer.accept]
  match = ["127.0.0.1"]
  device_state = true
`
	cfg, err := Parse("q.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, q := cfg.Peer("p"), cfg.Peer("q")
	if f, n, to := p.Qualify(); f != 20*time.Second || n != 5 || to != 5*time.Second || p.QualifyBound() != 105*time.Second {
		t.Errorf("p qualify = %v, %d, %v, bound %v", f, n, to, p.QualifyBound())
	}
	if p.Publish.Resend() != 10*time.Minute {
		t.Errorf("p resend = %v", p.Publish.Resend())
	}
	// Defaults: 30 s, 3 attempts, 5 s a probe: cleared within 95 s.
	if f, n, to := q.Qualify(); f != 30*time.Second || n != 3 || to != 5*time.Second || q.QualifyBound() != 95*time.Second {
		t.Errorf("default qualify = %v, %d, %v, bound %v", f, n, to, q.QualifyBound())
	}
	if q.Publish.Resend() != 5*time.Minute {
		t.Errorf("default resend = %v", q.Publish.Resend())
	}

	off := strings.NewReplacer(`resend_interval = "10m"`, `resend_interval = "off"`, `qualify_frequency = "20s"`, `qualify_frequency = "0s"`).Replace(src)
	cfg, err = Parse("q.toml", []byte(off))
	if err != nil {
		t.Fatal(err)
	}
	if f, _, _ := cfg.Peer("p").Qualify(); f != 0 || cfg.Peer("p").QualifyBound() != 0 || cfg.Peer("p").Publish.Resend() != 0 {
		t.Errorf("off: qualify %v, resend %v", f, cfg.Peer("p").Publish.Resend())
	}

	// No [peer.publish]: nowhere to probe, qualify is off; said only when
	// asked for.
	noPub := strings.Replace(src, "  [peer.publish]\n  server_uri = \"sip:n@192.0.2.7:5070\"\n  device_state = true\n  resend_interval = \"10m\"\n", "", 1)
	cfg, err = Parse("q.toml", []byte(noPub))
	if err != nil {
		t.Fatal(err)
	}
	if f, _, _ := cfg.Peer("p").Qualify(); f != 0 {
		t.Errorf("qualify without [peer.publish] = %v", f)
	}
	checkErrors(t, companion.ConfigErrors(cfg.Warnings), []wantErr{{15, `peer "p".accept.qualify_frequency`, "has no effect"}})

	bad := strings.NewReplacer(`resend_interval = "10m"`, `resend_interval = "5 minutes"`, `qualify_frequency = "20s"`, `qualify_frequency = "500ms"`,
		`qualify_attempts = 5`, `qualify_attempts = 0`).Replace(src) + "  qualify_frequency = 30\n"
	_, err = Parse("q.toml", []byte(bad))
	checkErrors(t, err, []wantErr{
		{15, `peer "p".publish.resend_interval`, `want a duration such as "30s" or "5m", or "off"`},
		{19, `peer "p".accept.qualify_frequency`, `must be at least "1s" (or "off")`},
		{20, `peer "p".accept.qualify_attempts`, "from 1 to 2147483647"},
		{30, `peer "q".accept.qualify_frequency`, `must be a duration string such as "30s", or "off", not an integer`},
	})
}

func TestConfigStateDir(t *testing.T) {
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
state_dir = "state"

[ami]
username = "u"
secret = "s"

[ari]
username = "u"
password = "p"
`
	cfg, err := Parse("/etc/companion/c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Node.StateDir != "/etc/companion/state" || cfg.Apply.LedgerFile != "/etc/companion/state/applied.json" || cfg.ARI.StateFile != "/etc/companion/state/provisioned.json" {
		t.Errorf("state_dir %q, ledger %q, provisioning state %q", cfg.Node.StateDir, cfg.Apply.LedgerFile, cfg.ARI.StateFile)
	}
	cfg, err = Parse("/etc/companion/c.toml", []byte(strings.Replace(src, `password = "p"`, "password = \"p\"\nstate_file = \"/srv/p.json\"", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ARI.StateFile != "/srv/p.json" {
		t.Errorf("an explicit state_file = %q", cfg.ARI.StateFile)
	}
}

func TestConfigNoise(t *testing.T) {
	src := `[companion]
name = "node-a"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://127.0.0.1:5070"]

[ami]
username = "u"
secret = "s"

[[peer]]
name = "stock"
  [peer.publish]
  server_uri = "sip:ast1@127.0.0.2:5060"
  device_state = true
  [peer.accept]
  match = ["127.0.0.2"]
  device_state = true

[[peer]]
name = "explicit"
  [peer.accept]
  match = ["127.0.0.3"]
  device_state = true
  ignore_mwi_devices = false
  ignore_invalid = false
  ignore_devices = ["PJSIP/me-on-explicit"]

[[peer]]
name = "none"
  [peer.accept]
  match = ["127.0.0.4"]
  device_state = true
  ignore_devices = []
`
	cfg, err := Parse("n.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	stock, explicit, none := cfg.Peer("stock").Accept, cfg.Peer("explicit").Accept, cfg.Peer("none").Accept
	// The peer's endpoint for us: the user of our from_uri towards it,
	// and our node name.
	if !stock.IgnoreMWIDevices || !stock.IgnoreInvalid || !reflect.DeepEqual(stock.IgnoreDevices, []string{"PJSIP/ast1", "PJSIP/node-a"}) {
		t.Errorf("stock defaults = %v %v %q", stock.IgnoreMWIDevices, stock.IgnoreInvalid, stock.IgnoreDevices)
	}
	if explicit.IgnoreMWIDevices || explicit.IgnoreInvalid || !reflect.DeepEqual(explicit.IgnoreDevices, []string{"PJSIP/me-on-explicit"}) {
		t.Errorf("explicit = %v %v %q", explicit.IgnoreMWIDevices, explicit.IgnoreInvalid, explicit.IgnoreDevices)
	}
	if len(none.IgnoreDevices) != 0 || !none.IgnoreMWIDevices {
		t.Errorf("ignore_devices = [] gave %q", none.IgnoreDevices)
	}

	bad := strings.NewReplacer(`ignore_invalid = false`, `ignore_invalid = "no"`,
		`["PJSIP/me-on-explicit"]`, `["PJSIP/me-on-explicit", "^PJSIP/.*", ""]`).Replace(src)
	_, err = Parse("n.toml", []byte(bad))
	checkErrors(t, err, []wantErr{
		{25, `peer "explicit".accept.ignore_invalid`, "must be a boolean"},
		{26, `peer "explicit".accept.ignore_devices[2]`, "exact device names only"},
		{26, `peer "explicit".accept.ignore_devices[3]`, "is not a device name"},
	})
}
