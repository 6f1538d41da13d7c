package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

func TestFleetDefaultsAndSwitches(t *testing.T) {
	cfg, err := Parse("c.toml", []byte(minimal+`
[fleet]
nats_urls = ["nats://10.0.0.1:4222", "tls://nats2.example.net:4222"]
  [fleet.publish]
  device_state = true
  device_state_filter = "^PJSIP/"
  [fleet.accept]
  device_state = true
  mailbox_state = true
`))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Fleet
	if f == nil {
		t.Fatal("no fleet")
	}
	if f.Bucket != "asterisk-state" || f.Replicas != 1 || f.PresenceTTL != 15*time.Second || len(f.NATSURLs) != 2 {
		t.Errorf("fleet = %+v", f)
	}
	if f.Auth() != "none" {
		t.Errorf("auth = %q", f.Auth())
	}
	if !f.Publish.Passes(companion.DeviceKey("PJSIP/alice")) || f.Publish.Passes(companion.DeviceKey("Custom:x")) ||
		f.Publish.Passes(companion.MailboxKey(companion.MailboxID{Box: "1", Context: "default"})) {
		t.Errorf("publish switches = %+v", f.Publish)
	}
	if !f.Accept.Passes(companion.MailboxKey(companion.MailboxID{Box: "1", Context: "default"})) {
		t.Errorf("accept switches = %+v", f.Accept)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", companion.ConfigErrors(cfg.Warnings))
	}
}

func TestFleetAbsent(t *testing.T) {
	cfg, err := Parse("c.toml", []byte(minimal))
	if err != nil || cfg.Fleet != nil {
		t.Fatalf("cfg.Fleet = %+v, err %v", cfg.Fleet, err)
	}
}

func TestFleetMistakes(t *testing.T) {
	base := minimalLines
	tests := []struct {
		name string
		add  string
		want []wantErr
	}{
		{"no urls", "[fleet]\nbucket = \"b\"\n", []wantErr{{base + 1, "fleet.nats_urls", "missing (required)"}}},
		{"empty urls", "[fleet]\nnats_urls = []\n", []wantErr{{base + 2, "fleet.nats_urls", "is empty"}}},
		{"bad scheme", "[fleet]\nnats_urls = [\n \"nats://a:4222\",\n \"http://b:80\",\n]\n", []wantErr{{base + 4, "fleet.nats_urls[2]", "scheme must be"}}},
		{"credentials in url", "[fleet]\nnats_urls = [\"nats://u:hunter2@a:4222\"]\n", []wantErr{{base + 2, "fleet.nats_urls[1]", "holds credentials"}}},
		{"bad bucket", "[fleet]\nnats_urls = [\"nats://a:4222\"]\nbucket = \"a.b\"\n", []wantErr{{base + 3, "fleet.bucket", "letters, digits"}}},
		{"replicas", "[fleet]\nnats_urls = [\"nats://a:4222\"]\nreplicas = 7\n", []wantErr{{base + 3, "fleet.replicas", "1 to 5"}}},
		{"ttl fraction", "[fleet]\nnats_urls = [\"nats://a:4222\"]\npresence_ttl = \"1500ms\"\n", []wantErr{{base + 3, "fleet.presence_ttl", "whole seconds"}}},
		{"ttl short", "[fleet]\nnats_urls = [\"nats://a:4222\"]\npresence_ttl = \"500ms\"\n", []wantErr{{base + 3, "fleet.presence_ttl", "at least"}}},
		{"ttl type", "[fleet]\nnats_urls = [\"nats://a:4222\"]\npresence_ttl = 15\n", []wantErr{{base + 3, "fleet.presence_ttl", "duration string"}}},
		{"two auths", "[fleet]\nnats_urls = [\"nats://a:4222\"]\nusername = \"u\"\npassword = \"p\"\nnkey_seed_file = \"seed\"\n",
			[]wantErr{{base + 3, "fleet.username", "choose one way"}, {base + 5, "fleet.nkey_seed_file", "cannot read"}}},
		{"user without password", "[fleet]\nnats_urls = [\"nats://a:4222\"]\nusername = \"u\"\n", []wantErr{{base + 3, "fleet.username", "needs password"}}},
		{"cert without key", "[fleet]\nnats_urls = [\"nats://a:4222\"]\ntls_cert_file = \"cert.pem\"\n",
			[]wantErr{{base + 3, "fleet.tls_cert_file", "cannot read"}, {base + 3, "fleet.tls_cert_file", "needs tls_key_file"}}},
		{"unknown key", "[fleet]\nnats_urls = [\"nats://a:4222\"]\nbuckets = \"x\"\n", []wantErr{{base + 3, "fleet.buckets", `did you mean "bucket"?`}}},
		{"bad filter", "[fleet]\nnats_urls = [\"nats://a:4222\"]\n[fleet.publish]\ndevice_state = true\ndevice_state_filter = \"(\"\n",
			[]wantErr{{base + 5, "fleet.publish.device_state_filter", ""}}},
		{"switch type", "[fleet]\nnats_urls = [\"nats://a:4222\"]\n[fleet.accept]\nmailbox_state = \"yes\"\n",
			[]wantErr{{base + 4, "fleet.accept.mailbox_state", "must be a boolean"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(filepath.Join(t.TempDir(), "c.toml"), []byte(minimal+tt.add))
			checkErrors(t, err, tt.want)
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats the password: %v", err)
			}
		})
	}
}

func TestFleetAuthFilesAndSecret(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "node.nk")
	if err := os.WriteFile(seed, []byte("SUAEXAMPLESEED\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(filepath.Join(dir, "c.toml"), []byte(minimal+`
[fleet]
nats_urls = ["nats://a:4222"]
nkey_seed_file = "node.nk"
  [fleet.publish]
  mailbox_state = true
  [fleet.accept]
  mailbox_state = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fleet.NKeySeedFile != seed || !strings.Contains(cfg.Fleet.Auth(), seed) {
		t.Errorf("seed file = %q, auth %q", cfg.Fleet.NKeySeedFile, cfg.Fleet.Auth())
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].Error(), "readable by every user") {
		t.Errorf("warnings: %v", companion.ConfigErrors(cfg.Warnings))
	}

	t.Setenv("FLEET_PW", "s3cret-pw")
	cfg, err = Parse(filepath.Join(dir, "c.toml"), []byte(minimal+`
[fleet]
nats_urls = ["nats://a:4222"]
username = "node1"
password_env = "FLEET_PW"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fleet.Password.Reveal() != "s3cret-pw" || strings.Contains(cfg.Fleet.Auth(), "s3cret") {
		t.Errorf("password %q, auth %q", cfg.Fleet.Password.Source(), cfg.Fleet.Auth())
	}
	if len(cfg.Warnings) != 2 { // publishes nothing, applies nothing
		t.Errorf("warnings: %v", companion.ConfigErrors(cfg.Warnings))
	}
}

func TestFleetShortPresenceTTLWarned(t *testing.T) {
	cfg, err := Parse("c.toml", []byte(minimal+"[fleet]\nnats_urls = [\"nats://a:4222\"]\npresence_ttl = \"2s\"\n[fleet.publish]\ndevice_state = true\n[fleet.accept]\ndevice_state = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Fleet.PresenceTTL != 2*time.Second || len(cfg.Warnings) != 1 || cfg.Warnings[0].Line != minimalLines+3 ||
		!strings.Contains(cfg.Warnings[0].Msg, "leader election") {
		t.Errorf("ttl %s, warnings %v", cfg.Fleet.PresenceTTL, companion.ConfigErrors(cfg.Warnings))
	}
}
