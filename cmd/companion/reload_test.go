package main

import (
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Reload (SIGHUP) of companions running as child processes.

// reloadSide is one companion child beside its simulated Asterisk.
type reloadSide struct {
	name, eid string
	ast       *amiHost
	port      int
	proc      *child
}

func newReloadSide(t *testing.T, name, eid string) *reloadSide {
	t.Helper()
	s := &reloadSide{name: name, eid: eid, ast: newAMIHost(t, name)}
	var err error
	if s.port, err = freeUDPPort(); err != nil {
		t.Fatal(err)
	}
	return s
}

// peeredWith is s's file, peered with peer (both events both ways).
func (s *reloadSide) peeredWith(peer *reloadSide) string {
	return pairConfig(s.name, s.eid, s.port, s.ast.address, peer.name, peer.port, "", "device_state = true\nmailbox_state = true")
}

// alone is s's file without any peer.
func (s *reloadSide) alone(peer *reloadSide) string {
	src, _, _ := strings.Cut(s.peeredWith(peer), "[[peer]]")
	return src
}

func (s *reloadSide) start(t *testing.T, src string) {
	t.Helper()
	s.proc = startChild(t, s.name, src)
	s.awaitLog(t, "msg=running")
}

func (s *reloadSide) await(t *testing.T, write string) {
	t.Helper()
	if err := s.ast.awaitWrite(write, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func (s *reloadSide) awaitLog(t *testing.T, text string) {
	t.Helper()
	until(t, s.name+" logging "+text, func() bool { return strings.Contains(s.proc.log.String(), text) })
}

// reload writes src as s's file and sends SIGHUP.
func (s *reloadSide) reload(t *testing.T, src string) {
	t.Helper()
	if err := os.WriteFile(s.proc.config, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// A peer added by SIGHUP gets our states, and its PUBLISHes are taken
// (its address admitted at the SIP edge) without a restart.
func TestReloadAddsAPeerToARunningCompanion(t *testing.T) {
	leakCheck(t)
	a, b := newReloadSide(t, "ast1", "02:00:00:00:00:01"), newReloadSide(t, "ast2", "02:00:00:00:00:02")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	a.ast.SetMailbox("100@default", 1, 2)
	b.ast.SetDevice("PJSIP/bob", "RINGING")
	a.start(t, a.alone(b))
	b.start(t, b.peeredWith(a))

	a.reload(t, a.peeredWith(b))
	a.awaitLog(t, `msg="peer added" peer=ast2`)
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE")
	b.await(t, "MWIUpdate 100@default 1/2")
	// a asks b for its state (accept.refresh), which b sends at once.
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=RINGING")
	a.awaitLog(t, "msg=\"configuration reloaded\" peers=1 added=1 removed=0 changed=0 need_restart=0")
	termAll(t, a.proc, b.proc)
}

// An invalid file is refused whole with its errors (file:line), and the
// running configuration goes on: states still flow both ways.
func TestReloadRefusesAnInvalidFile(t *testing.T) {
	leakCheck(t)
	a, b := newReloadSide(t, "ast1", "02:00:00:00:00:01"), newReloadSide(t, "ast2", "02:00:00:00:00:02")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	a.start(t, a.peeredWith(b))
	b.start(t, b.peeredWith(a))
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE")

	// Two errors: an unknown key, and a URI that is not sip:. The peer
	// ast2 is gone from this file too: nothing of it may be applied.
	bad, _, _ := strings.Cut(a.peeredWith(b), "[[peer]]")
	bad += "[[peer]]\nname = \"ast3\"\nbogus = 1\n  [peer.publish]\n  server_uri = \"http://127.0.0.1:5060\"\n  device_state = true\n"
	a.reload(t, bad)
	a.awaitLog(t, "configuration refused; the running configuration stays")
	logs := a.proc.log.String()
	for _, want := range []string{`ast1\.toml:\d+: peer \\"ast3\\"\.bogus: unknown key`, `ast1\.toml:\d+: peer \\"ast3\\"\.publish\.server_uri: bad URI`} {
		if !regexp.MustCompile(`msg="configuration error" error=".*` + want).MatchString(logs) {
			t.Errorf("the log does not show the error matching %s:\n%s", want, tail(logs, 20))
		}
	}
	if strings.Contains(logs, "peer removed") || strings.Contains(logs, "configuration reloaded") {
		t.Error("something of the refused file was applied")
	}

	a.ast.SetDevice("PJSIP/alice", "RINGING")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=RINGING")
	b.ast.SetDevice("PJSIP/bob", "BUSY")
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=BUSY")
	termAll(t, a.proc, b.proc)
}
