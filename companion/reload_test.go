package companion

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The reload of a running exchange, with peers as fake Senders and the
// local Asterisk as an asteriskDouble.

const reloadNodeTOML = `
[companion]
name = "a"
eid = "02:00:00:00:00:0a"
sip_listen = ["udp://127.0.0.1:5070"]
[ami]
username = "u"
secret = "s"
`

// reloadPeer is one [[peer]] of the rig: it publishes to and accepts from
// a, both events; publish and accept are extra lines of each table.
type reloadPeer struct {
	name, server    string // server: host of server_uri
	publish, accept string
}

func reloadConfig(t *testing.T, peers ...reloadPeer) *Config {
	t.Helper()
	src := reloadNodeTOML
	for _, p := range peers {
		if p.server == "" {
			p.server = p.name + ".example"
		}
		src += fmt.Sprintf(`
[[peer]]
name = %q
  [peer.publish]
  server_uri = "sip:a@%s:5060"
  device_state = true
  mailbox_state = true
  max_in_flight = 1 # one publication per event: the removals are counted per event
  %s
  [peer.accept]
  resource = %q
  match = ["127.0.0.0/8"]
  device_state = true
  mailbox_state = true
  qualify_frequency = "off"
  %s
`, p.name, p.server, p.publish, p.name, p.accept)
	}
	cfg, err := ParseConfig("a.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sentRequest is one PUBLISH a fake peer received.
type sentRequest struct {
	peer, server string // the peer, and the server_uri of its sender
	req          PublishRequest
	body         string // "name STATE" of a state body, "refresh", "" for none
}

// fakePeers are the Senders of every publication: each answers like a
// receiver keeping publications (200 with a new tag, 412 for an unknown
// tag) and records what it got.
type fakePeers struct {
	t    *testing.T
	mu   sync.Mutex
	sent []sentRequest
	tag  int
	live map[string]bool
}

func (f *fakePeers) sender(peer *PeerConfig, ev Event) Sender {
	return fakeSender{f: f, peer: peer.Name, server: peer.Publish.ServerURI.String()}
}

type fakeSender struct {
	f            *fakePeers
	peer, server string
}

func (s fakeSender) Publish(_ context.Context, req PublishRequest) (PublishResult, error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r := sentRequest{peer: s.peer, server: s.server, req: req}
	if req.Body != nil {
		m, err := DecodeMessage(req.Event, req.Body)
		if err != nil {
			f.t.Errorf("undecodable body %q: %v", req.Body, err)
		}
		r.body = m.State.String()
		if m.Type == MessageRefresh {
			r.body = "refresh"
		}
	}
	f.sent = append(f.sent, r)
	if req.IfMatch != "" && !f.live[req.IfMatch] {
		return PublishResult{Status: 412, Expires: -1}, nil
	}
	delete(f.live, req.IfMatch)
	if req.Expires == 0 {
		return PublishResult{Status: 200}, nil
	}
	f.tag++
	tag := strconv.Itoa(f.tag)
	f.live[tag] = true
	return PublishResult{Status: 200, ETag: tag, Expires: req.Expires}, nil
}

// to returns the requests peer got, from the n-th on.
func (f *fakePeers) to(peer string, from int) []sentRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentRequest
	n := 0
	for _, r := range f.sent {
		if r.peer != peer {
			continue
		}
		if n >= from {
			out = append(out, r)
		}
		n++
	}
	return out
}

func (f *fakePeers) count(peer string) int { return len(f.to(peer, 0)) }

// got reports whether peer got every body in want (through server, if
// not "") from the n-th request on.
func (f *fakePeers) got(peer, server string, from int, want ...string) func() bool {
	return func() bool {
		var bodies []string
		for _, r := range f.to(peer, from) {
			if server == "" || r.server == server {
				bodies = append(bodies, r.body)
			}
		}
		for _, w := range want {
			if !slices.Contains(bodies, w) {
				return false
			}
		}
		return true
	}
}

type reloadRig struct {
	t     *testing.T
	x     *Exchange
	peers *fakePeers
	ast   *asteriskDouble
	stop  func()
}

// Our own states, in the local table before the exchange runs, so that
// each goes to each peer exactly once.
var (
	ownStates = []State{Device("PJSIP/alice", InUse, true), Device("Queue:sales", Busy, true)}
	ownBox    = Mailbox(MailboxID{Box: "100", Context: "default"}, 1, 2)
	ownBodies = []string{"PJSIP/alice INUSE", "Queue:sales BUSY", ownBox.String()}
)

func newReloadRig(t *testing.T, cfg *Config) *reloadRig {
	g := &reloadRig{t: t, peers: &fakePeers{t: t, live: map[string]bool{}}, ast: newAsteriskDouble()}
	g.x = NewExchange(cfg, cfg.Node.EID, ExchangeOptions{
		Sender:         g.peers.sender,
		DeviceApplier:  g.ast,
		MailboxApplier: g.ast,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Publisher:      PublisherOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
	})
	g.x.Observer().Snapshot(KindDevice, ownStates)
	g.x.Observer().Snapshot(KindMailbox, []State{ownBox})
	g.stop = runInBackground(t, "exchange", func(ctx context.Context) { g.x.Run(ctx) })
	t.Cleanup(func() { g.stop() })
	for i := range cfg.Peers {
		g.synced(cfg.Peers[i].Name)
	}
	return g
}

// synced waits until peer holds all our states.
func (g *reloadRig) synced(peer string) {
	g.t.Helper()
	waitFor(g.t, peer+" holding our states", g.peers.got(peer, "", 0, ownBodies...))
}

// assert has peer publish a device state to a under the EID 02:…:<peer's
// last letter>; it wants a 200.
func (g *reloadRig) assert(peer, device, state string) {
	g.t.Helper()
	if a := g.publishFrom(peer, device, state); a.Status != 200 {
		g.t.Fatalf("%s's PUBLISH of %s answered %d", peer, device, a.Status)
	}
}

func (g *reloadRig) publishFrom(peer, device, state string) Answer {
	g.t.Helper()
	eid := "02:00:00:00:00:0" + peer[len(peer)-1:]
	body := fmt.Sprintf(`{"type":"devicestate","device":%q,"state":%q,"cachable":1,"eid":%q}`, device, state, eid)
	return g.x.Handler().HandlePublish(context.Background(), InboundPublish{
		Source: netip.MustParseAddrPort("127.0.0.2:5060"), Transport: "udp", Resource: peer, URIScheme: "sip",
		Event: string(EventDeviceState), Expires: 3600, ContentType: "application/json", Body: []byte(body),
	})
}

func (g *reloadRig) reload(cfg *Config) ConfigDiff {
	g.t.Helper()
	d, err := g.x.Reload(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	return d
}

// A peer added gets our states; the others are not touched, and its
// PUBLISHes are taken at once.
func TestReloadAddsAPeer(t *testing.T) {
	b := reloadPeer{name: "b"}
	g := newReloadRig(t, reloadConfig(t, b))
	before := g.peers.count("b")

	d := g.reload(reloadConfig(t, b, reloadPeer{name: "c"}))
	if !slices.Equal(d.Added, []string{"c"}) || len(d.Removed)+len(d.Changed)+len(d.Restart) != 0 {
		t.Errorf("diff %+v, want c added only", d)
	}
	g.synced("c")
	if n := g.peers.count("b"); n != before {
		t.Errorf("b got %d PUBLISHes after the reload: %v", n-before, g.peers.to("b", before))
	}
	g.assert("c", "PJSIP/carol", "RINGING")
	waitFor(t, "c's state applied", func() bool { return g.ast.device("Custom:PJSIP/carol") == Ringing })
}

// A peer removed: our publications to it are removed (Expires: 0), the
// states it asserted cleared; another peer's states and publications are
// not touched.
func TestReloadRemovesAPeer(t *testing.T) {
	b, c := reloadPeer{name: "b"}, reloadPeer{name: "c"}
	g := newReloadRig(t, reloadConfig(t, b, c))
	g.assert("b", "PJSIP/bob", "INUSE")
	g.assert("c", "PJSIP/carol", "INUSE")
	waitFor(t, "bob and carol applied", func() bool {
		return g.ast.device("Custom:PJSIP/bob") == InUse && g.ast.device("Custom:PJSIP/carol") == InUse
	})
	toB, toC := g.peers.count("b"), g.peers.count("c")

	d := g.reload(reloadConfig(t, c))
	if !slices.Equal(d.Removed, []string{"b"}) || len(d.Added)+len(d.Changed) != 0 {
		t.Errorf("diff %+v, want b removed only", d)
	}
	// Reload returns once the removals are answered.
	var removed []Event
	for _, r := range g.peers.to("b", toB) {
		if r.req.Expires != 0 || r.req.IfMatch == "" || r.body != "" {
			t.Errorf("b got %+v after its removal, want only removals", r)
		}
		removed = append(removed, r.req.Event)
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []Event{EventDeviceState, EventMWI}) {
		t.Errorf("removals %v, want one per event", removed)
	}
	waitFor(t, "bob cleared", func() bool { return g.ast.device("Custom:PJSIP/bob") == Unavailable })
	if n := g.ast.count("device Custom:PJSIP/carol"); n != 1 || g.ast.device("Custom:PJSIP/carol") != InUse {
		t.Errorf("carol written %d times, now %v; want once, INUSE", n, g.ast.device("Custom:PJSIP/carol"))
	}
	if n := g.peers.count("c"); n != toC {
		t.Errorf("c got %d PUBLISHes after the reload: %v", n-toC, g.peers.to("c", toC))
	}
	if a := g.publishFrom("b", "PJSIP/bob", "BUSY"); a.Status != 404 {
		t.Errorf("a PUBLISH from the removed peer answered %d, want 404", a.Status)
	}
}

// An accept filter narrowed: the peer's states it now refuses are
// cleared, its others and other peers' untouched, and no PUBLISH goes to
// any peer.
func TestReloadNarrowsAnAcceptFilter(t *testing.T) {
	b, c := reloadPeer{name: "b"}, reloadPeer{name: "c"}
	g := newReloadRig(t, reloadConfig(t, b, c))
	g.assert("b", "PJSIP/bob", "INUSE")
	g.assert("b", "Queue:support", "BUSY")
	g.assert("c", "Queue:sales", "INUSE")
	waitFor(t, "b's and c's states applied", func() bool {
		return g.ast.device("Custom:PJSIP/bob") == InUse && g.ast.device("Custom:Queue:support") == Busy &&
			g.ast.device("Custom:Queue:sales") == InUse
	})
	toB, toC := g.peers.count("b"), g.peers.count("c")

	b.accept = `device_state_filter = "^PJSIP/"`
	d := g.reload(reloadConfig(t, b, c))
	if len(d.Changed) != 1 || d.Changed[0].Name != "b" || !slices.Equal(d.Changed[0].Fields, []string{"accept.device_state_filter"}) {
		t.Errorf("diff %+v, want b's accept.device_state_filter changed", d)
	}
	waitFor(t, "Queue:support cleared", func() bool { return g.ast.device("Custom:Queue:support") == Unavailable })
	for _, dev := range []string{"PJSIP/bob", "Queue:sales"} {
		if n := g.ast.count("device Custom:" + dev + " "); n != 1 {
			t.Errorf("%s written %d times, want once (untouched)", dev, n)
		}
	}
	if nb, nc := g.peers.count("b"), g.peers.count("c"); nb != toB || nc != toC {
		t.Errorf("PUBLISHes after the reload: %v to b, %v to c; want none", g.peers.to("b", toB), g.peers.to("c", toC))
	}
	// The new filter holds for what comes next.
	g.assert("b", "Queue:other", "BUSY")
	g.assert("b", "PJSIP/dave", "BUSY")
	waitFor(t, "dave applied", func() bool { return g.ast.device("Custom:PJSIP/dave") == Busy })
	if g.ast.count("device Custom:Queue:other") != 0 {
		t.Error("a state the new filter refuses was applied")
	}
}

// An accept filter that may take more asks the peer for its state (a
// refresh request), and sends it nothing else.
func TestReloadWidensAnAcceptFilter(t *testing.T) {
	b := reloadPeer{name: "b", accept: "refresh = true\n  device_state_filter = \"^PJSIP/\""}
	g := newReloadRig(t, reloadConfig(t, b))
	waitFor(t, "the refresh request at start", g.peers.got("b", "", 0, "refresh"))
	toB := g.peers.count("b")

	b.accept = "refresh = true"
	g.reload(reloadConfig(t, b))
	waitFor(t, "a refresh request", g.peers.got("b", "", toB, "refresh"))
	for _, r := range g.peers.to("b", toB) {
		if r.body != "refresh" {
			t.Errorf("b got %+v, want only the refresh request", r)
		}
	}
}

// A publish filter narrowed: the keys it now refuses go to that peer once,
// as cleared; nothing else is sent to it or to any other peer.
func TestReloadNarrowsAPublishFilter(t *testing.T) {
	b, c := reloadPeer{name: "b"}, reloadPeer{name: "c"}
	g := newReloadRig(t, reloadConfig(t, b, c))
	toB, toC := g.peers.count("b"), g.peers.count("c")

	b.publish = `device_state_filter = "^PJSIP/"`
	d := g.reload(reloadConfig(t, b, c))
	if len(d.Changed) != 1 || !slices.Equal(d.Changed[0].Fields, []string{"publish.device_state_filter"}) {
		t.Errorf("diff %+v, want b's publish.device_state_filter changed", d)
	}
	waitFor(t, "Queue:sales cleared on b", g.peers.got("b", "", toB, "Queue:sales UNKNOWN"))
	if got := g.peers.to("b", toB); len(got) != 1 {
		t.Errorf("b got %d PUBLISHes after the reload, want 1 (the cleared key): %v", len(got), got)
	}
	if n := g.peers.count("c"); n != toC {
		t.Errorf("c got %d PUBLISHes after the reload: %v", n-toC, g.peers.to("c", toC))
	}
	// Later changes follow the new filter.
	g.x.Observer().Observe(Device("Queue:sales", InUse, true))
	g.x.Observer().Observe(Device("PJSIP/alice", Ringing, true))
	waitFor(t, "alice's change on b", g.peers.got("b", "", toB, "PJSIP/alice RINGING"))
	waitFor(t, "both changes on c", g.peers.got("c", "", toC, "PJSIP/alice RINGING", "Queue:sales INUSE"))
	for _, r := range g.peers.to("b", toB) {
		if r.body == "Queue:sales INUSE" {
			t.Error("b got a key its new filter refuses")
		}
	}
}

// New credentials and server_uri: that peer's publications restart (the
// old ones removed, the new ones carrying everything); the other peer is
// not touched.
func TestReloadRestartsThePublicationsOfAChangedTarget(t *testing.T) {
	b, c := reloadPeer{name: "b"}, reloadPeer{name: "c"}
	g := newReloadRig(t, reloadConfig(t, b, c))
	toB, toC := g.peers.count("b"), g.peers.count("c")

	b.server, b.publish = "b2.example", "username = \"a\"\n  password = \"s3cret-b\""
	d := g.reload(reloadConfig(t, b, c))
	want := []string{"publish.server_uri", "publish.from_uri", "publish.to_uri", "publish.username", "publish.password"}
	if len(d.Changed) != 1 || !slices.Equal(d.Changed[0].Fields, want) {
		t.Errorf("diff %+v, want b's %v changed", d, want)
	}
	if s := fmt.Sprintf("%+v", d); strings.Contains(s, "s3cret") {
		t.Errorf("the diff shows a password: %s", s)
	}
	old := "sip:a@b.example:5060"
	var removed []Event
	for _, r := range g.peers.to("b", toB) {
		if r.server == old {
			if r.req.Expires != 0 {
				t.Errorf("the old publication got %+v after the reload", r)
			}
			removed = append(removed, r.req.Event)
		}
	}
	slices.Sort(removed)
	if !slices.Equal(removed, []Event{EventDeviceState, EventMWI}) {
		t.Errorf("removals on the old target %v, want one per event", removed)
	}
	waitFor(t, "our states on the new target", g.peers.got("b", "sip:a@b2.example:5060", toB, ownBodies...))
	if n := g.peers.count("c"); n != toC {
		t.Errorf("c got %d PUBLISHes after the reload: %v", n-toC, g.peers.to("c", toC))
	}
}

// Reload after Run has returned is refused; before Run it sets up what
// Run will start.
func TestReloadOutsideRun(t *testing.T) {
	peers := &fakePeers{t: t, live: map[string]bool{}}
	x := NewExchange(reloadConfig(t), mustEIDv("02:00:00:00:00:0a"), ExchangeOptions{Sender: peers.sender})
	if _, err := x.Reload(reloadConfig(t, reloadPeer{name: "b"})); err != nil {
		t.Fatal(err)
	}
	x.Observer().Snapshot(KindDevice, ownStates)
	stop := runInBackground(t, "exchange", func(ctx context.Context) { x.Run(ctx) })
	waitFor(t, "b holding alice", peers.got("b", "", 0, "PJSIP/alice INUSE"))
	stop()
	if _, err := x.Reload(reloadConfig(t)); err != ErrExchangeStopped {
		t.Errorf("Reload after Run: %v, want ErrExchangeStopped", err)
	}
}
