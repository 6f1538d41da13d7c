package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ari/aritest"
)

// syncBuffer is a bytes.Buffer safe for the daemon's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunLifecycle runs "companion run" as the process would: eid read
// from ARI, [[sorcery]] applied at start and again on SIGHUP after the
// file changed, SIGTERM ending it with exit 0 after an AMI Logoff.
func TestRunLifecycle(t *testing.T) {
	ari := aritest.New(t)
	ari.SetInfo(aritest.InfoBody("02:aa:bb:cc:dd:ee", "ast1"))
	ast, err := startSimAsterisk("ast1")
	if err != nil {
		t.Fatal(err)
	}
	defer ast.close()
	port, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "companion.toml")
	write := func(maxContacts int) {
		src := fmt.Sprintf(`[companion]
name = "n1"
eid = "auto"
sip_listen = ["udp://127.0.0.1:%d"]
[ami]
address = %q
username = "companion"
secret = "s"
reconnect_interval = "1h"
[ari]
url = %q
username = %q
password = %q
state_file = %q
[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "bob"
fields = { max_contacts = %d }
`, port, ast.addr(), ari.URL(), aritest.User, aritest.Password, filepath.Join(dir, "state.json"), maxContacts)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(1)

	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- daemon([]string{"--config", path}, &stdout, &stderr) }()
	maxContacts := func(want string) func() bool {
		return func() bool {
			o, ok := ari.Object("res_pjsip", "aor", "bob")
			return ok && o["max_contacts"] == want
		}
	}
	until(t, "the aor pushed at start", maxContacts("1"))
	until(t, "the AMI login", ast.loggedIn)
	until(t, "the node running", func() bool { return strings.Contains(stderr.String(), "msg=running") })
	if !strings.Contains(stderr.String(), "eid=02:aa:bb:cc:dd:ee") {
		t.Errorf("the Entity ID from /asterisk/info is not the one in use:\n%s", stderr.String())
	}

	write(3)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	until(t, "the aor updated after SIGHUP", maxContacts("3"))
	until(t, "the SIGHUP apply reported", func() bool { return strings.Count(stdout.String(), "Apply complete") == 2 })

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM\n%s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("companion run did not stop on SIGTERM")
	}
	if !ast.wrote("Logoff") {
		t.Error("no AMI Logoff on shutdown")
	}
	if !strings.Contains(stdout.String(), "updated    res_pjsip/aor/bob  max_contacts") {
		t.Errorf("the SIGHUP apply report is not on stdout:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String()+stdout.String(), aritest.Password) {
		t.Error("the ARI password was printed")
	}
}

func TestRunRefusesWithoutEntityID(t *testing.T) {
	ari := aritest.New(t)
	ari.SetInfo(`{"system":{"version":"22.10.1"}}`)
	dir := t.TempDir()
	path := filepath.Join(dir, "companion.toml")
	src := fmt.Sprintf(`[companion]
name = "n1"
[ari]
url = %q
username = %q
password = %q
`, ari.URL(), aritest.User, aritest.Password)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func(p time.Duration) { eidPauseForTest = p }(eidPauseForTest)
	eidPauseForTest = time.Millisecond
	var stdout, stderr syncBuffer
	if code := daemon([]string{"--config", path}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "set eid explicitly") {
		t.Errorf("no clear message:\n%s", stderr.String())
	}
}

// TestDemo keeps the README's main job true.
func TestDemo(t *testing.T) {
	var out, logs syncBuffer
	if code := demo([]string{"--log-level", "info"}, &out, &logs); code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), logs.String())
	}
	for _, want := range []string{
		"ast2's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE",
		"ast2's Asterisk ← MWIUpdate 100@default 1/2",
		"ast1's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/bob)=RINGING",
		"ast2's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/alice)=UNAVAILABLE",
		"demo OK",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}
