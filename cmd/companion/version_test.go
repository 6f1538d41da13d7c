package main

import (
	"bufio"
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionPrintsTheVCSRevision(t *testing.T) {
	bi := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/astcompanion/sidecar", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-02T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	out := readBuildInfo(bi, true).String()
	for _, want := range []string{
		"module    github.com/astcompanion/sidecar",
		"revision  0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)",
		"committed 2026-12-02T10:00:00Z",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	bi.Settings = nil
	if out := readBuildInfo(bi, true).String(); !strings.Contains(out, "revision  unknown") {
		t.Errorf("a build without VCS settings must say so:\n%s", out)
	}
}

// The unit file shipped in the repository keeps its hardening and its
// reload: a later edit that drops one fails here, not on someone's host.
func TestSystemdUnitIsHardened(t *testing.T) {
	f, err := os.Open("../../companion.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not a key=value line: %q", line)
		}
		set[k] = append(set[k], v)
	}
	for k, want := range map[string]string{
		"DynamicUser":     "yes",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"StateDirectory":  "companion", // /var/lib/companion, the default state_dir
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"ExecStart":       "/usr/local/bin/companion run --config /etc/companion/companion.toml",
	} {
		if got := set[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
