package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errw bytes.Buffer
	code = run(args, &out, &errw)
	return code, out.String(), errw.String()
}

func TestCheckConfigExample(t *testing.T) {
	code, out, errOut := runCLI("check-config", "--config", "../../companion.example.toml")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"../../companion.example.toml: OK",
		"node      instance1, eid auto",
		"listen    udp://172.16.10.1:5070",
		"ami       127.0.0.1:5038 as companion (secret inline), reconnect every 2s",
		"apply     device state: ami as Custom:{device}; mailbox state: ami",
		`peer "instance2"`,
		"publish device+mwi to sip:instance1@172.16.10.2:5070, from sip:instance1@172.16.10.2",
		"expiration 3600s",
		`accept  device+mwi on resource "instance2" from 172.16.10.2/32, auth no, filters none, refresh yes`,
		"sorcery   3 objects: res_pjsip/auth/alice, res_pjsip/aor/alice, res_pjsip/endpoint/alice",
		"bounds  128 publications per event, 250000 states, 4 eids, expires at most 3600s",
		"qualify OPTIONS every 30s; after 3 unanswered in a row its states are cleared (within 1m35s)",
		"filters none, full resend every 300s",
		"bounds  tcp/tls: 256 connections, 8 per source address, 10s to read a message, 2m0s idle",
		// The example identifies its peer by address, as the seed does.
		"warnings  1\nwarning: ../../companion.example.toml:88: peer \"instance2\".accept: accepted by source address alone while udp://172.16.10.1:5070 listens",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "change-me") {
		t.Errorf("secret printed:\n%s", out)
	}
}

func TestCheckConfigFiveMistakes(t *testing.T) {
	const f = "../../fixtures/config/five_mistakes.toml"
	code, out, errOut := runCLI("check-config", "--config", f)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := f + `:11: ami.Reconnect_interval: unknown key (did you mean "reconnect_interval"?)
` + f + `:15: apply.device_name: must start with "Custom:" when device_state = "ami" (AMI can set only Custom: devices)
` + f + `:20: peer "instance2".publish.server_uri: bad URI: port must be a number from 1 to 65535
` + f + `:22: peer "instance2".publish.expiration: must be an integer, not a string
` + f + `:25: peer "instance2".accept.match[1]: "172.16.10.300/32" is not an IP address or CIDR
warning: ` + f + `:24: peer "instance2".accept: accepted by source address alone while udp://0.0.0.0:5070 listens: a UDP source address can be forged by anyone who can reach it; set username and password (digest), or take this peer over tls:// only
` + f + `: 5 errors
`
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	if strings.Contains(errOut, "ami-secret-5m") {
		t.Error("secret printed")
	}
}

func TestCheckConfigSecretsNotPrinted(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("file-Zq9x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLI_TEST_SECRET", "env-Zq9x")
	cfg := filepath.Join(dir, "c.toml")
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://0.0.0.0:5070"]
[ami]
username = "u"
secret_env = "CLI_TEST_SECRET"
[[peer]]
name = "p"
publish = { server_uri = "sip:a@h", device_state = true, username = "me", password_file = "pw" }
accept = { username = "them", password = "inline-Zq9x", mailbox_state = true }
[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "a"
fields = { password = "sorcery-Zq9x" }
`
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("check-config", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, "Zq9x") {
		t.Errorf("secret printed:\n%s%s", out, errOut)
	}
	for _, want := range []string{"(secret env CLI_TEST_SECRET)", "auth yes (user me, password file " + filepath.Join(dir, "pw") + ")",
		"accept  mwi on resource \"p\" from any address, auth yes (user them, password inline)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// A syntax error on the line of a secret.
	if err := os.WriteFile(cfg, []byte("[ami]\nsecret = syntax-Zq9x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("check-config", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, cfg+":2: TOML syntax error") || strings.Contains(out+errOut, "Zq9x") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "usage: companion"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"check-config"}, 2, "", "usage: companion check-config --config FILE"},
		{[]string{"check-config", "--config"}, 2, "", "flag needs an argument"},
		{[]string{"check-config", "--bogus"}, 2, "", "flag provided but not defined"},
		{[]string{"check-config", "--config", "x.toml", "extra"}, 2, "", "usage: companion check-config"},
		{[]string{"check-config", "--config", "/nonexistent/c.toml"}, 1, "", "no such file"},
		{[]string{"run"}, 2, "", "usage: companion run --config FILE"},
		{[]string{"run", "--config", "/nonexistent/c.toml"}, 1, "", "no such file"},
		{[]string{"run", "--config", "x.toml", "--log-level", "loud"}, 2, "", "--log-level"},
		{[]string{"provision"}, 2, "", "usage: companion provision"},
		{[]string{"version"}, 0, "companion ", ""},
		{[]string{"help"}, 0, "check-config --config FILE", ""},
	} {
		code, out, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) ||
			(tt.stdout == "" && out != "") || (tt.stderr == "" && errOut != "") {
			t.Errorf("%q: exit %d\nstdout %q\nstderr %q", tt.args, code, out, errOut)
		}
	}
}

func TestCheckConfigSummaryShowsFiltersAndAuth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.toml")
	src := `[companion]
name = "instance2"
eid = "02:00:00:00:00:02"
sip_listen = ["udp://127.0.0.1:5070"]
[ami]
username = "companion"
secret = "ami-pw-77"
[[peer]]
name = "instance1"
  [peer.publish]
  server_uri = "sip:instance2@127.0.0.1:5071"
  device_state = true
  device_state_filter = "^Custom:"
  username = "instance2"
  password = "pub-pw-77"
  [peer.accept]
  match = ["127.0.0.1"]
  username = "instance1"
  password = "acc-pw-77"
  device_state = true
  device_state_filter = "^PJSIP/"
  mailbox_state = true
  mailbox_state_filter = "^1000"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("check-config", "--config", path)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`publish device to sip:instance2@127.0.0.1:5071`,
		`filters device "^Custom:"`,
		`accept  device+mwi on resource "instance1" from 127.0.0.1/32, auth yes (user instance1, password inline), filters device "^PJSIP/", mwi "^1000", refresh no`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "-pw-77") {
		t.Errorf("secret printed:\n%s%s", out, errOut)
	}
}

func TestCheckConfigShowsStateAndDrops(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "c.toml")
	src := `[companion]
name = "instance1"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://127.0.0.1:5070"]
state_dir = "state"
[ami]
username = "u"
secret = "s"
[ari]
username = "u"
password = "p"
[[peer]]
name = "instance2"
publish = { server_uri = "sip:instance1@127.0.0.2:5060", device_state = true }
accept = { match = ["127.0.0.2"], device_state = true }
`
	if err := os.WriteFile(cfg, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("check-config", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"state     " + state + "\n",
		"  ledger  " + filepath.Join(state, "applied.json") + " (what was written for peers)",
		"  ari     " + filepath.Join(state, "provisioned.json") + " (what provisioning created",
		"  warning: state_dir " + state + " does not exist: create it",
		"  drops   MWI:* devices; INVALID states; devices PJSIP/instance1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// A folder it can write: no warning. (A folder it cannot write is
	// warned about the same way; root writes everywhere, so that is not
	// tested here.)
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	_, out, _ = runCLI("check-config", "--config", cfg)
	if strings.Contains(out, "warning: state_dir") {
		t.Errorf("warned about a writable state_dir:\n%s", out)
	}
	// A file where the folder should be.
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, out, _ = runCLI("check-config", "--config", cfg)
	if !strings.Contains(out, "warning: state_dir "+state+" is not a folder") {
		t.Errorf("no warning about a state_dir that is a file:\n%s", out)
	}
}
