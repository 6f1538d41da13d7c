package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion/config"
)

func eidAutoConfig(t *testing.T, url, password string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "companion.toml")
	src := fmt.Sprintf(`[companion]
name = "n1"
[ari]
url = %q
username = %q
password = %q
`, url, aritest.User, password)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A wrong ARI password is not something retrying cures: the start stops
// at the first 401, naming the settings to fix, not "set eid explicitly".
func TestRunStopsAtOnceOnARIUnauthorized(t *testing.T) {
	ari := aritest.New(t)
	path := eidAutoConfig(t, ari.URL(), "wrong-Zq9x")
	defer func(p time.Duration) { eidPauseForTest = p }(eidPauseForTest)
	eidPauseForTest = time.Hour // a retry would hang the test
	var stdout, stderr syncBuffer
	if code := daemon([]string{"--config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "[ari] username/password") || !strings.Contains(out, "not starting") {
		t.Errorf("message does not name [ari] username/password:\n%s", out)
	}
	if strings.Contains(out, "set eid explicitly") || strings.Contains(out, "retrying") || strings.Contains(out, "Zq9x") {
		t.Errorf("wrong advice, a retry or the password:\n%s", out)
	}
	if n := len(ari.Requests()); n != 1 {
		t.Errorf("%d ARI requests, want 1", n)
	}
}

// A signal during the start is no failure to explain.
func TestEIDReadInterruptedGivesNoAdvice(t *testing.T) {
	ari := aritest.New(t)
	ari.SetInfo(`{"system":{"version":"22.10.1"}}`) // no entity_id: would be retried
	cfg, err := config.Load(eidAutoConfig(t, ari.URL(), aritest.Password))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = newNode(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != errStartInterrupted {
		t.Errorf("newNode after a signal: %v, want errStartInterrupted", err)
	}
	if err != nil && strings.Contains(err.Error(), "set eid explicitly") {
		t.Errorf("advice on a signal: %v", err)
	}
}
