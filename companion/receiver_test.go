package companion

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

const receiverTOML = `
[companion]
name = "me"
eid = "02:00:00:00:00:01"
sip_listen = ["udp://127.0.0.1:5070"]

[ami]
username = "u"
secret = "s"

[[peer]]
name = "open"
  [peer.accept]
  resource = "open"
  match = ["127.0.0.0/8"]
  device_state = true
  mailbox_state = true
  device_state_filter = "^(PJSIP/|Custom:)"
  mailbox_state_filter = "@default$"
  refresh = true
  [peer.publish]
  server_uri = "sip:me@127.0.0.2:5070"

[[peer]]
name = "locked"
  [peer.accept]
  resource = "locked"
  username = "locked"
  password = "pw"
  device_state = true

[[peer]]
name = "deaf"
  [peer.accept]
  resource = "deaf"
  match = ["127.0.0.1/32"]
`

type fakeAuth AuthResult

func (f fakeAuth) Verify(user string, pw Secret) AuthResult {
	if AuthResult(f) == AuthOK && (user != "locked" || pw.Reveal() != "pw") {
		return AuthWrong
	}
	return AuthResult(f)
}

type receiverRig struct {
	t      *testing.T
	r      *Receiver
	remote *Table
	now    time.Time
}

func newReceiverRig(t *testing.T) *receiverRig {
	cfg, err := ParseConfig("r.toml", []byte(receiverTOML))
	if err != nil {
		t.Fatal(err)
	}
	rig := &receiverRig{t: t, remote: NewTable(), now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	rig.r = NewReceiver(cfg, cfg.Node.EID, rig.remote)
	rig.r.now = func() time.Time { return rig.now }
	return rig
}

func pub(resource, event, ifMatch string, expires int, body string) InboundPublish {
	return InboundPublish{
		Source:      netip.MustParseAddrPort("127.0.0.1:5999"),
		Transport:   "udp",
		Resource:    resource,
		URIScheme:   "sip",
		Event:       event,
		IfMatch:     ifMatch,
		Expires:     expires,
		ContentType: "application/json",
		Body:        []byte(body),
	}
}

const (
	peerEID  = "02:00:00:00:00:02"
	devAlice = `{"type":"devicestate","device":"PJSIP/alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:02"}`
	devBob   = `{"type":"devicestate","device":"PJSIP/bob","state":"RINGING","cachable":1,"eid":"02:00:00:00:00:02"}`
	mbox100  = `{"type":"mailboxstate","uniqueid":"100@default","old":1,"new":2,"eid":"02:00:00:00:00:02"}`
)

func (g *receiverRig) do(in InboundPublish) Answer {
	g.t.Helper()
	return g.r.HandlePublish(context.Background(), in)
}

func (g *receiverRig) ok(in InboundPublish) Answer {
	g.t.Helper()
	a := g.do(in)
	if a.Status != 200 || a.ETag == "" {
		g.t.Fatalf("answer %+v, want 200 with an ETag", a)
	}
	return a
}

func (g *receiverRig) remoteNames() []string {
	var out []string
	for _, e := range g.remote.Entries(mustEID(peerEID)) {
		out = append(out, e.State.String())
	}
	return out
}

func TestReceiverStatuses(t *testing.T) {
	ds, mwi := string(EventDeviceState), string(EventMWI)
	wrongType := pub("open", ds, "", -1, devAlice)
	wrongType.ContentType = "text/plain"
	badScheme := pub("open", ds, "", -1, devAlice)
	badScheme.URIScheme = "tel"
	farAway := pub("open", ds, "", -1, devAlice)
	farAway.Source = netip.MustParseAddrPort("192.0.2.1:5060")
	withAuth := func(a AuthResult) InboundPublish {
		in := pub("locked", ds, "", -1, devAlice)
		in.Source = netip.MustParseAddrPort("192.0.2.1:5060")
		in.Auth = fakeAuth(a)
		return in
	}
	huge := pub("open", ds, "", -1, `{"type":"devicestate","device":"`+string(make([]byte, MaxBodySize))+`"}`)
	for _, tc := range []struct {
		name      string
		in        InboundPublish
		status    int
		challenge bool
		stale     bool
	}{
		{"no event", pub("open", "", "", -1, devAlice), 489, false, false},
		{"unknown event", pub("open", "presence", "", -1, devAlice), 489, false, false},
		{"tel URI", badScheme, 416, false, false},
		{"unknown resource", pub("nobody", ds, "", -1, devAlice), 404, false, false},
		{"address outside match", farAway, 403, false, false},
		{"no credentials", func() InboundPublish { in := withAuth(0); in.Auth = nil; return in }(), 401, true, false},
		{"stale nonce", withAuth(AuthStale), 401, true, true},
		{"wrong password", withAuth(AuthWrong), 403, false, false},
		{"right password", withAuth(AuthOK), 200, false, false},
		{"unknown etag", pub("open", ds, "12345", -1, devAlice), 412, false, false},
		{"removal without etag", pub("open", ds, "", 0, ""), 400, false, false},
		{"not json", pub("open", ds, "", -1, `{"type":`), 500, false, false},
		{"no eid", pub("open", ds, "", -1, `{"type":"devicestate","device":"PJSIP/a","state":"INUSE"}`), 500, false, false},
		{"no type", pub("open", ds, "", -1, `{"eid":"02:00:00:00:00:02"}`), 500, false, false},
		{"unknown type", pub("open", ds, "", -1, `{"type":"x","eid":"02:00:00:00:00:02"}`), 500, false, false},
		{"mailbox on devicestate", pub("open", ds, "", -1, mbox100), 500, false, false},
		{"no device", pub("open", ds, "", -1, `{"type":"devicestate","state":"INUSE","eid":"02:00:00:00:00:02"}`), 500, false, false},
		{"content type", wrongType, 500, false, false},
		{"too large", huge, 413, false, false},
		{"bad count dropped", pub("open", mwi, "", -1, `{"type":"mailboxstate","uniqueid":"1@default","old":-1,"new":2,"eid":"02:00:00:00:00:02"}`), 200, false, false},
		{"bad eid dropped", pub("open", ds, "", -1, `{"type":"devicestate","device":"PJSIP/a","state":"INUSE","eid":"zz"}`), 200, false, false},
		{"body-less initial (Asterisk after 412)", pub("open", ds, "", -1, ""), 200, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newReceiverRig(t)
			a := g.do(tc.in)
			if a.Status != tc.status || a.Challenge != tc.challenge || a.Stale != tc.stale {
				t.Fatalf("answer %+v, want %d challenge=%v stale=%v", a, tc.status, tc.challenge, tc.stale)
			}
			if a.Status != 200 && a.ETag != "" {
				t.Errorf("error answer carries SIP-ETag %q", a.ETag)
			}
			if tc.status != 200 || tc.name != "right password" {
				if n := g.remoteNames(); len(n) != 0 {
					t.Errorf("remote table = %v, want empty", n)
				}
			}
		})
	}
}

func TestReceiverPublicationLifecycle(t *testing.T) {
	g := newReceiverRig(t)
	ds := string(EventDeviceState)
	a1 := g.ok(pub("open", ds, "", 60, devAlice))
	if a1.Expires != 60 {
		t.Errorf("Expires = %d, want the request's 60", a1.Expires)
	}
	a2 := g.ok(pub("open", ds, a1.ETag, 60, devBob))
	if a2.ETag == a1.ETag {
		t.Error("a modify must get a new entity tag")
	}
	// The sender's retry of a request whose 200 was lost names the tag it
	// named before: the same publication, not a 412 and an orphan.
	a2b := g.ok(pub("open", ds, a1.ETag, 60, devBob))
	if a2b.ETag == a2.ETag || a2b.ETag == a1.ETag {
		t.Errorf("retry got tag %q again", a2b.ETag)
	}
	// a2, never named by the sender, is superseded.
	if a := g.do(pub("open", ds, a2.ETag, 60, devBob)); a.Status != 412 {
		t.Errorf("superseded entity tag: %+v, want 412", a)
	}
	if n := g.r.Publications(); n != 1 {
		t.Errorf("%d publications, want 1", n)
	}
	if got := g.remoteNames(); len(got) != 2 {
		t.Fatalf("remote = %v", got)
	}
	// A stock Asterisk refreshes at the very second of expiry.
	g.now = g.now.Add(60 * time.Second)
	g.r.Expire()
	a3 := g.ok(pub("open", ds, a2b.ETag, 60, ""))
	// Once the sender named a2b, a1 is gone.
	if a := g.do(pub("open", ds, a1.ETag, 60, "")); a.Status != 412 {
		t.Errorf("tag named two changes ago: %+v, want 412", a)
	}
	if got := g.remoteNames(); len(got) != 2 {
		t.Fatalf("a refresh lost states: %v", got)
	}
	// The same etag on the other event is unknown there.
	if a := g.do(pub("open", string(EventMWI), a3.ETag, 60, "")); a.Status != 412 {
		t.Errorf("etag of another event: %+v", a)
	}
	// Lapse past the grace: states cleared, etag unknown.
	g.now = g.now.Add(60*time.Second + PublicationGrace + time.Second)
	g.r.Expire()
	if got := g.remoteNames(); len(got) != 0 {
		t.Errorf("states of an expired publication kept: %v", got)
	}
	if a := g.do(pub("open", ds, a3.ETag, 60, "")); a.Status != 412 {
		t.Errorf("refresh after expiry: %+v, want 412", a)
	}
}

func TestReceiverRemovalKeepsStatesOfLivePublications(t *testing.T) {
	g := newReceiverRig(t)
	ds := string(EventDeviceState)
	old := g.ok(pub("open", ds, "", 3600, devAlice))
	g.ok(pub("open", string(EventMWI), "", 3600, mbox100))
	// The peer restarted and publishes anew before the old one is gone.
	g.ok(pub("open", ds, "", 3600, devBob))
	if a := g.do(pub("open", ds, old.ETag, 0, "")); a.Status != 200 || a.Expires != 0 {
		t.Fatalf("removal: %+v", a)
	}
	if got := g.remoteNames(); len(got) != 3 {
		t.Errorf("removal of one publication cleared states another carries: %v", got)
	}
	if a := g.do(pub("open", ds, old.ETag, 0, "")); a.Status != 412 {
		t.Errorf("second removal: %+v, want 412", a)
	}
}

func TestReceiverRemovalClearsStates(t *testing.T) {
	g := newReceiverRig(t)
	a := g.ok(pub("open", string(EventMWI), "", 3600, mbox100))
	g.ok(pub("open", string(EventDeviceState), "", 3600, devAlice))
	g.ok(pub("open", string(EventMWI), a.ETag, 0, ""))
	got := g.remoteNames()
	if len(got) != 1 || got[0] != "PJSIP/alice INUSE" {
		t.Errorf("after removing the MWI publication: %v", got)
	}
}

func TestReceiverFiltersAndSwitches(t *testing.T) {
	g := newReceiverRig(t)
	ds, mwi := string(EventDeviceState), string(EventMWI)
	g.ok(pub("open", ds, "", -1, `{"type":"devicestate","device":"Queue:sales","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:02"}`))
	g.ok(pub("open", ds, "", -1, `{"type":"devicestate","device":"custom:x","state":"busy","cachable":1,"eid":"02:00:00:00:00:02"}`))
	g.ok(pub("open", mwi, "", -1, `{"type":"mailboxstate","uniqueid":"1@other","old":0,"new":1,"eid":"02:00:00:00:00:02"}`))
	g.ok(pub("open", mwi, "", -1, mbox100))
	got := g.remoteNames()
	if len(got) != 2 || got[0] != "custom:x BUSY" || got[1] != "100@default new=2 old=1" {
		t.Errorf("filtered remote = %v", got)
	}
	other := func(body string) string { return strings.Replace(body, peerEID, "02:00:00:00:00:03", 1) }
	g.ok(pub("deaf", ds, "", -1, other(devAlice)))
	g.ok(pub("deaf", mwi, "", -1, other(mbox100)))
	if got := g.remote.Entries(mustEID("02:00:00:00:00:03")); len(got) != 0 {
		t.Errorf("switches off still applied: %v", got)
	}
}

func TestReceiverRefreshAndOwnEID(t *testing.T) {
	g := newReceiverRig(t)
	var asked []string
	g.r.OnRefresh(func(peer string, ev Event) { asked = append(asked, peer+" "+string(ev)) })
	g.ok(pub("open", string(EventMWI), "", -1, `{"type":"refresh","eid":"02:00:00:00:00:02"}`))
	g.ok(pub("deaf", string(EventDeviceState), "", -1, `{"type":"refresh","eid":"02:00:00:00:00:03"}`))
	if len(asked) != 1 || asked[0] != "open asterisk-mwi" {
		t.Errorf("refresh requests = %v, want only open's", asked)
	}
	if g.r.Conflict("open") {
		t.Fatal("conflict before any own-EID body")
	}
	g.ok(pub("open", string(EventDeviceState), "", -1, `{"type":"devicestate","device":"PJSIP/me","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`))
	if len(g.remote.Origins()) != 0 {
		t.Errorf("own-EID body stored: %v", g.remote.Origins())
	}
	if !g.r.Conflict("open") || g.r.Conflict("deaf") {
		t.Error("own-EID body not reported as a conflict with that peer")
	}
	g.ok(pub("open", string(EventDeviceState), "", -1, devAlice))
	if got := g.r.PeerOf(mustEID(peerEID)); got != "open" {
		t.Errorf("PeerOf = %q", got)
	}
}

func TestReceiverETagsAreDistinct(t *testing.T) {
	g := newReceiverRig(t)
	seen := map[string]bool{}
	for range 50 {
		a := g.ok(pub("open", string(EventDeviceState), "", -1, devAlice))
		if _, err := strconv.ParseUint(a.ETag, 10, 64); err != nil || seen[a.ETag] {
			t.Fatalf("etag %q: decimal and fresh wanted", a.ETag)
		}
		seen[a.ETag] = true
	}
}

// BenchmarkReceiverModify is one state change arriving on an established
// publication: lookup, checks, decode, table write, new entity tag.
func BenchmarkReceiverModify(b *testing.B) {
	cfg, err := ParseConfig("r.toml", []byte(receiverTOML))
	if err != nil {
		b.Fatal(err)
	}
	r := NewReceiver(cfg, cfg.Node.EID, NewTable())
	states := [][]byte{[]byte(devAlice), []byte(devBob)}
	first := r.HandlePublish(context.Background(), pub("open", string(EventDeviceState), "", 3600, devAlice))
	tag := first.ETag
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		in := pub("open", string(EventDeviceState), tag, 3600, "")
		in.Body = states[i%2]
		a := r.HandlePublish(context.Background(), in)
		if a.Status != 200 {
			b.Fatalf("answer %+v", a)
		}
		tag = a.ETag
	}
}

// DropPeer is what Liveness does to a peer that stopped answering: all its
// publications go as if expired, states cleared and EIDs released; the
// peer's later PUBLISHes are answered as for any lapsed publication.
func TestReceiverDropPeer(t *testing.T) {
	g := newReceiverRig(t)
	ds, mwi := string(EventDeviceState), string(EventMWI)
	var seen []string
	g.r.OnActivity(func(peer string) { seen = append(seen, peer) })
	dev := g.ok(pub("open", ds, "", 3600, devAlice))
	g.ok(pub("open", mwi, "", 3600, mbox100))
	deafEID := "02:00:00:00:00:03"
	g.ok(pub("deaf", ds, "", 3600, strings.Replace(devAlice, peerEID, deafEID, 1)))
	if got := g.remoteNames(); len(got) != 2 {
		t.Fatalf("remote before the drop = %v", got)
	}
	if n := g.r.DropPeer("open"); n != 2 {
		t.Errorf("DropPeer removed %d publications, want both events' 2", n)
	}
	if got := g.remoteNames(); len(got) != 0 {
		t.Errorf("states of the dropped peer kept: %v", got)
	}
	if owner := g.r.PeerOf(mustEID(peerEID)); owner != "" {
		t.Errorf("EID still held by %q", owner)
	}
	if owner := g.r.PeerOf(mustEID(deafEID)); owner != "deaf" || g.r.Publications() != 1 {
		t.Errorf("another peer's publication touched: owner %q, %d publications", owner, g.r.Publications())
	}
	if n := g.r.DropPeer("open"); n != 0 {
		t.Errorf("second DropPeer removed %d", n)
	}
	// A stock Asterisk refreshes: 412, then its body-less initial PUBLISH
	// (200), then its states come with its next change or dump.
	if a := g.do(pub("open", ds, dev.ETag, 3600, "")); a.Status != 412 {
		t.Errorf("refresh of a dropped publication: %+v, want 412", a)
	}
	g.ok(pub("open", ds, "", 3600, ""))
	g.ok(pub("open", ds, "", 3600, devAlice))
	if got := g.remoteNames(); len(got) != 1 || got[0] != "PJSIP/alice INUSE" {
		t.Errorf("after the peer is back: %v", got)
	}
	// Only requests that pass the peer's checks show it alive.
	g.do(pub("locked", ds, "", 3600, devAlice)) // no credentials: 401
	g.do(pub("nosuch", ds, "", 3600, devAlice)) // 404
	want := "open open deaf open open open"
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("activity = %q, want %q", got, want)
	}
}
