package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// fleetConfig is the file of one fleet member beside a simulated
// Asterisk: no SIP peers, only [fleet].
func fleetConfig(name, eid, amiAddr, natsURL, stateDir string) string {
	return fmt.Sprintf(`
[companion]
name = %q
eid = %q
state_dir = %q
http_listen = "127.0.0.1:0"

[ami]
address = %q
username = "companion"
secret = "demo"
reconnect_interval = "1h"

[fleet]
nats_urls = [%q]
bucket = "demo-state"
presence_ttl = "2s"
  [fleet.publish]
  device_state = true
  mailbox_state = true
  [fleet.accept]
  device_state = true
  mailbox_state = true
`, name, eid, stateDir, amiAddr, natsURL)
}

// startEmbeddedNATS runs a JetStream server on a random loopback port,
// storing in dir.
func startEmbeddedNATS(dir string, port int) (*server.Server, error) {
	if port == 0 {
		port = -1
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS server not ready within 10 s")
	}
	return s, nil
}

// runFleetDemo is "companion demo --fleet": three companions beside three
// simulated Asterisks share state through one embedded NATS server.
func runFleetDemo(out io.Writer, logFor func(string) *slog.Logger) error {
	dir, err := os.MkdirTemp("", "companion-fleet-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ns, err := startEmbeddedNATS(dir, 0)
	if err != nil {
		return err
	}
	defer ns.Shutdown()

	sides := []*demoSide{{name: "ast1"}, {name: "ast2"}, {name: "ast3"}}
	for _, s := range sides {
		if s.ast, err = startSimAsterisk(s.name); err != nil {
			return err
		}
		defer s.ast.close()
	}
	a, b, c := sides[0], sides[1], sides[2]
	a.ast.SetDevice("PJSIP/alice", "NOT_INUSE")
	b.ast.SetDevice("PJSIP/bob", "NOT_INUSE")
	c.ast.SetDevice("PJSIP/carol", "NOT_INUSE")

	start := func(s *demoSide, eid string) error {
		return s.runNode(fleetConfig(s.name, eid, s.ast.addr(), ns.ClientURL(), scratchStateDir(s.name, 0)), logFor(s.name), nil)
	}
	// stopSide stops s's companion and waits for it: it removes its
	// presence and keys on the way.
	stopSide := func(s *demoSide) error {
		s.stopNode()
		return s.waitNode(15 * time.Second)
	}
	for _, s := range sides {
		defer stopSide(s)
	}

	step := func(format string, args ...any) { fmt.Fprintf(out, "• "+format+"\n", args...) }
	expect := func(s *demoSide, write string) error {
		if err := s.ast.awaitWrite(write, 15*time.Second); err != nil {
			return err
		}
		fmt.Fprintf(out, "    %s's Asterisk ← %s\n", s.name, write)
		return nil
	}

	step("an embedded NATS server with JetStream on %s; three simulated Asterisks, each with a companion in the fleet (no SIP peers)", ns.ClientURL())
	for i, s := range sides {
		if err := start(s, fmt.Sprintf("02:00:00:00:00:%02x", i+1)); err != nil {
			return err
		}
	}
	for _, w := range []struct {
		s     *demoSide
		write string
	}{
		{b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=NOT_INUSE"}, {c, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=NOT_INUSE"},
		{a, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=NOT_INUSE"}, {a, "Setvar DEVICE_STATE(Custom:PJSIP/carol)=NOT_INUSE"},
	} {
		if err := expect(w.s, w.write); err != nil {
			return err
		}
	}

	step("on ast1, PJSIP/alice goes INUSE: one write to the bucket, both others apply it")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	for _, s := range []*demoSide{b, c} {
		if err := expect(s, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE"); err != nil {
			return err
		}
	}
	step("on ast1, mailbox 100@default gets 2 new messages (1 old)")
	a.ast.SetMailbox("100@default", 1, 2)
	for _, s := range []*demoSide{b, c} {
		if err := expect(s, "MWIUpdate 100@default 1/2"); err != nil {
			return err
		}
	}

	step("ast3's companion stops: it removes its presence and keys, and ast1 and ast2 clear what it asserted")
	if err := stopSide(c); err != nil {
		return err
	}
	for _, s := range []*demoSide{a, b} {
		if err := expect(s, "Setvar DEVICE_STATE(Custom:PJSIP/carol)=UNAVAILABLE"); err != nil {
			return err
		}
	}
	for _, s := range sides {
		for _, w := range s.ast.allWrites() {
			if strings.Contains(w, "Custom:Custom:") {
				return fmt.Errorf("echo: %s's Asterisk got %q", s.name, w)
			}
		}
	}
	step("no echo: no Asterisk got back a state another companion had written")
	fmt.Fprintln(out, "demo OK")
	return nil
}
