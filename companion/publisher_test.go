package companion

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// peerDouble is a Sender standing for a peer that keeps publications
// like Receiver does, scripted to fail or stall on demand.
type peerDouble struct {
	t *testing.T

	mu       sync.Mutex
	reqs     []PublishRequest
	etag     int
	live     string                // current entity tag
	held     map[string]string     // key → last body received
	script   []func() (int, error) // answers for the next requests, then 200
	gate     chan struct{}         // when set, each Publish waits for a receive
	received chan PublishRequest
	grant    int // Expires granted; 0: as asked
}

func newPeerDouble(t *testing.T) *peerDouble {
	return &peerDouble{t: t, held: map[string]string{}, received: make(chan PublishRequest, 1000)}
}

func (d *peerDouble) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	d.mu.Lock()
	gate := d.gate
	d.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			// Like UDP: the caller gives up, the request still arrives.
			go func() { <-gate; d.process(req) }()
			return PublishResult{}, ctx.Err()
		}
	}
	return d.process(req)
}

func (d *peerDouble) process(req PublishRequest) (PublishResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reqs = append(d.reqs, req)
	d.received <- req
	if len(d.script) > 0 {
		f := d.script[0]
		d.script = d.script[1:]
		if st, err := f(); err != nil || st != 200 {
			return PublishResult{Status: st, Expires: -1, MinExpires: 7200}, err
		}
	}
	if req.IfMatch != "" && req.IfMatch != d.live {
		return PublishResult{Status: 412, Expires: -1}, nil
	}
	if req.Expires == 0 {
		d.live = ""
		return PublishResult{Status: 200, Expires: 0}, nil
	}
	if req.Body != nil {
		m, err := DecodeMessage(req.Event, req.Body)
		if err != nil {
			d.t.Errorf("undecodable body %q: %v", req.Body, err)
		}
		d.held[m.State.Key.Name] = m.State.String()
		if m.Type == MessageRefresh {
			d.held["refresh"] = "asked"
		}
	}
	d.etag++
	d.live = strconv.Itoa(d.etag)
	granted := req.Expires
	if d.grant > 0 {
		granted = d.grant
	}
	return PublishResult{Status: 200, ETag: d.live, Expires: granted}, nil
}

func (d *peerDouble) holds(key, want string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held[key] == want
}

func (d *peerDouble) requests() []PublishRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]PublishRequest(nil), d.reqs...)
}

// waitFor polls cond; every wait in these tests is bounded.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testPeer(refresh bool, filter string) *PeerConfig {
	p := &PeerConfig{Name: "b", Publish: &PublishConfig{
		DeviceState: true, MailboxState: true, Expiration: time.Hour,
		DeviceStateFilter: MustCompileFilter(filter), MaxInFlight: 1,
	}}
	if refresh {
		p.Accept = &AcceptConfig{Resource: "b", Refresh: true}
	}
	return p
}

// one is the Sender factory of a publisher whose publications all send
// through s.
func one(s Sender) func() Sender { return func() Sender { return s } }

func startPublisher(t *testing.T, p *Publisher) (stop func()) {
	return runInBackground(t, "publisher", func(ctx context.Context) { p.Run(ctx) })
}

var (
	meEID    = mustEIDv("02:00:00:00:00:01")
	otherEID = mustEIDv("02:00:00:00:00:09")
)

func mustEIDv(s string) EntityID {
	e, err := ParseEntityID(s)
	if err != nil {
		panic(err)
	}
	return e
}

func TestPublisherSendsRefreshThenStateWithEntityTags(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	local.Set(otherEID, Device("PJSIP/relayed", InUse, true)) // a peer's: never sent
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(true, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	waitFor(t, "alice at the peer", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })
	local.Set(meEID, Device("PJSIP/alice", Ringing, true))
	local.Set(meEID, Mailbox(MailboxID{Box: "1", Context: "x"}, 0, 1)) // other event
	waitFor(t, "ringing", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice RINGING") })
	stop()

	reqs := d.requests()
	if len(reqs) != 4 {
		t.Fatalf("requests = %d, want refresh, alice, alice again, removal: %+v", len(reqs), reqs)
	}
	if string(reqs[0].Body) != `{"type":"refresh","eid":"02:00:00:00:00:01"}` || reqs[0].IfMatch != "" {
		t.Errorf("first request %+v, want the refresh request starting the publication", reqs[0])
	}
	want := `{"type":"devicestate","device":"PJSIP/alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`
	if string(reqs[1].Body) != want || reqs[1].IfMatch != "1" || reqs[1].Expires != 3600 || reqs[1].Event != EventDeviceState {
		t.Errorf("second request %+v", reqs[1])
	}
	if reqs[2].IfMatch != "2" {
		t.Errorf("third request If-Match %q, want the last SIP-ETag", reqs[2].IfMatch)
	}
	if last := reqs[3]; last.Expires != 0 || last.IfMatch != "3" || last.Body != nil {
		t.Errorf("shutdown request %+v, want a removal", last)
	}
	if d.holds("PJSIP/relayed", "PJSIP/relayed INUSE") {
		t.Error("a peer's state was relayed")
	}
}

func TestPublisherCoalescesWhilePeerIsSlow(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", NotInUse, true))
	d := newPeerDouble(t)
	gate := make(chan struct{})
	d.gate = gate
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()

	// The first PUBLISH is in flight (blocked in the peer) while the
	// device changes 100 times.
	states := []DeviceState{InUse, Ringing, Busy, OnHold, NotInUse}
	for i := range 100 {
		local.Set(meEID, Device("PJSIP/alice", states[i%len(states)], true))
	}
	local.Set(meEID, Device("PJSIP/alice", Unavailable, true))
	close(gate)
	waitFor(t, "the last value", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice UNAVAILABLE") })
	if n := len(d.requests()); n > 3 {
		t.Errorf("%d PUBLISHes for 101 changes, want coalescing (at most 3)", n)
	}
}

func TestPublisherDeliversNewestAfterOutage(t *testing.T) {
	local := NewTable()
	d := newPeerDouble(t)
	down := true
	var mu sync.Mutex
	fail := func() (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 0, errors.New("timeout")
		}
		return 200, nil
	}
	for range 1000 {
		d.script = append(d.script, fail)
	}
	p := NewPublisher(testPeer(false, ""), EventMWI, meEID, local, one(d), PublisherOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	stop := startPublisher(t, p)
	defer stop()
	for i := range 20 {
		local.Set(meEID, Mailbox(MailboxID{Box: strconv.Itoa(i % 5), Context: "default"}, i, i+1))
	}
	waitFor(t, "retries during the outage", func() bool { return len(d.requests()) >= 5 })
	mu.Lock()
	down = false
	mu.Unlock()
	for i := 15; i < 20; i++ {
		box := strconv.Itoa(i%5) + "@default"
		want := box + " new=" + strconv.Itoa(i+1) + " old=" + strconv.Itoa(i)
		waitFor(t, want, func() bool { return d.holds(box, want) })
	}
}

func TestPublisherStartsAnewAfter412AndAdopts423(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/a", InUse, true))
	local.Set(meEID, Device("PJSIP/b", Busy, true))
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{MinBackoff: time.Millisecond})
	stop := startPublisher(t, p)
	waitFor(t, "b", func() bool { return d.holds("PJSIP/b", "PJSIP/b BUSY") })

	// The peer restarts: it forgets the publication and its states.
	d.mu.Lock()
	d.live, d.held = "", map[string]string{}
	d.script = []func() (int, error){func() (int, error) { return 423, nil }}
	d.mu.Unlock()
	local.Set(meEID, Device("PJSIP/a", Ringing, true))
	waitFor(t, "full state after 412", func() bool {
		return d.holds("PJSIP/a", "PJSIP/a RINGING") && d.holds("PJSIP/b", "PJSIP/b BUSY")
	})
	stop()
	var sawMin bool
	for _, r := range d.requests() {
		if r.Expires == 7200 {
			sawMin = true
		}
		if r.IfMatch == "" && r.Expires != 0 && r.Body == nil {
			t.Errorf("a body-less initial PUBLISH was sent: %+v", r)
		}
	}
	if !sawMin {
		t.Error("Min-Expires of the 423 not adopted")
	}
}

func TestPublisherFilterAndDump(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	local.Set(meEID, Device("Queue:sales", InUse, true))
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(false, "^pjsip/"), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "alice", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })
	n := len(d.requests())
	p.Dump()
	waitFor(t, "dump", func() bool { return len(d.requests()) > n })
	for _, r := range d.requests() {
		if m, _ := DecodeMessage(r.Event, r.Body); m.State.Key.Name == "Queue:sales" {
			t.Fatal("filtered device sent")
		}
	}
}

func TestPublisherRefreshesBeforeExpiry(t *testing.T) {
	for granted, want := range map[int]time.Duration{
		60:   54 * time.Second,
		3600: 3240 * time.Second,
		20:   15 * time.Second,
		6:    3 * time.Second,
	} {
		if got := refreshDelay(granted); got != want {
			t.Errorf("refreshDelay(%d) = %v, want %v", granted, got, want)
		}
	}
}

func TestPublisherHoldsBackOnEIDConflict(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	d := newPeerDouble(t)
	var blocked sync.Mutex
	isBlocked := true
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		Blocked:    func() bool { blocked.Lock(); defer blocked.Unlock(); return isBlocked },
	})
	stop := startPublisher(t, p)
	defer stop()
	time.Sleep(30 * time.Millisecond) // give it the chance to misbehave
	if n := len(d.requests()); n != 0 {
		t.Fatalf("%d PUBLISHes to a peer sharing our EID", n)
	}
	blocked.Lock()
	isBlocked = false
	blocked.Unlock()
	waitFor(t, "alice once unblocked", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })
}

func TestPublisherRefreshesTheGrantedExpiry(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	d := newPeerDouble(t)
	d.grant = 1 // the peer grants one second: refresh after half of it
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "two refreshes", func() bool {
		n := 0
		for _, r := range d.requests() {
			if r.Body == nil && r.IfMatch != "" && r.Expires == 3600 {
				n++
			}
		}
		return n >= 2
	})
	if !d.holds("PJSIP/alice", "PJSIP/alice INUSE") {
		t.Error("state lost")
	}
}

func TestPublisherRemovalNamesTagOfPublishInFlightAtShutdown(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	waitFor(t, "alice", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })

	gate := make(chan struct{})
	d.mu.Lock()
	d.gate = gate
	d.mu.Unlock()
	local.Set(meEID, Device("PJSIP/alice", Busy, true))
	waitFor(t, "the modify in flight", func() bool { return p.Sent() == 2 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(10 * time.Millisecond) // shutdown has begun
	close(gate)                       // the peer answers the modify after all
	<-stopped
	reqs := d.requests()
	last := reqs[len(reqs)-1]
	if last.Expires != 0 || last.IfMatch != "2" {
		t.Fatalf("last request %+v, want a removal naming the modify's tag 2", last)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live != "" {
		t.Error("the publication outlived the shutdown")
	}
}

// A publisher abandoned on an error exit leaves its publication to expire:
// no Expires: 0, so the peer keeps our states until we are back.
func TestPublisherAbandonedSendsNoRemoval(t *testing.T) {
	for _, abandon := range []bool{false, true} {
		local := NewTable()
		local.Set(meEID, Device("PJSIP/alice", InUse, true))
		d := newPeerDouble(t)
		p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
		stop := startPublisher(t, p)
		waitFor(t, "alice", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })
		if abandon {
			p.Abandon()
		}
		stop()
		removals := 0
		for _, r := range d.requests() {
			if r.Expires == 0 {
				removals++
			}
		}
		if want := map[bool]int{false: 1, true: 0}[abandon]; removals != want {
			t.Errorf("abandoned=%v: %d removals, want %d", abandon, removals, want)
		}
	}
}

// AskRefresh (the peer is back after a silence) sends a refresh request
// at once, as at start.
func TestPublisherAskRefresh(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/alice", InUse, true))
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(true, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "alice at the peer", func() bool { return d.holds("PJSIP/alice", "PJSIP/alice INUSE") })
	refreshes := func() int {
		n := 0
		for _, r := range d.requests() {
			if strings.Contains(string(r.Body), `"type":"refresh"`) {
				n++
			}
		}
		return n
	}
	if n := refreshes(); n != 1 {
		t.Fatalf("%d refresh requests at start", n)
	}
	p.AskRefresh()
	waitFor(t, "a second refresh request", func() bool { return refreshes() == 2 })
	if r := d.requests()[2]; r.IfMatch == "" {
		t.Errorf("refresh request outside the publication: %+v", r)
	}
}

// sentNames lists the device names of the state PUBLISHes from index from.
func sentNames(d *peerDouble, from int) []string {
	var out []string
	for _, r := range d.requests()[from:] {
		if m, err := DecodeMessage(r.Event, r.Body); err == nil && m.Type == MessageDeviceState {
			out = append(out, m.State.String())
		}
	}
	return out
}

// A change made while a full send is queued goes out before the rest of
// it, right after the PUBLISH in flight.
func TestPublisherLiveChangesGoBeforeAFullSend(t *testing.T) {
	local := NewTable()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		local.Set(meEID, Device(n, NotInUse, true))
	}
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "the start's full send", func() bool { return len(d.requests()) == 5 })

	gate := make(chan struct{})
	d.mu.Lock()
	d.gate = gate
	d.mu.Unlock()
	p.Dump() // the same full send as a resend's
	// Nothing goes out until the gate opens: at most one PUBLISH of the
	// full send is in flight when the changes come.
	local.Set(meEID, Device("d", Busy, true))
	local.Set(meEID, Device("z", Ringing, true))
	close(gate)
	waitFor(t, "the full send and the changes", func() bool { return len(d.requests()) == 11 })

	got := sentNames(d, 5)
	pos := map[string]int{}
	for i, s := range got {
		pos[s] = i
	}
	for _, live := range []string{"d BUSY", "z RINGING"} {
		i, ok := pos[live]
		if !ok || i > 2 {
			t.Errorf("%s sent at %d (of %v), want right after the one in flight", live, i, got)
		}
	}
	if len(got) != 6 || pos["d BUSY"] > pos["z RINGING"] {
		t.Errorf("sent %v: want 6 PUBLISHes, one per key, changes in their order", got)
	}
	for _, bulk := range []string{"a", "b", "c", "e"} {
		if _, ok := pos[bulk+" NOT_INUSE"]; !ok {
			t.Errorf("%s not sent again: %v", bulk, got)
		}
	}
}

// Every resend_interval the whole state goes out again.
func TestPublisherResendsAfterTheInterval(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("a", InUse, true))
	local.Set(meEID, Device("b", Busy, true))
	d := newPeerDouble(t)
	peer := testPeer(false, "")
	peer.Publish.ResendInterval = 20 * time.Millisecond
	p := NewPublisher(peer, EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	count := func(s string) int {
		n := 0
		for _, g := range sentNames(d, 0) {
			if g == s {
				n++
			}
		}
		return n
	}
	waitFor(t, "three full sends", func() bool { return count("a INUSE") >= 3 && count("b BUSY") >= 3 })
	// Nothing else goes out: one publication, modified each time.
	for i, r := range d.requests() {
		if i > 0 && r.IfMatch == "" {
			t.Errorf("request %d started a new publication: %+v", i, r)
		}
	}
}

func TestKeyQueue(t *testing.T) {
	var q keyQueue
	for i := range 3000 {
		q.push(Key{Kind: KindDevice, Name: strconv.Itoa(i)})
	}
	for i := range 3000 {
		k, ok := q.front()
		if !ok || k.Name != strconv.Itoa(i) {
			t.Fatalf("front %d = %v, %v", i, k, ok)
		}
		q.pop()
		if i == 2000 {
			q.push(Key{Kind: KindDevice, Name: "late"})
		}
	}
	if k, ok := q.front(); !ok || k.Name != "late" {
		t.Fatalf("front = %v, %v", k, ok)
	}
	q.pop()
	if _, ok := q.front(); ok || len(q.keys) != 0 {
		t.Errorf("not empty: %d", len(q.keys))
	}
}

// A queue emptied after a dump gives its memory back (a Go map does not
// shrink), and keeps working.
func TestCoalescingQueueReleasesAfterADump(t *testing.T) {
	tab := NewTable()
	c := newCoalescingQueue(func(k Key) (Entry, bool) { return tab.Get(meEID, k) })
	const n = releaseAbove + 10
	for i := range n {
		e, _ := tab.Set(meEID, Device("PJSIP/"+strconv.Itoa(i), InUse, true))
		c.push(queued{e: e, seq: uint64(i + 1)}, false)
	}
	for range n {
		q, ok := c.next()
		if !ok {
			t.Fatal("queue ran dry early")
		}
		c.done(q.e.State.Key, q.seq)
	}
	if c.len() != 0 || c.peak != 0 || c.bulk.keys != nil || c.live.keys != nil {
		t.Errorf("after the dump: %d pending, peak %d, %d+%d key slots kept", c.len(), c.peak, cap(c.bulk.keys), cap(c.live.keys))
	}
	e, _ := tab.Set(meEID, Device("PJSIP/0", Busy, true))
	c.push(queued{e: e, live: true, seq: n + 1}, false)
	if q, ok := c.next(); !ok || q.e.State.Device != Busy || !q.live {
		t.Errorf("after the release: %+v %v", q, ok)
	}
}
