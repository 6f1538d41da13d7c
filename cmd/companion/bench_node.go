package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/cmd/companion/internal/faultnet"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
)

// The bench's topology: companions built in-process (or, for the
// sender of the dump, in a child process) from the same parts newNode
// wires, so that the bench can pass PublisherOptions, which the file
// cannot set.

// variant is one of the two publishers every scenario runs with.
type variant struct {
	name string
	fifo bool // the native-like baseline: one PUBLISH in flight, FIFO
}

var (
	variantCompanion = variant{name: "companion"}
	variantBaseline  = variant{name: "baseline", fifo: true}
)

// publisherOptions and inFlight are what the variant changes.
func (v variant) publisherOptions() companion.PublisherOptions {
	return companion.PublisherOptions{FIFO: v.fifo}
}

func (v variant) inFlight() int {
	if v.fifo {
		return 1
	}
	return companion.DefaultMaxInFlight
}

// benchEIDs: the sender and up to 9 receivers.
const benchSenderEID = "02:00:00:00:0b:00"

func benchReceiverEID(i int) string { return fmt.Sprintf("02:00:00:00:0b:%02x", 0x10+i) }

// senderConfig is the file of the sender: AMI from its simulated
// Asterisk, publishing to every port in peers (each a receiver, or the
// relay in front of it), applying nothing, listening nowhere.
func senderConfig(amiAddr string, peers []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
[companion]
name = "bencha"
eid = %q
state_dir = %q
http_listen = "" # several nodes run at once: none takes the default port

[ami]
address = %q
username = "companion"
secret = "bench"
reconnect_interval = "1h"

[apply]
device_state = "none"
mailbox_state = "none"
`, benchSenderEID, scratchStateDir("bencha", 0), amiAddr)
	for i, port := range peers {
		fmt.Fprintf(&b, `
[[peer]]
name = "recv%d"
  [peer.publish]
  server_uri = "sip:bencha@127.0.0.1:%d"
  device_state = true
  mailbox_state = true
  expiration = 3600
  resend_interval = "off"
`, i, port)
	}
	return b.String()
}

// receiverConfig is the file of receiver i on port: it accepts both
// events from the sender, up to maxKeys of them, and applies them
// through AMI to sinkAMI ("" applies nothing).
func receiverConfig(i, port int, sinkAMI string, maxKeys int) string {
	var b strings.Builder
	name := fmt.Sprintf("recv%d", i)
	fmt.Fprintf(&b, `
[companion]
name = %q
eid = %q
sip_listen = ["udp://127.0.0.1:%d"]
state_dir = %q
http_listen = ""
`, name, benchReceiverEID(i), port, scratchStateDir(name, port))
	if sinkAMI != "" {
		fmt.Fprintf(&b, `
[ami]
address = %q
username = "companion"
secret = "bench"
reconnect_interval = "1h"
`, sinkAMI)
	} else {
		b.WriteString(`
[apply]
device_state = "none"
mailbox_state = "none"
`)
	}
	fmt.Fprintf(&b, `
[[peer]]
name = "bencha"
  [peer.accept]
  resource = "bencha"
  match = ["127.0.0.1/32"]
  device_state = true
  mailbox_state = true
  max_keys = %d
`, maxKeys)
	return b.String()
}

// benchNode is one running companion of the bench.
type benchNode struct {
	n    *node
	stop context.CancelFunc
	done chan error
}

// startBenchNode parses src, builds the companion as newNode does, but
// with the variant's publisher, and runs it.
func startBenchNode(src string, v variant, log *slog.Logger) (*benchNode, error) {
	cfg, err := config.Parse("bench.toml", []byte(src))
	if err != nil {
		return nil, err
	}
	return startBenchNodeConfig(cfg, v, log)
}

// startBenchNodeConfig is startBenchNode with the file parsed: the bench
// may change what the file cannot express (a publisher without [ami],
// whose local table the bench sets itself).
func startBenchNodeConfig(cfg *companion.Config, v variant, log *slog.Logger) (*benchNode, error) {
	for i := range cfg.Peers {
		if p := cfg.Peers[i].Publish; p != nil {
			p.MaxInFlight = v.inFlight()
		}
	}
	n, err := newNodeWith(context.Background(), cfg, log, v.publisherOptions())
	if err != nil {
		return nil, err
	}
	n.out = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	b := &benchNode{n: n, stop: cancel, done: make(chan error, 1)}
	go func() { b.done <- n.run(ctx, "", nil) }()
	return b, nil
}

// close stops the companion, bounded: a graceful stop removes the
// publications, 3 s at most each.
func (b *benchNode) close() error {
	if b == nil || b.stop == nil {
		return nil
	}
	b.stop()
	b.stop = nil
	select {
	case err := <-b.done:
		return err
	case <-time.After(20 * time.Second):
		return fmt.Errorf("a companion did not stop within 20 s")
	}
}

// held is how many states the receiver holds from the sender.
func (b *benchNode) held() int {
	eid, _ := companion.ParseEntityID(benchSenderEID)
	return b.n.x.RemoteTable.Len(eid)
}

// wireWatch timestamps the PUBLISHes a relay forwards: the moment a body
// naming a key goes on the wire.
type wireWatch struct {
	mu    sync.Mutex
	first map[string]time.Time // "device=state" or "box=old/new" → first seen
	seen  int                  // PUBLISHes with a state body
}

func newWireWatch() *wireWatch { return &wireWatch{first: map[string]time.Time{}} }

// observe is the relay's Drop hook: it never drops.
func (w *wireWatch) observe(p []byte) bool {
	now := time.Now()
	key, ok := wireKey(p)
	if !ok {
		return false
	}
	w.mu.Lock()
	w.seen++
	if _, dup := w.first[key]; !dup {
		w.first[key] = now
	}
	w.mu.Unlock()
	return false
}

// at returns when key was first seen on the wire.
func (w *wireWatch) at(key string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.first[key]
	return t, ok
}

func (w *wireWatch) distinct() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.first)
}

// wireKey reads "device=state" from a devicestate PUBLISH body. The
// bench's own names need no JSON unescaping.
func wireKey(p []byte) (string, bool) {
	dev, ok := jsonField(p, `"device":"`)
	if !ok {
		return "", false
	}
	st, ok := jsonField(p, `"state":"`)
	if !ok {
		return "", false
	}
	return dev + "=" + st, true
}

func jsonField(p []byte, prefix string) (string, bool) {
	i := bytes.Index(p, []byte(prefix))
	if i < 0 {
		return "", false
	}
	rest := p[i+len(prefix):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// newDelayRelay puts a relay in front of the receiver on target, delaying
// each direction by rtt/2 and showing every forwarded datagram to watch.
func newDelayRelay(target int, rtt time.Duration, watch *wireWatch) (*faultnet.UDPRelay, error) {
	r, err := faultnet.NewUDPRelay("", fmt.Sprintf("127.0.0.1:%d", target), 1)
	if err != nil {
		return nil, err
	}
	setRelayRTT(r, rtt, watch)
	return r, nil
}

func setRelayRTT(r *faultnet.UDPRelay, rtt time.Duration, watch *wireWatch) {
	f := faultnet.Faults{Delay: rtt / 2}
	if watch != nil {
		f.Drop = watch.observe
	}
	r.Set(faultnet.Forward, f)
	r.Set(faultnet.Back, faultnet.Faults{Delay: rtt / 2})
}

// sink records, per device, the last state a receiver wrote into its
// simulated Asterisk, and keeps count of the devices that hold the state
// the bench expects, so that polling it costs nothing: the bench shares
// the CPU with the companions it measures.
type sink struct {
	mu      sync.Mutex
	last    map[string]string
	want    map[string]string
	matched int       // devices of want whose last write is their wanted state
	latest  time.Time // the latest of those writes
}

func newSink(ast *simAsterisk) *sink {
	s := &sink{last: map[string]string{}}
	ast.setSink(s.record)
	return s
}

func (s *sink) record(w string, at time.Time) {
	v, ok := strings.CutPrefix(w, "Setvar DEVICE_STATE(Custom:")
	if !ok {
		return
	}
	dev, state, ok := strings.Cut(v, ")=")
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.last[dev]
	s.last[dev] = state
	wanted, ok := s.want[dev]
	switch {
	case !ok:
	case state == wanted && old != wanted:
		s.matched++
		s.latest = maxTime(s.latest, at)
	case state != wanted && old == wanted:
		s.matched--
	}
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// expect makes want the states matching counts. Writes before it count
// as arriving now.
func (s *sink) expect(want map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want, s.matched, s.latest = want, 0, time.Time{}
	for d, st := range want {
		if s.last[d] == st {
			s.matched++
			s.latest = time.Now()
		}
	}
}

// matching counts the expected devices whose last write is their wanted
// state, and returns the latest arrival among them.
func (s *sink) matching() (int, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.matched, s.latest
}

// awaitCond polls cond until it holds or within passes; progress is
// called now and then with what cond reported.
func awaitCond(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
