package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion/config"
)

// demo is "companion demo", the main job where no Asterisk is at hand:
// two companions, each beside an embedded simulated Asterisk (AMI only),
// share state over SIP on loopback. It drives a device change, a mailbox
// change and a graceful stop, checks that each lands on the other side
// (and that nothing echoes back), prints what happened, and exits 0, or 1
// when something did not arrive.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	level := fs.String("log-level", "warn", "log level of the two companions: debug, info, warn or error")
	inFleet := fs.Bool("fleet", false, "three companions sharing state through an embedded NATS JetStream server instead of SIP")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	log, err := newLogger(stderr, *level, "text")
	if err != nil {
		fmt.Fprintln(stderr, "companion demo:", err)
		return 2
	}
	defer removeScratchState()
	run := runDemo
	if *inFleet {
		run = runFleetDemo
	}
	if err := run(stdout, func(name string) *slog.Logger { return log.With("node", name) }); err != nil {
		fmt.Fprintln(stderr, "companion demo: FAILED:", err)
		return 1
	}
	return 0
}

// pairConfig is the file of one of two companions peered on loopback;
// publish and accept are extra lines of [peer.publish] and [peer.accept].
func pairConfig(name, eid string, port int, amiAddr, peer string, peerPort int, publish, accept string) string {
	return fmt.Sprintf(`
[companion]
name = %[1]q
eid = %[2]q
sip_listen = ["udp://127.0.0.1:%[3]d"]
state_dir = %[9]q
http_listen = "127.0.0.1:0"  # an ephemeral port: the demo and the tests run many companions side by side

[ami]
address = %[4]q
username = "companion"
secret = "demo"
reconnect_interval = "1h"    # nothing disconnects here; amigo races with itself on reconnect

[[peer]]
name = %[5]q
  [peer.publish]
  server_uri = "sip:%[1]s@127.0.0.1:%[6]d"
  device_state = true
  mailbox_state = true
  %[7]s
  [peer.accept]
  resource = %[5]q
  match = ["127.0.0.1/32"]
  refresh = true
  %[8]s
`, name, eid, port, amiAddr, peer, peerPort, publish, accept, scratchStateDir(name, port))
}

var scratch struct {
	once sync.Once
	root string
}

// scratchStateDir is the state_dir of a companion the demo or a test
// runs: one folder per name and port, so that a companion restarted on
// the same port finds its ledger, under one temporary folder per process
// (removeScratchState removes it).
func scratchStateDir(name string, port int) string {
	scratch.once.Do(func() {
		root, err := os.MkdirTemp("", "companion-state-")
		if err != nil {
			root = filepath.Join(os.TempDir(), fmt.Sprintf("companion-state-%d", os.Getpid()))
		}
		scratch.root = root
	})
	dir := filepath.Join(scratch.root, fmt.Sprintf("%s-%d", name, port))
	_ = os.MkdirAll(dir, 0o700) // a missing folder is warned about at start
	return dir
}

func removeScratchState() {
	if scratch.root != "" {
		_ = os.RemoveAll(scratch.root)
	}
}

type demoSide struct {
	name string
	ast  *simAsterisk
	port int
	stop context.CancelFunc
	done chan error
}

// runNode parses src, builds s's companion and runs it until stopNode.
// barrier, when not nil, orders its stop with the other demo nodes'.
func (s *demoSide) runNode(src string, log *slog.Logger, barrier *stopBarrier) error {
	cfg, err := config.Parse(s.name+".toml", []byte(src))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := newNode(ctx, cfg, log)
	if err != nil {
		cancel()
		return err
	}
	if barrier != nil {
		n.barrier = barrier
		barrier.join()
	}
	s.stop, s.done = cancel, make(chan error, 1)
	go func() { s.done <- n.run(ctx, "", nil) }()
	return nil
}

// stopNode asks s's companion to stop; waitNode waits for it.
func (s *demoSide) stopNode() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// waitNode waits, at most within, for s's companion to have stopped.
func (s *demoSide) waitNode(within time.Duration) error {
	if s.done == nil {
		return nil
	}
	defer func() { s.done = nil }()
	select {
	case err := <-s.done:
		return err
	case <-time.After(within):
		return fmt.Errorf("%s's companion did not stop within %s", s.name, within)
	}
}

func freeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

func runDemo(out io.Writer, logFor func(string) *slog.Logger) error {
	a := &demoSide{name: "ast1"}
	b := &demoSide{name: "ast2"}
	for _, s := range []*demoSide{a, b} {
		var err error
		if s.ast, err = startSimAsterisk(s.name); err != nil {
			return err
		}
		defer s.ast.close()
		if s.port, err = freeUDPPort(); err != nil {
			return err
		}
	}
	a.ast.SetDevice("PJSIP/alice", "NOT_INUSE")
	b.ast.SetDevice("PJSIP/bob", "NOT_INUSE")

	// Both companions stop in order: each removes its publications from
	// the other while the other's SIP stack still answers.
	barrier := newStopBarrier(5 * time.Second)
	start := func(s, peer *demoSide, eid string) error {
		src := pairConfig(s.name, eid, s.port, s.ast.addr(), peer.name, peer.port, "expiration = 120", "device_state = true\nmailbox_state = true")
		return s.runNode(src, logFor(s.name), barrier)
	}
	defer func() {
		a.stopNode()
		b.stopNode()
		a.waitNode(10 * time.Second)
		b.waitNode(10 * time.Second)
	}()

	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	expect := func(s *demoSide, write string) error {
		if err := s.ast.awaitWrite(write, 10*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(out, "    %s's Asterisk ← %s\n", s.name, write)
		return nil
	}

	step("two simulated Asterisks: ast1 (AMI %s), ast2 (AMI %s); companions on udp/127.0.0.1:%d and :%d", a.ast.addr(), b.ast.addr(), a.port, b.port)
	if err := start(a, b, "02:00:00:00:00:01"); err != nil {
		return err
	}
	step("ast1's companion starts; ast2's starts later and asks for ast1's state (refresh)")
	if err := start(b, a, "02:00:00:00:00:02"); err != nil {
		return err
	}
	if err := expect(b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=NOT_INUSE"); err != nil {
		return err
	}
	if err := expect(a, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=NOT_INUSE"); err != nil {
		return err
	}

	step("on ast1, PJSIP/alice goes INUSE")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	if err := expect(b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE"); err != nil {
		return err
	}
	step("on ast1, mailbox 100@default gets 2 new messages (1 old)")
	a.ast.SetMailbox("100@default", 1, 2)
	if err := expect(b, "MWIUpdate 100@default 1/2"); err != nil {
		return err
	}
	step("on ast2, PJSIP/bob rings")
	b.ast.SetDevice("PJSIP/bob", "RINGING")
	if err := expect(a, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=RINGING"); err != nil {
		return err
	}

	step("ast1's companion stops gracefully: it removes its publications, ast2's companion clears what it asserted")
	a.stopNode()
	if err := expect(b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=UNAVAILABLE"); err != nil {
		return err
	}
	if err := expect(b, "MWIUpdate 100@default 0/0"); err != nil {
		return err
	}
	step("ast2's companion stops too: it removes its publications while ast1's companion still answers, then both close")
	b.stopNode()
	for _, s := range []*demoSide{a, b} {
		if err := s.waitNode(10 * time.Second); err != nil {
			return err
		}
	}

	// The writes each side made cause AMI events on that side (the device
	// itself, MessageWaiting, res_mwi_devstate's MWI:<mailbox>); had they
	// been taken for local state they would have come back to the other
	// side as names built from names the template built.
	for _, s := range []*demoSide{a, b} {
		for _, w := range s.ast.allWrites() {
			if strings.Contains(w, "Custom:Custom:") {
				return fmt.Errorf("echo: %s's Asterisk got %q", s.name, w)
			}
		}
	}
	step("no echo: neither Asterisk got back a state the other companion had written")
	fmt.Fprintln(out, "demo OK")
	return nil
}
