package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateEndToEnd runs "companion migrate" on the seeds and the
// recorded configurations, then "companion check-config" on what it wrote.
func TestMigrateEndToEnd(t *testing.T) {
	for _, tc := range []struct{ file, peer string }{
		{"seed_instance1_pjsip.conf", `peer "instance2"`},
		{"seed_instance2_pjsip.conf", `peer "instance1"`},
		{"seed_filtering_pjsip.conf", `filters device "^PJSIP/", mwi "^1000", refresh yes`},
		{"recorded_inst1_pjsip.conf", `publish device+mwi to sip:ast1@127.0.0.1:5062, from sip:ast1@127.0.0.1:5061`},
		{"recorded_inst2_pjsip.conf", `accept  device+mwi on resource "ast1" from 127.0.0.1/32`},
		{"everything/pjsip.conf", `auth yes (user ast2, password inline)`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "companion.toml")
			code, stdout, stderr := runCLI("migrate", "--pjsip", "../../fixtures/migrate/"+tc.file, "--out", out)
			if code != 0 || stdout != "" {
				t.Fatalf("migrate exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "companion migrate: wrote "+out) || !strings.Contains(stderr, "edit ami.secret: a placeholder") {
				t.Errorf("report:\n%s", stderr)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v: the file may hold passwords", fi.Mode().Perm())
			}
			code, stdout, stderr = runCLI("check-config", "--config", out)
			if code != 0 || !strings.Contains(stdout, tc.peer) {
				t.Fatalf("check-config exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

func TestMigrateStdoutAndEnv(t *testing.T) {
	code, stdout, stderr := runCLI("migrate", "--pjsip", "../../fixtures/migrate/everything/pjsip.conf", "--secrets", "env", "--name", "pbx1", "--listen", "udp://192.0.2.1:5080")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{`name = "pbx1"`, `sip_listen = ["udp://192.0.2.1:5080"]`, `password_env = "COMPANION_AST2_PUBLISH_PASSWORD"`, `secret_env = "COMPANION_AMI_SECRET"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	if strings.Contains(stdout, "in;secret") {
		t.Errorf("--secrets env wrote a password")
	}
	if !strings.Contains(stderr, "set COMPANION_AST2_ACCEPT_PASSWORD: the password of [ast2-in] type=auth") {
		t.Errorf("report does not list the variables:\n%s", stderr)
	}
	for _, env := range []string{"COMPANION_AST2_ACCEPT_PASSWORD", "COMPANION_AST2_PUBLISH_PASSWORD", "COMPANION_AMI_SECRET", "COMPANION_ARI_PASSWORD"} {
		t.Setenv(env, "x")
	}
	out := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(out, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI("check-config", "--config", out); code != 0 {
		t.Fatalf("check-config: %s", stderr)
	}
}

func TestMigrateFailures(t *testing.T) {
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop.conf")
	if err := os.WriteFile(loop, []byte("[a]\ntype=aor\n#include loop.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nul := filepath.Join(dir, "nul.conf")
	if err := os.WriteFile(nul, []byte("[a]\n\x00\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"migrate"}, 2, "usage: companion migrate --pjsip FILE"},
		{[]string{"migrate", "--pjsip", loop, "--secrets", "maybe"}, 2, "usage:"},
		{[]string{"migrate", "--pjsip", loop}, 1, loop + ":3: #include loop"},
		{[]string{"migrate", "--pjsip", nul}, 1, nul + ":2: NUL byte"},
		{[]string{"migrate", "--pjsip", filepath.Join(dir, "absent.conf")}, 1, "absent.conf: no such file or directory"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}
