package migrate

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
)

const fixtures = "../../fixtures/migrate/"

// migrateFile loads and converts path, and checks the result as
// check-config does: no error, and no warning beyond those listed.
func migrateFile(t *testing.T, path string, opt Options) (*companion.Config, *Result) {
	t.Helper()
	conf, err := Load(path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(conf, opt)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("companion.toml", res.TOML)
	if err != nil {
		t.Fatalf("output does not pass check-config: %v\n%s", err, res.TOML)
	}
	return cfg, res
}

func TestSeedsAndRecordings(t *testing.T) {
	for _, tc := range []struct {
		file, node, peer, server, resource string
		match                              []string
		filters                            [2]string // accept device, mailbox
	}{
		{"seed_instance1_pjsip.conf", "instance1", "instance2", "sip:instance1@172.16.10.2", "instance2", []string{"172.16.10.2/32"}, [2]string{}},
		{"seed_instance2_pjsip.conf", "instance2", "instance1", "sip:instance2@172.16.10.1", "instance1", []string{"172.16.10.1/32"}, [2]string{}},
		{"seed_filtering_pjsip.conf", "instance2", "instance1", "sip:instance2@172.16.10.1", "instance1", []string{"172.16.10.1/32"}, [2]string{"^PJSIP/", "^1000"}},
		{"recorded_inst1_pjsip.conf", "ast1", "ast2", "sip:ast1@127.0.0.1:5062", "ast2", []string{"127.0.0.1/32"}, [2]string{}},
		{"recorded_inst2_pjsip.conf", "ast2", "ast1", "sip:ast2@127.0.0.1:5061", "ast1", []string{"127.0.0.1/32"}, [2]string{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, res := migrateFile(t, fixtures+tc.file, Options{})
			if cfg.Node.Name != tc.node || len(cfg.Peers) != 1 {
				t.Fatalf("node %q, %d peers\n%s", cfg.Node.Name, len(cfg.Peers), res.TOML)
			}
			p := cfg.Peers[0]
			if p.Name != tc.peer || p.Publish == nil || p.Accept == nil {
				t.Fatalf("peer %+v", p)
			}
			if got := p.Publish.ServerURI.String(); got != tc.server {
				t.Errorf("server_uri %q, want %q", got, tc.server)
			}
			if !p.Publish.DeviceState || !p.Publish.MailboxState || !p.Accept.DeviceState || !p.Accept.MailboxState || !p.Accept.Refresh {
				t.Errorf("switches: publish %v/%v accept %v/%v refresh %v", p.Publish.DeviceState, p.Publish.MailboxState,
					p.Accept.DeviceState, p.Accept.MailboxState, p.Accept.Refresh)
			}
			if p.Accept.Resource != tc.resource || !slices.Equal(prefixes(p.Accept.Match), tc.match) {
				t.Errorf("accept resource %q match %v", p.Accept.Resource, p.Accept.Match)
			}
			if p.Accept.DeviceStateFilter.String() != tc.filters[0] || p.Accept.MailboxStateFilter.String() != tc.filters[1] {
				t.Errorf("filters %q %q", p.Accept.DeviceStateFilter, p.Accept.MailboxStateFilter)
			}
			if strings.HasPrefix(tc.file, "recorded") {
				// The recording's own from_uri and to_uri, and its 60 s.
				if !strings.Contains(string(res.TOML), `from_uri = "sip:`+tc.node+`@127.0.0.1:506`) || p.Publish.ToURI.String() != tc.server {
					t.Errorf("from/to: %s / %s", p.Publish.FromURI, p.Publish.ToURI)
				}
				// Its static endpoint, auth and aor are not part of the exchange.
				for _, s := range []string{"[static100] type=endpoint", "[static100] type=aor", "[transport-udp] type=transport", "context = default"} {
					if !hasNotCarried(res.TOML, s) {
						t.Errorf("no not-carried-over comment for %s", s)
					}
				}
				if strings.Contains(string(res.TOML), "static100\"") {
					t.Errorf("the static endpoint's password leaked into the TOML")
				}
			}
		})
	}
	if cfg, _ := migrateFile(t, fixtures+"recorded_inst1_pjsip.conf", Options{}); cfg.Peers[0].Publish.Expiration != 60*time.Second {
		t.Errorf("recorded expiration %v, want 60s", cfg.Peers[0].Publish.Expiration)
	}
}

func prefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func hasNotCarried(toml []byte, what string) bool {
	for _, l := range strings.Split(string(toml), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") && strings.Contains(l, "not carried over") && strings.Contains(l, what) {
			return true
		}
	}
	return false
}

// TestEverySetting maps each pjsip.conf setting of the everything fixture
// (templates, an addition, += and an #include among them) to the TOML key
// it became, and checks each against the loaded output.
func TestEverySetting(t *testing.T) {
	cfg, res := migrateFile(t, fixtures+"everything/pjsip.conf", Options{})
	ast2, ast3 := cfg.Peer("ast2"), cfg.Peer("ast3")
	if ast2 == nil || ast3 == nil || ast2.Publish == nil || ast2.Accept == nil || ast3.Publish == nil || ast3.Accept != nil {
		t.Fatalf("peers: %+v\n%s", cfg.Peers, res.TOML)
	}
	pub, acc := ast2.Publish, ast2.Accept
	for _, row := range []struct {
		setting, key string
		got, want    any
	}{
		{"transport bind (address, companion port)", "companion.sip_listen", cfg.Node.SIPListen[0].String(), "udp://192.0.2.1:5070"},
		{"outbound-publish server_uri user", "companion.name", cfg.Node.Name, "ast1"},
		{"inbound-publication endpoint", "peer.name", ast2.Name, "ast2"},
		{"outbound-publish server_uri (template, \\;)", "peer.publish.server_uri", pub.ServerURI.String(), "sip:ast1@192.0.2.2:5060;transport=tcp"},
		{"outbound-publish from_uri", "peer.publish.from_uri", pub.FromURI.String(), "sip:ast1@192.0.2.1"},
		{"outbound-publish to_uri", "peer.publish.to_uri", pub.ToURI.String(), "sip:ast1@192.0.2.2"},
		{"outbound-publish expiration", "peer.publish.expiration", pub.Expiration, 120 * time.Second},
		{"outbound-publish event=asterisk-devicestate", "peer.publish.device_state", pub.DeviceState, true},
		{"outbound-publish event=asterisk-mwi", "peer.publish.mailbox_state", pub.MailboxState, true},
		{"outbound-publish @device_state_filter (+=)", "peer.publish.device_state_filter", pub.DeviceStateFilter.String(), "^(PJSIP|Custom):"},
		{"outbound-publish @mailbox_state_filter", "peer.publish.mailbox_state_filter", pub.MailboxStateFilter.String(), "^1"},
		{"outbound_auth -> auth username", "peer.publish.username", pub.Username, "ast1"},
		{"outbound_auth -> auth password", "peer.publish.password", pub.Password.Reveal(), `out"secret\`},
		{"inbound-publication name", "peer.accept.resource", acc.Resource, "ast2"},
		{"identify match (list, netmask, [v6]:port)", "peer.accept.match", strings.Join(prefixes(acc.Match), " "), "192.0.2.2/32 198.51.100.0/24 2001:db8::2/128"},
		{"endpoint auth -> auth username", "peer.accept.username", acc.Username, "ast2"},
		{"endpoint auth -> auth password (\\;)", "peer.accept.password", acc.Password.Reveal(), "in;secret"},
		{"asterisk-publication device_state", "peer.accept.device_state", acc.DeviceState, true},
		{"asterisk-publication device_state_filter", "peer.accept.device_state_filter", acc.DeviceStateFilter.String(), "^PJSIP/"},
		{"asterisk-publication mailbox_state ((+) addition overrides)", "peer.accept.mailbox_state", acc.MailboxState, true},
		{"asterisk-publication mailbox_state_filter", "peer.accept.mailbox_state_filter", acc.MailboxStateFilter.String(), "^1000@"},
		{"devicestate_publish / mailboxstate_publish", "peer.accept.refresh", acc.Refresh, true},
		{"outbound-publish of no inbound-publication", "peer.publish (publish-only peer)", ast3.Publish.ServerURI.String(), "sip:ast1@203.0.113.3"},
	} {
		if row.got != row.want {
			t.Errorf("%s -> %s = %v, want %v", row.setting, row.key, row.got, row.want)
		}
	}
	if res.LiteralSecrets != 2 {
		t.Errorf("literal secrets %d, want 2", res.LiteralSecrets)
	}
}

// TestNotCarriedOver: every setting the companion has no key for gets a
// comment naming it and where it was, never silence.
func TestNotCarriedOver(t *testing.T) {
	_, res := migrateFile(t, fixtures+"everything/pjsip.conf", Options{})
	for _, want := range []string{
		"type=outbound-publish transport = transport-udp (",
		"outbound_proxy = sip:proxy.example.com;lr (",
		"max_auth_attempts = 3 (",
		"multi_user = no (",
		"@color = blue (",
		"type=endpoint transport = transport-udp (",
		"type=endpoint context = default (",
		"srv_lookups = no (",
		`match "peer.example.com"`,
		"source port 5060 of match [2001:db8::2]:5060",
		"realm = asterisk (",
		"event_dialog = ast2-dev (",
		"[ast2-dev] type=asterisk-publication mailbox_state = yes (",
		"[presence] type=outbound-publish (",
		"[static100] type=aor (",
		"pjsip.conf:77: line without '=' ignored",
	} {
		if !hasNotCarried(res.TOML, want) {
			t.Errorf("no not-carried-over comment with %q", want)
		}
	}
	// Where it was: the included file's own name and line.
	if !hasNotCarried(res.TOML, "outbound_proxy = sip:proxy.example.com;lr (../../fixtures/migrate/everything/publish.conf:10)") {
		t.Errorf("the included file's line is not named")
	}
	// The block comment hid a section; Asterisk reads none of it.
	if strings.Contains(string(res.TOML), "hidden") {
		t.Errorf("a section inside ;-- --; was read")
	}
	if res.NotCarried < 20 {
		t.Errorf("NotCarried = %d", res.NotCarried)
	}
}

func TestSecretsEnv(t *testing.T) {
	conf, err := Load(fixtures+"everything/pjsip.conf", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(conf, Options{Secrets: SecretsEnv})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.TOML)
	for _, secret := range []string{"in;secret", `out\"secret`, "change-me"} {
		if strings.Contains(out, secret) {
			t.Errorf("--secrets env wrote %q", secret)
		}
	}
	for _, env := range []string{"COMPANION_AST2_ACCEPT_PASSWORD", "COMPANION_AST2_PUBLISH_PASSWORD", "COMPANION_AMI_SECRET", "COMPANION_ARI_PASSWORD"} {
		t.Setenv(env, "x-"+env)
	}
	cfg, err := config.Parse("companion.toml", res.TOML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := cfg.Peer("ast2").Accept.Password.Reveal(); got != "x-COMPANION_AST2_ACCEPT_PASSWORD" {
		t.Errorf("accept password from %q", got)
	}
	if len(res.EnvVars) != 4 || res.LiteralSecrets != 0 {
		t.Errorf("env vars %v, literal %d", res.EnvVars, res.LiteralSecrets)
	}
}

// TestPeerShapes covers what the seeds do not: no address to infer, a
// filter the companion cannot match like glibc, bad credentials.
func TestPeerShapes(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		check      func(t *testing.T, cfg *companion.Config, out string)
	}{
		{"host name server_uri: open door, said loudly", `
[b]
type=endpoint
[b-dev]
type=outbound-publish
server_uri=sip:a@b.example.com
event=asterisk-devicestate
[b]
type=inbound-publication
event_asterisk-devicestate=b
[b]
type=asterisk-publication
device_state=yes
`, func(t *testing.T, cfg *companion.Config, out string) {
			if got := prefixes(cfg.Peer("b").Accept.Match); !slices.Equal(got, []string{"0.0.0.0/0", "::/0"}) || !strings.Contains(out, "OPEN TO EVERY ADDRESS") {
				t.Errorf("match %v", got)
			}
			if cfg.Peer("b").Accept.Refresh {
				t.Errorf("refresh without devicestate_publish")
			}
		}},
		{"back-reference filter: switched off, not widened", `
[b]
type=inbound-publication
event_asterisk-devicestate=b
[b]
type=asterisk-publication
device_state=yes
device_state_filter=(a)\1
[b-dev]
type=outbound-publish
server_uri=sip:a@192.0.2.9
event=asterisk-devicestate
@device_state_filter=\bword
`, func(t *testing.T, cfg *companion.Config, out string) {
			p := cfg.Peer("b")
			if p.Accept.DeviceState || p.Publish.DeviceState {
				t.Errorf("device_state left on with a filter the companion cannot match")
			}
			if !hasNotCarried([]byte(out), `device_state_filter = (a)\1`) || !hasNotCarried([]byte(out), `@device_state_filter = \bword`) {
				t.Errorf("filters not reported:\n%s", out)
			}
		}},
		{"md5 auth and missing auth", `
[b]
type=endpoint
auth=b-md5
[b-md5]
type=auth
auth_type=md5
username=b
md5_cred=0123456789abcdef0123456789abcdef
[b-dev]
type=outbound-publish
server_uri=sip:a@192.0.2.9
event=asterisk-devicestate
outbound_auth=nope
[b]
type=inbound-publication
endpoint=b
event_asterisk-devicestate=b
[b]
type=asterisk-publication
device_state=maybe
`, func(t *testing.T, cfg *companion.Config, out string) {
			p := cfg.Peer("b")
			if p.Accept.Username != "" || p.Publish.Username != "" || p.Accept.DeviceState {
				t.Errorf("accept %+v publish %+v", p.Accept, p.Publish)
			}
			for _, want := range []string{"auth_type = md5", "outbound_auth = nope", "md5_cred = ******"} {
				if !hasNotCarried([]byte(out), want) {
					t.Errorf("no comment for %q", want)
				}
			}
			if strings.Contains(out, "0123456789abcdef") {
				t.Errorf("md5_cred written out")
			}
			if !strings.Contains(out, "device_state = maybe") {
				t.Errorf("unreadable boolean not explained")
			}
		}},
		{"nothing to migrate", "[global]\ntype=global\n", func(t *testing.T, cfg *companion.Config, out string) {
			if len(cfg.Peers) != 0 || !strings.Contains(out, "No peers") || !hasNotCarried([]byte(out), "[global] type=global") {
				t.Errorf("%s", out)
			}
		}},
		{"mismatched publishers: two peers", `
[x-dev]
type=outbound-publish
server_uri=sip:a@192.0.2.1
event=asterisk-devicestate
[x-mwi]
type=outbound-publish
server_uri=sip:a@192.0.2.2
event=asterisk-mwi
`, func(t *testing.T, cfg *companion.Config, out string) {
			if len(cfg.Peers) != 2 || !cfg.Peers[0].Publish.DeviceState || !cfg.Peers[1].Publish.MailboxState {
				t.Errorf("%s", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := Parse("pjsip.conf", []byte(tc.conf))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(conf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse("companion.toml", res.TOML)
			if err != nil {
				t.Fatalf("%v\n%s", err, res.TOML)
			}
			tc.check(t, cfg, string(res.TOML))
		})
	}
}

// TestQuoteRoundTrip: any string written by quote reads back the same
// through companion/config (invalid UTF-8 as U+FFFD).
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{`a"b`, `back\slash`, "tab\there", "nl\nx", "cr\rx", "\x00\x01\x1f\x7f", "ünïcödé ☎", `\u0041`, "'''", `"""`, "#not a comment", "\xff\xfe"} {
		checkQuote(t, s)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", `"`, `\`, "\x7f", "\xc3"} {
		f.Add(s)
	}
	f.Fuzz(checkQuote)
}

func checkQuote(t *testing.T, s string) {
	if strings.TrimSpace(s) == "" {
		return // the loader refuses an empty user name
	}
	doc := "[companion]\nname = \"n\"\neid = \"02:00:00:00:00:01\"\n[ami]\nusername = " + quote(s) + "  # " + commentText(s) + "\nsecret = \"x\"\n"
	cfg, err := config.Parse("q.toml", []byte(doc))
	if err != nil {
		t.Fatalf("%q: %v\n%s", s, err, doc)
	}
	if want := strings.ToValidUTF8(s, "\uFFFD"); cfg.AMI.Username != want {
		t.Fatalf("%q read back as %q", s, cfg.AMI.Username)
	}
}

func TestHostileInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const pad = "; padding line of a huge file\n"
	huge := strings.Repeat(pad, MaxFileSize/len(pad)+10)
	write("loop-b.conf", "\n#include loop-a.conf\n")
	var chain []string
	for i := 0; i <= MaxIncludeDepth+1; i++ {
		chain = append(chain, write("d"+string(rune('a'+i))+".conf", "#include d"+string(rune('a'+i+1))+".conf\n"))
	}
	tmpl := "[t](!)\n" + strings.Repeat("k=v\n", 1000)
	for range MaxVariables/1000 + 1 {
		tmpl += "[x](t)\n"
	}
	lookup := strings.Repeat("[a]\n", 20000) + "[a]\nk=v\n" + strings.Repeat("[a](+k=v)\n", 20000)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"lookup bomb", write("lookup.conf", lookup), "too many sections of the same name"},
		{"section bomb", write("sections.conf", strings.Repeat("[s]\n", MaxSections+1)), fmt.Sprintf("sections.conf:%d: more than", MaxSections+1)},
		{"include loop", write("loop-a.conf", "[a]\ntype=aor\n#include loop-b.conf\n"), "loop-b.conf:2: #include loop"},
		{"self include", write("self.conf", "#include self.conf\n"), "self.conf:1: #include loop"},
		{"include depth", chain[0], "#include nested more than 8 deep"},
		{"huge file", write("huge.conf", huge), fmt.Sprintf("huge.conf:%d: larger than 4 MiB", 1+MaxFileSize/len(pad))},
		{"NUL byte", write("nul.conf", "[a]\ntype=aor\nmax_contacts=1\x00\n"), "nul.conf:3: NUL byte"},
		{"long line", write("long.conf", "[a]\nx="+strings.Repeat("y", MaxLineLength)+"\n"), "long.conf:2: line longer than"},
		{"not UTF-8", write("latin1.conf", "[a]\ntype=aor\ncallerid=M\xfcller\n"), "latin1.conf:3: not valid UTF-8"},
		{"device", write("dev.conf", "#include /dev/zero\n"), "dev.conf:1: #include /dev/zero: not a regular file"},
		{"missing include", write("miss.conf", "\n#include nowhere.conf\n"), "miss.conf:2: #include"},
		{"template bomb", write("bomb.conf", tmpl), "bomb.conf:"},
		{"option before section", write("nosec.conf", "; x\ntype=aor\n"), "nosec.conf:2: option before any [section]"},
		{"unclosed header", write("hdr.conf", "[a\n"), "hdr.conf:1: no closing ']'"},
		{"addition to nothing", write("plus.conf", "[a](+)\n"), "plus.conf:1: [a](+) adds to a section that does not exist"},
		{"unknown template", write("inh.conf", "[a](nope)\n"), "inh.conf:1: inherits from [nope]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.path, LoadOptions{})
			var e *Error
			if !errors.As(err, &e) || e.Line == 0 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one at file:line containing %q", err, tc.want)
			}
		})
	}
}
