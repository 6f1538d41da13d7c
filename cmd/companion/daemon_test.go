package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	untilWithin(t, 10*time.Second, what, cond)
}

// keepaliveWait bounds waits on amigo's keepalive, which comes 5 s after
// login: longer than until allows.
const keepaliveWait = 15 * time.Second

func untilWithin(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runEnv is "companion run" beside a simulated Asterisk (AMI) and a fake
// ARI, with a configuration file holding one [[sorcery]] aor "bob".
type runEnv struct {
	ari       *aritest.Server
	ast       *simAsterisk
	dir, path string
	port      int
	eid       string // "auto" or an Entity ID
	reconnect string // [ami] reconnect_interval

	stdout, stderr syncBuffer
	done           chan int
}

func newRunEnv(t *testing.T, eid, reconnect string) *runEnv {
	t.Helper()
	e := &runEnv{ari: aritest.New(t), eid: eid, reconnect: reconnect, dir: t.TempDir(), done: make(chan int, 1)}
	var err error
	if e.ast, err = startSimAsterisk("ast1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.ast.close)
	if e.port, err = freeUDPPort(); err != nil {
		t.Fatal(err)
	}
	e.path = filepath.Join(e.dir, "companion.toml")
	return e
}

func (e *runEnv) write(t *testing.T, maxContacts int) {
	t.Helper()
	src := fmt.Sprintf(`[companion]
name = "n1"
eid = %q
http_listen = "127.0.0.1:0"
sip_listen = ["udp://127.0.0.1:%d"]
[ami]
address = %q
username = "companion"
secret = "s"
reconnect_interval = %q
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
`, e.eid, e.port, e.ast.addr(), e.reconnect, e.ari.URL(), aritest.User, aritest.Password, filepath.Join(e.dir, "state.json"), maxContacts)
	if err := os.WriteFile(e.path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *runEnv) start() {
	go func() { e.done <- daemon([]string{"--config", e.path}, &e.stdout, &e.stderr) }()
}

// maxContacts is a condition: bob's max_contacts in Asterisk is want.
func (e *runEnv) maxContacts(want string) func() bool {
	return func() bool {
		o, ok := e.ari.Object("res_pjsip", "aor", "bob")
		return ok && o["max_contacts"] == want
	}
}

// stop sends SIGTERM and expects exit 0.
func (e *runEnv) stop(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-e.done:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM\n%s", code, e.stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("companion run did not stop on SIGTERM")
	}
	if strings.Contains(e.stderr.String()+e.stdout.String(), aritest.Password) {
		t.Error("the ARI password was printed")
	}
}

// TestRunLifecycle runs "companion run" as the process would: eid read
// from ARI, [[sorcery]] applied at start and again on SIGHUP after the
// file changed, SIGTERM ending it with exit 0 after an AMI Logoff.
func TestRunLifecycle(t *testing.T) {
	e := newRunEnv(t, "auto", "1h")
	e.ari.SetInfo(aritest.InfoBody("02:aa:bb:cc:dd:ee", "ast1"))
	e.write(t, 1)
	e.start()
	until(t, "the aor pushed at start", e.maxContacts("1"))
	until(t, "the AMI login", e.ast.loggedIn)
	until(t, "the node running", func() bool { return strings.Contains(e.stderr.String(), "msg=running") })
	if !strings.Contains(e.stderr.String(), "eid=02:aa:bb:cc:dd:ee") {
		t.Errorf("the Entity ID from /asterisk/info is not the one in use:\n%s", e.stderr.String())
	}

	e.write(t, 3)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	until(t, "the aor updated after SIGHUP", e.maxContacts("3"))
	until(t, "the SIGHUP apply reported", func() bool { return strings.Count(e.stdout.String(), "Apply complete") == 2 })

	e.stop(t)
	if !e.ast.wrote("Logoff") {
		t.Error("no AMI Logoff on shutdown")
	}
	if !strings.Contains(e.stdout.String(), "updated    res_pjsip/aor/bob  max_contacts") {
		t.Errorf("the SIGHUP apply report is not on stdout:\n%s", e.stdout.String())
	}
}

// TestRunKeepsSorceryInPlace: "companion run" started before Asterisk
// answers ARI retries until it does, without a SIGHUP; and when Asterisk
// restarts and loses the objects (memory wizard), the AMI reconnect brings
// them back.
func TestRunKeepsSorceryInPlace(t *testing.T) {
	e := newRunEnv(t, "02:aa:bb:cc:dd:ee", "100ms")
	e.ari.FailRequest(1, aritest.Fault{Drop: true})
	e.ari.FailRequest(2, aritest.Fault{Status: 503, Message: "Asterisk is not fully booted"})
	e.write(t, 1)
	e.start()
	until(t, "the aor pushed after two failures", e.maxContacts("1"))
	until(t, "the apply reported", func() bool { return strings.Contains(e.stdout.String(), "Apply complete") })
	until(t, "the recovery logged", func() bool { return strings.Contains(e.stderr.String(), "objects in place") })
	// The AMI login may cut the first backoff short (a Recheck), so the
	// delays are not asserted.
	logs := e.stderr.String()
	for _, want := range []string{"retrying\" part=provision in=1s attempt=1", "attempt=2 err=\"Asterisk answered 503", "[[sorcery]] objects in place\" part=provision attempts=3"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	wantLines(t, e.stdout.String(), "Planning stopped", "Nothing was applied.", "+   create     res_pjsip/aor/bob", "Apply complete: 1 created")

	// amigo's data race (ami/helpers_test.go, noReconnect): a session may
	// end only after its first keepalive, 5 s after login.
	untilWithin(t, keepaliveWait, "the first session's keepalive", func() bool { return e.ast.keptAlive(1) })
	requests := len(e.ari.Requests())
	e.ari.ForgetDynamicObjects()
	e.ast.restart()
	until(t, "the aor back after the restart", e.maxContacts("1"))
	if e.ast.loginCount() != 2 {
		t.Errorf("%d AMI logins, want 2", e.ast.loginCount())
	}
	// The object is in place before the report is printed.
	until(t, "the apply after the restart reported", func() bool { return strings.Count(e.stdout.String(), "Apply complete: 1 created") == 2 })
	var writes []string
	for _, r := range e.ari.Requests()[requests:] {
		if r.Method != "GET" {
			writes = append(writes, r.Method+" "+strings.Join(r.Path, "/"))
		}
	}
	if want := []string{"PUT asterisk/config/dynamic/res_pjsip/aor/bob"}; !slices.Equal(writes, want) {
		t.Errorf("writes after the restart %q, want %q", writes, want)
	}

	untilWithin(t, keepaliveWait, "the second session's keepalive", func() bool { return e.ast.keptAlive(2) })
	e.ast.close() // before the stop: amigo goes on reconnecting after Run returns
	e.stop(t)
}

func TestRunRefusesWithoutEntityID(t *testing.T) {
	ari := aritest.New(t)
	ari.SetInfo(`{"system":{"version":"22.10.1"}}`)
	dir := t.TempDir()
	path := filepath.Join(dir, "companion.toml")
	src := fmt.Sprintf(`[companion]
name = "n1"
http_listen = ""
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
	// The happy path warns about nothing: not the writes tried before the
	// AMI login, not the removals sent at the stop.
	for _, line := range strings.Split(out.String()+logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") ||
			strings.Contains(line, " WARN ") || strings.Contains(line, " ERROR ") {
			t.Errorf("demo logged: %s", line)
		}
	}
}
