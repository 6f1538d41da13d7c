package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

// Two whole companions (AMI client, exchange, sipgo stack) in one
// process, each beside a simulated Asterisk, over loopback UDP.

type testSide struct {
	name string
	ast  *simAsterisk
	port int
	cfg  *companion.Config
	node *node
	stop func()
}

func newTestSide(t *testing.T, name string) *testSide {
	t.Helper()
	ast, err := startSimAsterisk(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ast.close)
	port, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	return &testSide{name: name, ast: ast, port: port}
}

// start runs s's companion, peered with peer; publish and accept are
// extra lines for [peer.publish] and [peer.accept].
func (s *testSide) start(t *testing.T, peer *testSide, eid, publish, accept string) {
	t.Helper()
	s.startTo(t, peer.name, peer.port, eid, publish, accept)
}

// startTo is start with the peer's SIP port given: peerPort may be a
// relay in front of it.
func (s *testSide) startTo(t *testing.T, peer string, peerPort int, eid, publish, accept string) {
	t.Helper()
	src := pairConfig(s.name, eid, s.port, s.ast.addr(), peer, peerPort, publish, accept)
	cfg, err := config.Parse(s.name+".toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testLogWriter{t, s.name}, nil))
	n, err := newNode(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	s.node = n
	go func() { done <- n.run(ctx, "", nil) }()
	s.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s stopped with %v", s.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop", s.name)
		}
	}
	t.Cleanup(func() {
		if stop := s.stop; stop != nil {
			s.stop = nil
			stop()
		}
	})
}

func (s *testSide) await(t *testing.T, write string) {
	t.Helper()
	if err := s.ast.awaitWrite(write, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func (s *testSide) never(t *testing.T, substr string) {
	t.Helper()
	for _, w := range s.ast.allWrites() {
		if strings.Contains(w, substr) {
			t.Errorf("%s's Asterisk got %q", s.name, w)
		}
	}
}

type testLogWriter struct {
	t    *testing.T
	name string
}

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(w.name + ": " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestTwoCompanionsOverUDP(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	a.ast.SetDevice("PJSIP/alice", "NOT_INUSE")
	a.ast.SetDevice("Queue:sales", "INUSE") // a's outbound filter drops it
	a.ast.SetDevice("PJSIP/carol", "BUSY")  // b's inbound filter drops it
	a.ast.SetMailbox("100@default", 0, 1)
	a.ast.SetMailbox("200@other", 0, 1) // b's inbound mailbox filter drops it
	a.start(t, b, "02:00:00:00:00:01", `device_state_filter = "^PJSIP/"`, "device_state = true\nmailbox_state = true")

	// b starts after a has published into the void: its refresh request
	// at start-up brings a's states.
	b.start(t, a, "02:00:00:00:00:02", "", "device_state = true\nmailbox_state = true\ndevice_state_filter = \"alice$\"\nmailbox_state_filter = \"@default$\"")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=NOT_INUSE")
	b.await(t, "MWIUpdate 100@default 0/1")

	a.ast.SetDevice("PJSIP/alice", "RINGING")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=RINGING")
	a.ast.SetMailbox("100@default", 2, 3)
	b.await(t, "MWIUpdate 100@default 2/3")
	b.never(t, "Queue:sales")
	b.never(t, "PJSIP/carol")
	b.never(t, "200@other")

	// b's state goes to a; b's echoes of a's states do not.
	b.ast.SetDevice("PJSIP/bob", "INUSE")
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=INUSE")
	a.never(t, "Custom:Custom:")
	a.never(t, "MWIUpdate")
}

func TestAcceptSwitchesOffAnswer200AndDrop(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	// b accepts nothing from a: device_state and mailbox_state default off.
	b.start(t, a, "02:00:00:00:00:02", "", "")

	st, err := sipstack.New(sipstack.Options{Node: companion.NodeConfig{Name: "probe"}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	to, _ := companion.ParseSIPURI(fmt.Sprintf("sip:ast1@127.0.0.1:%d", b.port))
	from, _ := companion.ParseSIPURI("sip:ast1@127.0.0.1")
	snd := st.Sender(&companion.PublishConfig{ServerURI: to, FromURI: from, ToURI: from}, companion.EventDeviceState)
	body := `{"type":"devicestate","device":"PJSIP/alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := snd.Publish(ctx, companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(body)})
	if err != nil || res.Status != 200 || res.ETag == "" {
		t.Fatalf("PUBLISH to a peer whose switches are off: %+v, %v; want 200 with SIP-ETag", res, err)
	}
	mwi := st.Sender(&companion.PublishConfig{ServerURI: to, FromURI: from, ToURI: from}, companion.EventMWI)
	res, err = mwi.Publish(ctx, companion.PublishRequest{Event: companion.EventMWI, Expires: 60,
		Body: []byte(`{"type":"mailboxstate","uniqueid":"100@default","old":0,"new":1,"eid":"02:00:00:00:00:01"}`)})
	if err != nil || res.Status != 200 {
		t.Fatalf("MWI PUBLISH: %+v, %v", res, err)
	}
	// A state sent after those through the same b shows b is done with
	// them: b has written nothing at all.
	b.stop()
	b.stop = nil
	for _, w := range b.ast.allWrites() {
		if w != "Logoff" {
			t.Errorf("b applied %q with its accept switches off", w)
		}
	}
}

// TestApplyThroughARI has b write a's states as Stasis: devices and
// res_mwi_external mailboxes through ARI instead of AMI.
func TestApplyThroughARI(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	ari := aritest.New(t)
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	a.ast.SetMailbox("100@default", 1, 2)
	a.start(t, b, "02:00:00:00:00:01", "", "")
	b.start(t, a, "02:00:00:00:00:02", "", "device_state = true\nmailbox_state = true\n"+
		fmt.Sprintf("[ari]\nurl = %q\nusername = %q\npassword = %q\n[apply]\ndevice_state = \"ari\"\nmailbox_state = \"ari\"\n",
			ari.URL(), aritest.User, aritest.Password))
	until(t, "Stasis:PJSIP/alice", func() bool { st, _ := ari.DeviceState("Stasis:PJSIP/alice"); return st == "INUSE" })
	until(t, "mailbox 100@default", func() bool { o, n, _ := ari.Mailbox("100@default"); return o == 1 && n == 2 })
	b.never(t, "Setvar")
	b.never(t, "MWIUpdate")
}
