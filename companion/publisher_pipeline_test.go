package companion

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// stockPeer keeps publications as a stock Asterisk does: any number at
// once, entity tags from one counter, a modify naming an unknown or
// superseded tag answered 412. It applies each state in the order the
// requests arrive and remembers the newest value per key. With chaos set,
// requests wait a random while first (so that concurrent ones arrive in
// any order), and some are lost, or applied with their answer lost.
type stockPeer struct {
	t *testing.T

	mu        sync.Mutex
	next      int
	live      map[string]bool
	view      map[string]State // key name → newest state applied
	reqs      []PublishRequest
	senders   int      // Senders handed out
	backwards []string // states older than the one held, by mailbox count
	inFlight  int
	most      int // requests in flight at once, at most
	chaos     bool
	rnd       *rand.Rand
}

func newStockPeer(t *testing.T) *stockPeer {
	return &stockPeer{t: t, live: map[string]bool{}, view: map[string]State{}, rnd: rand.New(rand.NewPCG(1, 2))}
}

func (d *stockPeer) factory() func() Sender {
	return func() Sender {
		d.mu.Lock()
		d.senders++
		d.mu.Unlock()
		return d
	}
}

var errLost = errors.New("timeout (lost)")

func (d *stockPeer) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	d.mu.Lock()
	d.inFlight++
	d.most = max(d.most, d.inFlight)
	chaos := d.chaos
	var wait time.Duration
	var roll float64
	if chaos {
		wait = time.Duration(d.rnd.IntN(300)) * time.Microsecond
		roll = d.rnd.Float64()
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inFlight--
		d.mu.Unlock()
	}()
	if chaos {
		time.Sleep(wait)
		if roll < 0.1 {
			return PublishResult{}, errLost // the request never arrived
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reqs = append(d.reqs, req)
	res := d.answer(req)
	if chaos && roll < 0.2 {
		return PublishResult{}, errLost // applied, but the answer was lost
	}
	return res, nil
}

func (d *stockPeer) answer(req PublishRequest) PublishResult {
	if req.IfMatch != "" {
		if !d.live[req.IfMatch] {
			return PublishResult{Status: 412, Expires: -1}
		}
		delete(d.live, req.IfMatch)
	} else if req.Body == nil {
		return PublishResult{Status: 400, Expires: -1}
	}
	if req.Expires == 0 {
		return PublishResult{Status: 200, Expires: 0}
	}
	if req.Body != nil {
		m, err := DecodeMessage(req.Event, req.Body)
		if err != nil {
			d.t.Errorf("undecodable body %q: %v", req.Body, err)
		}
		if m.Type != MessageRefresh {
			k := m.State.Key.Name
			if old, ok := d.view[k]; ok && k != "" && m.State.Key.Kind == KindMailbox && m.State.New < old.New {
				d.backwards = append(d.backwards, fmt.Sprintf("%s: %d after %d", k, m.State.New, old.New))
			}
			d.view[k] = m.State
		}
	}
	tag := strconv.Itoa(d.next)
	d.next++
	d.live[tag] = true
	return PublishResult{Status: 200, ETag: tag, Expires: req.Expires}
}

func (d *stockPeer) state(name string) (State, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.view[name]
	return s, ok
}

func (d *stockPeer) requests() []PublishRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]PublishRequest(nil), d.reqs...)
}

// forget makes the peer lose one publication, as an expiry would.
func (d *stockPeer) forget(tag string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.live, tag)
}

func pipePeer(width int) *PeerConfig {
	p := testPeer(false, "")
	p.Publish.MaxInFlight = width
	return p
}

// With publications side by side, a peer that reorders concurrent
// requests and loses some (requests and answers) ends up with the newest
// value of every key, and never sees a key go back to an older value.
func TestPublisherPipelinedConvergesDespiteReorderAndLoss(t *testing.T) {
	local := NewTable()
	d := newStockPeer(t)
	d.chaos = true
	p := NewPublisher(pipePeer(8), EventMWI, meEID, local, d.factory(), PublisherOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if d.senders != 8 {
		t.Fatalf("%d Senders made for 8 publications", d.senders)
	}
	stop := startPublisher(t, p)
	defer stop()

	const boxes, rounds = 40, 25
	rnd := rand.New(rand.NewPCG(3, 4))
	count := make([]int, boxes)
	for range boxes * rounds {
		i := rnd.IntN(boxes)
		count[i]++
		local.Set(meEID, Mailbox(MailboxID{Box: strconv.Itoa(i), Context: "c"}, 0, count[i]))
		if rnd.IntN(20) == 0 {
			time.Sleep(time.Millisecond) // let some go out between changes
		}
	}
	waitFor(t, "every mailbox's newest value at the peer", func() bool {
		for i, n := range count {
			if n == 0 {
				continue
			}
			if s, ok := d.state(strconv.Itoa(i) + "@c"); !ok || s.New != n {
				return false
			}
		}
		return true
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.backwards) > 0 {
		t.Errorf("values went backwards at the peer: %v", d.backwards)
	}
	if d.most < 2 || d.most > 8 {
		t.Errorf("at most %d requests in flight at once, want 2 to 8", d.most)
	}
}

// A 412 on one publication re-sends the keys of that publication only;
// the others keep their entity tags and send nothing.
func TestPublisherShard412ResendsOnlyItsKeys(t *testing.T) {
	const width = 4
	local := NewTable()
	byShard := make([][]string, width)
	for i := range 40 {
		n := "PJSIP/" + strconv.Itoa(i)
		local.Set(meEID, Device(n, InUse, true))
		s := shardOf(DeviceKey(n), width)
		byShard[s] = append(byShard[s], n)
	}
	for s, names := range byShard {
		if len(names) < 2 {
			t.Fatalf("shard %d holds %v: pick other names", s, names)
		}
	}
	d := newStockPeer(t)
	p := NewPublisher(pipePeer(width), EventDeviceState, meEID, local, d.factory(), PublisherOptions{MinBackoff: time.Millisecond})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "the full state at the peer", func() bool { return len(d.requests()) == 40 })
	before := p.Stats().Publications

	// The peer loses publication 2; its next modify gets a 412.
	const lost = 2
	d.forget(before[lost].ETag)
	n := len(d.requests())
	changed := byShard[lost][0]
	local.Set(meEID, Device(changed, Busy, true))
	// The change (412), the change again on a new publication, then the
	// rest of that publication's keys.
	want := 2 + len(byShard[lost]) - 1
	waitFor(t, "the lost publication's keys again", func() bool { return len(d.requests()) >= n+want })
	time.Sleep(20 * time.Millisecond) // anything else would show now

	reqs := d.requests()[n:]
	if len(reqs) != want {
		t.Errorf("%d requests after the loss, want %d", len(reqs), want)
	}
	sent := map[string]int{}
	for _, r := range reqs {
		m, err := DecodeMessage(r.Event, r.Body)
		if err != nil {
			t.Fatalf("request %+v: %v", r, err)
		}
		if s := shardOf(m.State.Key, width); s != lost {
			t.Errorf("%s (publication %d) sent again after publication %d's 412", m.State.Key.Name, s, lost)
		}
		sent[m.State.Key.Name]++
	}
	for _, name := range byShard[lost] {
		if sent[name] == 0 {
			t.Errorf("%s not sent again after its publication's 412", name)
		}
	}
	if s, _ := d.state(changed); s.Device != Busy {
		t.Errorf("%s at the peer: %v", changed, s)
	}
	after := p.Stats().Publications
	for i := range width {
		if i == lost {
			if after[i].ETag == before[i].ETag || after[i].ETag == "" {
				t.Errorf("publication %d still names tag %q after its 412", i, after[i].ETag)
			}
		} else if after[i].ETag != before[i].ETag {
			t.Errorf("publication %d's tag went from %q to %q", i, before[i].ETag, after[i].ETag)
		}
	}
}

// At width 1 the publisher is one publication: one Sender, each modify
// naming the tag of the previous 200, refresh request first, as the
// native module does against a stock Asterisk.
func TestPublisherWidthOneIsOnePublication(t *testing.T) {
	local := NewTable()
	for _, n := range []string{"a", "b", "c"} {
		local.Set(meEID, Device(n, InUse, true))
	}
	d := newStockPeer(t)
	p := NewPublisher(testPeer(true, ""), EventDeviceState, meEID, local, d.factory(), PublisherOptions{})
	if p.Width() != 1 || d.senders != 1 {
		t.Fatalf("width %d, %d Senders", p.Width(), d.senders)
	}
	stop := startPublisher(t, p)
	waitFor(t, "c at the peer", func() bool { _, ok := d.state("c"); return ok })
	local.Set(meEID, Device("b", Busy, true))
	waitFor(t, "b busy", func() bool { s, _ := d.state("b"); return s.Device == Busy })
	stop()
	reqs := d.requests()
	if len(reqs) != 6 {
		t.Fatalf("%d requests, want refresh, a, b, c, b, removal", len(reqs))
	}
	if m, _ := DecodeMessage(reqs[0].Event, reqs[0].Body); m.Type != MessageRefresh || reqs[0].IfMatch != "" {
		t.Errorf("first request %+v, want the refresh request", reqs[0])
	}
	for i := 1; i < len(reqs); i++ {
		if want := strconv.Itoa(i - 1); reqs[i].IfMatch != want {
			t.Errorf("request %d names tag %q, want %q (the previous 200's)", i, reqs[i].IfMatch, want)
		}
	}
	if reqs[5].Expires != 0 {
		t.Errorf("last request %+v, want the removal", reqs[5])
	}
}

// A change made while a full send of 10,000 keys waits goes out within
// the next round of requests, not behind the full send.
func TestPublisherLiveChangeOvertakesAFullSend(t *testing.T) {
	const width, keys = 8, 10000
	local := NewTable()
	for i := range keys {
		local.Set(meEID, Device("PJSIP/"+strconv.Itoa(i), NotInUse, true))
	}
	d := newHeldPeer()
	p := NewPublisher(pipePeer(width), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	defer d.release() // before stop: the removals must not wait
	// The start's full send (the same as a dump's): one PUBLISH per
	// publication in flight, held by the peer.
	waitFor(t, "every publication in flight", func() bool { return d.waiting() == width })
	local.Set(meEID, Device("live", Ringing, true))
	s := p.shards[shardOf(DeviceKey("live"), width)]
	waitFor(t, "the change queued", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		q, ok := s.q.(*coalescingQueue).pending[DeviceKey("live")]
		return ok && q.live
	})

	// Answer in arrival order: each answered publication sends its next
	// request, which arrives behind those already waiting.
	var order []string
	for range 3 * width {
		waitFor(t, "every publication in flight", func() bool { return d.waiting() == width })
		order = append(order, d.answerOldest())
	}
	pos := -1
	for i, name := range order {
		if name == "live" {
			pos = i
		}
	}
	if pos < width || pos >= 2*width {
		t.Errorf("the change went out as request %d of %v; want among the %d after the %d in flight", pos, order, width, width)
	}
}

// The startup case: the publisher starts before AMI has connected (the
// table is empty), then the AMI snapshot of 10,000 keys arrives through
// the table; a change observed while it goes out is sent within the next
// round of requests, not behind the snapshot.
func TestPublisherLiveChangeOvertakesASnapshot(t *testing.T) {
	const width, keys = 8, 10000
	local := NewTable()
	l := NewLocal(local, meEID, NewEchoes("Custom:{device}"))
	d := newHeldPeer()
	p := NewPublisher(pipePeer(width), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	defer d.release() // before stop: the removals must not wait
	snap := make([]State, 0, keys)
	for i := range keys {
		snap = append(snap, Device("PJSIP/"+strconv.Itoa(i), NotInUse, true))
	}
	l.Snapshot(KindDevice, snap)
	waitFor(t, "every publication in flight", func() bool { return d.waiting() == width })
	waitFor(t, "the snapshot routed", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.known) == keys
	})
	l.Observe(Device("live", Ringing, true))
	s := p.shards[shardOf(DeviceKey("live"), width)]
	waitFor(t, "the change queued", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		q, ok := s.q.(*coalescingQueue).pending[DeviceKey("live")]
		return ok && q.live
	})

	var order []string
	for range 3 * width {
		waitFor(t, "every publication in flight", func() bool { return d.waiting() == width })
		order = append(order, d.answerOldest())
	}
	pos := slices.Index(order, "live")
	if pos < width || pos >= 2*width {
		t.Errorf("the change went out as request %d of %v; want among the %d after the %d in flight", pos, order, width, width)
	}
}

// heldPeer holds every PUBLISH until the test answers it, oldest first,
// or until release.
type heldPeer struct {
	mu       sync.Mutex
	held     []heldRequest
	answers  int
	released bool
}

type heldRequest struct {
	name string
	done chan struct{}
}

func newHeldPeer() *heldPeer { return &heldPeer{} }

func (d *heldPeer) Publish(ctx context.Context, req PublishRequest) (PublishResult, error) {
	m, _ := DecodeMessage(req.Event, req.Body)
	h := heldRequest{name: m.State.Key.Name, done: make(chan struct{})}
	d.mu.Lock()
	if d.released {
		close(h.done)
	} else {
		d.held = append(d.held, h)
	}
	d.mu.Unlock()
	select {
	case <-h.done:
	case <-ctx.Done():
		return PublishResult{}, ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers++
	return PublishResult{Status: 200, ETag: strconv.Itoa(d.answers), Expires: req.Expires}, nil
}

func (d *heldPeer) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released = true
	for _, h := range d.held {
		close(h.done)
	}
	d.held = nil
}

func (d *heldPeer) waiting() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held)
}

func (d *heldPeer) answerOldest() string {
	d.mu.Lock()
	h := d.held[0]
	d.held = d.held[1:]
	d.mu.Unlock()
	close(h.done)
	return h.name
}

// FIFO (the bench's native-like baseline) sends every change, in order,
// and a full send waits its turn behind the changes before it and ahead
// of those after it.
func TestPublisherFIFO(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("a", NotInUse, true))
	local.Set(meEID, Device("b", NotInUse, true))
	d := newPeerDouble(t)
	gate := make(chan struct{})
	d.gate = gate
	p := NewPublisher(pipePeer(32), EventDeviceState, meEID, local, one(d), PublisherOptions{FIFO: true})
	if p.Width() != 1 {
		t.Fatalf("FIFO width %d, want 1", p.Width())
	}
	stop := startPublisher(t, p)
	defer stop()
	queued := func(n int) func() bool {
		return func() bool {
			s := p.shards[0]
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.q.len() == n
		}
	}
	waitFor(t, "the start's full send", queued(2)) // a in flight, still queued
	for i, st := range []DeviceState{InUse, Busy, Ringing} {
		local.Set(meEID, Device("a", st, true))
		waitFor(t, "the change queued", queued(3+i))
	}
	p.Dump()
	waitFor(t, "the dump queued", queued(7))
	local.Set(meEID, Device("c", OnHold, true))
	waitFor(t, "the last change queued", queued(8))
	close(gate)
	waitFor(t, "everything sent", func() bool { return len(d.requests()) == 8 })
	want := []string{"a NOT_INUSE", "b NOT_INUSE", "a INUSE", "a BUSY", "a RINGING", "a RINGING", "b NOT_INUSE", "c ONHOLD"}
	if got := sentNames(d, 0); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sent %v\nwant %v", got, want)
	}
}

// SetFilter clears at the peer what the new filter refuses, sends what it
// newly lets through, and leaves the rest alone.
func TestPublisherSetFilter(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Device("PJSIP/a", InUse, true))
	local.Set(meEID, Device("PJSIP/b", Busy, false))
	local.Set(meEID, Device("Queue:q", Ringing, true))
	d := newPeerDouble(t)
	p := NewPublisher(testPeer(false, ""), EventDeviceState, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "the full state", func() bool { return len(d.requests()) == 3 })

	p.SetFilter(MustCompileFilter("^pjsip/"))
	waitFor(t, "Queue:q cleared", func() bool { return d.holds("Queue:q", "Queue:q UNKNOWN") })
	local.Set(meEID, Device("Queue:q", OnHold, true)) // filtered out now
	local.Set(meEID, Device("PJSIP/a", OnHold, true))
	waitFor(t, "PJSIP/a on hold", func() bool { return d.holds("PJSIP/a", "PJSIP/a ONHOLD") })
	if got, want := fmt.Sprint(sentNames(d, 3)), "[Queue:q UNKNOWN PJSIP/a ONHOLD]"; got != want {
		t.Errorf("after the first reload sent %s, want %s", got, want)
	}

	p.SetFilter(MustCompileFilter("^queue:"))
	waitFor(t, "the second reload", func() bool { return len(d.requests()) == 8 })
	time.Sleep(10 * time.Millisecond) // anything else would show now
	got := sentNames(d, 5)
	if len(got) != 3 {
		t.Fatalf("after the second reload sent %v, want 3 states", got)
	}
	set := map[string]bool{}
	for _, s := range got {
		set[s] = true
	}
	for _, s := range []string{"PJSIP/a UNKNOWN", "PJSIP/b UNKNOWN", "Queue:q ONHOLD"} {
		if !set[s] {
			t.Errorf("after the second reload sent %v, lacking %s", got, s)
		}
	}
	// The cleared device keeps its cachable flag: a stock Asterisk caches
	// only a cachable state.
	for _, r := range d.requests()[5:] {
		if m, _ := DecodeMessage(r.Event, r.Body); m.State.Key.Name == "PJSIP/b" && m.State.Cachable {
			t.Errorf("PJSIP/b cleared as cachable: %s", r.Body)
		}
	}
	local.Set(meEID, Device("PJSIP/a", Busy, true))
	local.Set(meEID, Device("Queue:q", InUse, true))
	waitFor(t, "Queue:q in use", func() bool { return d.holds("Queue:q", "Queue:q INUSE") })
	if n := len(d.requests()); n != 9 {
		t.Errorf("%d requests, want 9: a refused key was sent", n)
	}
}

// A mailbox the new filter refuses is cleared as 0/0.
func TestPublisherSetFilterClearsMailbox(t *testing.T) {
	local := NewTable()
	local.Set(meEID, Mailbox(MailboxID{Box: "100", Context: "default"}, 2, 3))
	d := newPeerDouble(t)
	p := NewPublisher(pipePeer(4), EventMWI, meEID, local, one(d), PublisherOptions{})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "the mailbox", func() bool { return d.holds("100@default", "100@default new=3 old=2") })
	p.SetFilter(MustCompileFilter("^200@"))
	waitFor(t, "the mailbox cleared", func() bool { return d.holds("100@default", "100@default new=0 old=0") })
	if st := p.Stats(); st.Queued != 0 || sumKeys(st) != 0 {
		t.Errorf("after the clear: %d queued, %d keys", st.Queued, sumKeys(st))
	}
}

func sumKeys(st PublisherStats) int {
	n := 0
	for _, p := range st.Publications {
		n += p.Keys
	}
	return n
}

func TestPublisherStats(t *testing.T) {
	local := NewTable()
	for i := range 20 {
		local.Set(meEID, Device("PJSIP/"+strconv.Itoa(i), InUse, true))
	}
	d := newPeerDouble(t)
	p := NewPublisher(pipePeer(1), EventDeviceState, meEID, local, one(d), PublisherOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	stop := startPublisher(t, p)
	defer stop()
	waitFor(t, "the full state", func() bool { return len(d.requests()) == 20 })

	// Two failures (no answer, then 503) before the change goes through.
	d.mu.Lock()
	d.script = []func() (int, error){
		func() (int, error) { return 0, errors.New("timeout") },
		func() (int, error) { return 503, nil },
	}
	d.mu.Unlock()
	local.Set(meEID, Device("PJSIP/3", Busy, true))
	waitFor(t, "the change", func() bool { return d.holds("PJSIP/3", "PJSIP/3 BUSY") })
	st := p.Stats()
	if st.Peer != "b" || st.Event != EventDeviceState {
		t.Errorf("stats of %s %s", st.Peer, st.Event)
	}
	if st.Answers[200] != 21 || st.Answers[0] != 1 || st.Answers[503] != 1 {
		t.Errorf("answers %v, want 21 × 200, 1 × 503, 1 without answer", st.Answers)
	}
	if st.Retries != 2 {
		t.Errorf("retries %d, want 2", st.Retries)
	}
	if st.LastError != "" || st.LastErrorAt.IsZero() || st.LastSent.Before(st.LastErrorAt) {
		t.Errorf("last error %q at %v, last sent %v", st.LastError, st.LastErrorAt, st.LastSent)
	}
	if len(st.Publications) != 1 || st.Publications[0].ETag == "" || st.Publications[0].Granted.IsZero() || st.Publications[0].Keys != 20 {
		t.Errorf("publications %+v", st.Publications)
	}
	if st.Queued != 0 {
		t.Errorf("%d queued", st.Queued)
	}
	if st.Latency.Count != 1 {
		t.Errorf("latency count %d, want 1: the one change (not the start's full send)", st.Latency.Count)
	}

	// A slow peer: changes of one key while its PUBLISH is in flight
	// replace each other; the one in flight is not counted.
	gate := make(chan struct{})
	d.mu.Lock()
	d.gate = gate
	d.mu.Unlock()
	local.Set(meEID, Device("PJSIP/4", Busy, true))
	waitFor(t, "in flight", func() bool { return p.Sent() == 24 })
	for _, s := range []DeviceState{Ringing, OnHold, InUse} {
		local.Set(meEID, Device("PJSIP/4", s, true))
		waitFor(t, "queued", func() bool {
			sh := p.shards[0]
			sh.mu.Lock()
			defer sh.mu.Unlock()
			q, ok := sh.q.(*coalescingQueue).pending[DeviceKey("PJSIP/4")]
			cur, _ := local.Get(meEID, DeviceKey("PJSIP/4"))
			return ok && cur.State.Device == s && q.version == cur.Version
		})
	}
	if st := p.Stats(); st.Coalesced != 2 || st.Queued != 1 {
		t.Errorf("coalesced %d, queued %d; want 2 and 1", st.Coalesced, st.Queued)
	}
	close(gate)
	waitFor(t, "the last value", func() bool { return d.holds("PJSIP/4", "PJSIP/4 INUSE") })
}

// The exchange makes one Sender per publication and lists its
// publishers' stats by peer and event.
func TestExchangePublisherStats(t *testing.T) {
	src := `
[companion]
name = "a"
eid = "02:00:00:00:00:0a"
sip_listen = ["udp://127.0.0.1:5070"]
[ami]
username = "u"
secret = "s"
[[peer]]
name = "z"
  [peer.publish]
  server_uri = "sip:a@127.0.0.1:5071"
  device_state = true
  mailbox_state = true
  max_in_flight = 3
[[peer]]
name = "m"
  [peer.publish]
  server_uri = "sip:a@127.0.0.1:5072"
  mailbox_state = true
`
	cfg, err := ParseConfig("a.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	made := map[string]int{}
	x := NewExchange(cfg, cfg.Node.EID, ExchangeOptions{Sender: func(p *PeerConfig, ev Event) Sender {
		made[p.Name+" "+string(ev)]++
		return newPeerDouble(t)
	}})
	want := map[string]int{"z " + string(EventDeviceState): 3, "z " + string(EventMWI): 3, "m " + string(EventMWI): DefaultMaxInFlight}
	if fmt.Sprint(made) != fmt.Sprint(want) {
		t.Errorf("Senders made %v, want %v", made, want)
	}
	var got []string
	for _, st := range x.PublisherStats() {
		got = append(got, st.Peer+" "+string(st.Event)+" "+strconv.Itoa(len(st.Publications)))
	}
	if w := fmt.Sprintf("[m %s 32 z %s 3 z %s 3]", EventMWI, EventDeviceState, EventMWI); fmt.Sprint(got) != w {
		t.Errorf("stats %v, want %s", got, w)
	}
}
