package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion/config"
)

func TestFleetDemo(t *testing.T) {
	var out, logs syncBuffer
	if code := demo([]string{"--fleet", "--log-level", "info"}, &out, &logs); code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), logs.String())
	}
	for _, want := range []string{
		"ast2's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE",
		"ast3's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE",
		"ast3's Asterisk ← MWIUpdate 100@default 1/2",
		"ast1's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/carol)=UNAVAILABLE",
		"ast2's Asterisk ← Setvar DEVICE_STATE(Custom:PJSIP/carol)=UNAVAILABLE",
		"demo OK",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	// The happy path reads as one: no warning either (the links' own
	// close at stop used to log "disconnected from NATS").
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("warnings or errors logged:\n%s", logs.String())
	}
}

func TestFleetSummary(t *testing.T) {
	t.Setenv("FLEET_PW", "hunter2-summary")
	_, err := config.Parse("c.toml", []byte(fleetConfig("n1", "02:00:00:00:00:01", "127.0.0.1:5038", "nats://127.0.0.1:4222", t.TempDir())+
		"username = \"node1\"\npassword_env = \"FLEET_PW\"\n"))
	if err == nil {
		t.Fatal("username after [fleet.accept] belongs to the sub-table: want an error")
	}
	src := strings.Replace(fleetConfig("n1", "02:00:00:00:00:01", "127.0.0.1:5038", "nats://127.0.0.1:4222", t.TempDir()),
		"presence_ttl = \"2s\"", "presence_ttl = \"2s\"\nusername = \"node1\"\npassword_env = \"FLEET_PW\"", 1)
	cfg, err := config.Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	summarize(&out, cfg)
	for _, want := range []string{"fleet     nats://127.0.0.1:4222, bucket demo-state (1 replica when created), presence ttl 2s, auth user node1 (password env FLEET_PW)",
		"  publish device+mwi, filters none", "  accept  device+mwi, filters none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Errorf("summary shows the password:\n%s", out.String())
	}
}

func TestBenchFleetSmall(t *testing.T) {
	res, err := benchFleet(t.Context(), 3, 100, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.PerNode) != 2 || res.Fanout <= 0 {
		t.Errorf("result %+v", res)
	}
	t.Log(res)
}

// BenchmarkFleetFanout: go test -run '^$' -bench FleetFanout -benchtime 1x ./cmd/companion
// (FLEET_BENCH_NODES, default 20).
func BenchmarkFleetFanout(b *testing.B) {
	nodes := 20
	if v, err := strconv.Atoi(os.Getenv("FLEET_BENCH_NODES")); err == nil && v >= 2 {
		nodes = v
	}
	for b.Loop() {
		res, err := benchFleet(b.Context(), nodes, 2000, 2000, 5*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.Fanout.Seconds(), "fanout-s")
		b.ReportMetric(res.Start.Seconds(), "start-s")
		b.ReportMetric(float64(res.HeapPerNode)/(1<<20), "heap-MiB/node")
		b.Log(res)
	}
}

// A node in both worlds (a SIP peer and the fleet) relays nothing
// between them: only its own states go to each.
func TestFleetAndSIPDoNotRelay(t *testing.T) {
	ns, err := startEmbeddedNATS(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	defer removeScratchState()
	var sides [3]*demoSide
	for i := range sides {
		sides[i] = &demoSide{name: fmt.Sprintf("ast%d", i+1)}
		if sides[i].ast, err = startSimAsterisk(sides[i].name); err != nil {
			t.Fatal(err)
		}
		defer sides[i].ast.close()
		if sides[i].port, err = freeUDPPort(); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c := sides[0], sides[1], sides[2]
	accept := "device_state = true\nmailbox_state = true"
	fleetOf := func(s *demoSide) string {
		src := fleetConfig(s.name, "02:00:00:00:00:00", s.ast.addr(), ns.ClientURL(), t.TempDir())
		return src[strings.Index(src, "[fleet]"):]
	}
	srcs := map[*demoSide]string{
		a: pairConfig(a.name, "02:00:00:00:03:01", a.port, a.ast.addr(), b.name, b.port, "", accept) + fleetOf(a),
		b: pairConfig(b.name, "02:00:00:00:03:02", b.port, b.ast.addr(), a.name, a.port, "", accept),
		c: fleetConfig(c.name, "02:00:00:00:03:03", c.ast.addr(), ns.ClientURL(), t.TempDir()),
	}
	for _, s := range sides {
		cfg, err := config.Parse(s.name+".toml", []byte(srcs[s]))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n, err := newNode(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.run(ctx, "", nil) }()
		defer func() {
			cancel()
			<-done
		}()
	}
	await := func(s *demoSide, w string) {
		t.Helper()
		if err := s.ast.awaitWrite(w, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	b.ast.SetDevice("PJSIP/bob", "BUSY")      // SIP only
	c.ast.SetDevice("PJSIP/carol", "INUSE")   // fleet only
	a.ast.SetDevice("PJSIP/alice", "RINGING") // both
	await(a, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=BUSY")
	await(a, "Setvar DEVICE_STATE(Custom:PJSIP/carol)=INUSE")
	await(b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=RINGING")
	await(c, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=RINGING")
	// A later change of a's own passes the same paths: had bob or carol
	// been relayed, they would have gone out before it.
	a.ast.SetDevice("PJSIP/alice", "ONHOLD")
	await(b, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=ONHOLD")
	await(c, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=ONHOLD")
	for _, w := range c.ast.allWrites() {
		if strings.Contains(w, "bob") {
			t.Errorf("a SIP peer's state was relayed into the fleet: %s", w)
		}
	}
	for _, w := range b.ast.allWrites() {
		if strings.Contains(w, "carol") {
			t.Errorf("a fleet member's state was relayed to a SIP peer: %s", w)
		}
	}
}
