package companion

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// wire is an in-memory SIP hop: a Sender that hands each PUBLISH to the
// other node's handler, as the SIP edge would.
type wire struct {
	mu      sync.Mutex
	handler PublishHandler
	from    netip.AddrPort
	to      string // request-URI user
}

func (w *wire) connect(h PublishHandler) {
	w.mu.Lock()
	w.handler = h
	w.mu.Unlock()
}

func (w *wire) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	w.mu.Lock()
	h := w.handler
	w.mu.Unlock()
	if h == nil {
		<-ctx.Done() // the peer is not up: no answer
		return PublishResult{}, ctx.Err()
	}
	a := h.HandlePublish(ctx, InboundPublish{
		Source: w.from, Transport: "udp", Resource: w.to, URIScheme: "sip",
		Event: string(req.Event), IfMatch: req.IfMatch, Expires: req.Expires,
		ContentType: "application/json", Body: req.Body,
	})
	return PublishResult{Status: a.Status, ETag: a.ETag, Expires: a.Expires}, nil
}

const nodeTOML = `
[companion]
name = "%NAME%"
eid = "%EID%"
sip_listen = ["udp://127.0.0.1:5070"]
[ami]
username = "u"
secret = "s"
[[peer]]
name = "%PEER%"
  [peer.publish]
  server_uri = "sip:%NAME%@127.0.0.1:5070"
  device_state = true
  mailbox_state = true
  device_state_filter = "%OUT%"
  [peer.accept]
  resource = "%PEER%"
  match = ["127.0.0.0/8"]
  device_state = true
  mailbox_state = true
  device_state_filter = "%IN%"
  refresh = true
`

type testNode struct {
	x     *Exchange
	ast   *asteriskDouble
	in    *wire // carries the peer's PUBLISHes to this node
	stop  func()
	start func()
}

func newTestNode(t *testing.T, name, eid, peer, out, in string) *testNode {
	src := strings.NewReplacer("%NAME%", name, "%EID%", eid, "%PEER%", peer, "%OUT%", out, "%IN%", in).Replace(nodeTOML)
	cfg, err := ParseConfig(name+".toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{ast: newAsteriskDouble(), in: &wire{from: netip.MustParseAddrPort("127.0.0.1:5070"), to: peer}}
	n.x = NewExchange(cfg, cfg.Node.EID, ExchangeOptions{
		Sender:         func(*PeerConfig, Event) Sender { return nil }, // replaced by link
		DeviceApplier:  n.ast,
		MailboxApplier: n.ast,
		Logger:         slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Publisher:      PublisherOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Timeout: 50 * time.Millisecond},
	})
	n.start = func() { n.stop = runInBackground(t, "exchange", func(ctx context.Context) { n.x.Run(ctx) }) }
	return n
}

// link makes a's publishers send to b and b's to a.
func link(a, b *testNode) {
	for _, p := range a.x.publishers {
		for _, pub := range p {
			for _, s := range pub.shards {
				s.send = b.in
			}
		}
	}
	for _, p := range b.x.publishers {
		for _, pub := range p {
			for _, s := range pub.shards {
				s.send = a.in
			}
		}
	}
}

func TestExchangeTwoNodes(t *testing.T) {
	a := newTestNode(t, "a", "02:00:00:00:00:0a", "b", "^(PJSIP|MWI)", "^PJSIP/")
	b := newTestNode(t, "b", "02:00:00:00:00:0b", "a", "", "")
	link(a, b)
	// a gives up on b for an hour: only b's refresh request at its
	// start-up can make a send its states.
	for _, byEvent := range a.x.publishers {
		for _, p := range byEvent {
			p.opts.MinBackoff, p.opts.MaxBackoff = time.Hour, time.Hour
		}
	}
	a.in.connect(a.x.Handler())
	// b starts later: a's PUBLISHes go unanswered until then.
	a.start()
	defer a.stop()
	a.x.Observer().Snapshot(KindDevice, []State{
		Device("PJSIP/alice", InUse, true),
		Device("Queue:sales", InUse, true), // a's outbound filter drops it
	})
	b.x.Observer().Snapshot(KindDevice, []State{
		Device("PJSIP/bob", Ringing, true),
		Device("Custom:door", Busy, true), // a's inbound filter drops it
	})
	waitFor(t, "a trying b", func() bool { return a.x.Publisher("b", EventDeviceState).Sent() > 0 })
	b.in.connect(b.x.Handler())
	b.start()
	defer b.stop()

	waitFor(t, "alice on b", func() bool { return b.ast.device("Custom:PJSIP/alice") == InUse })
	// Refresh at b's start-up filled b with what a had before b existed;
	// b's own states reached a.
	waitFor(t, "bob on a", func() bool { return a.ast.device("Custom:PJSIP/bob") == Ringing })

	a.x.Observer().Observe(Device("PJSIP/alice", OnHold, true))
	mb := MailboxID{Box: "100", Context: "default"}
	a.x.Observer().Observe(Mailbox(mb, 1, 3))
	waitFor(t, "change on b", func() bool { return b.ast.device("Custom:PJSIP/alice") == OnHold })
	waitFor(t, "MWI on b", func() bool { return b.ast.box("100@default") == "1/3" })

	// The echo of b's writes does not travel back to a as b's state.
	b.x.Observer().Observe(Device("Custom:PJSIP/alice", OnHold, true))
	b.x.Observer().Observe(Mailbox(mb, 1, 3))
	b.x.Observer().Observe(Device("MWI:100@default", InUse, true))
	if got := b.x.LocalTable.Entries(b.x.eid); len(got) != 2 {
		t.Errorf("b's local table = %v, want only bob and door", got)
	}
	if a.ast.device("Custom:Queue:sales") != 0 || a.ast.device("Custom:Custom:door") != 0 || b.ast.device("Custom:Queue:sales") != 0 {
		t.Error("a filtered state was applied")
	}
	if a.ast.count("device Custom:Custom:door") != 0 {
		t.Error("the inbound filter let Custom:door through")
	}
	if b.ast.count("device Custom:Queue:sales") != 0 {
		t.Error("the outbound filter let Queue:sales through")
	}

	// a stops gracefully: its publications are removed, b clears a's states.
	a.stop()
	waitFor(t, "alice cleared on b", func() bool { return b.ast.device("Custom:PJSIP/alice") == Unavailable })
	waitFor(t, "mailbox cleared on b", func() bool { return b.ast.box("100@default") == "0/0" })
}

// testWriter sends log lines to t.Log, shown only when a test fails.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
