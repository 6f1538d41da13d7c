package companion

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Hostile peers, seen through the Receiver alone: what each is answered
// and that nothing reaches the remote table. The same requests over real
// sockets, down to what AMI receives, are in cmd/companion.

func eidOf(s string) EntityID {
	e, err := ParseEntityID(s)
	if err != nil {
		panic(err)
	}
	return e
}

// securityConfig has two peers taking everything from loopback, "a" and
// "b", and "pinned", whose EID is fixed in the file.
func securityConfig(tweak func(*AcceptConfig)) *Config {
	acc := func(resource string) *AcceptConfig {
		a := &AcceptConfig{
			Resource:     resource,
			Match:        []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			DeviceState:  true,
			MailboxState: true,
			Refresh:      true,
		}
		if tweak != nil {
			tweak(a)
		}
		return a
	}
	pinned := acc("pinned")
	pinned.EIDs = []EntityID{eidOf("02:00:00:00:00:99")}
	return &Config{
		Node: NodeConfig{Name: "me", EID: eidOf("02:00:00:00:00:01")},
		Peers: []PeerConfig{
			{Name: "a", Accept: acc("a")},
			{Name: "b", Accept: acc("b")},
			{Name: "pinned", Accept: pinned},
		},
	}
}

type secRig struct {
	t      *testing.T
	r      *Receiver
	remote *Table
	now    time.Time
}

func newSecRig(t *testing.T, tweak func(*AcceptConfig)) *secRig {
	cfg := securityConfig(tweak)
	g := &secRig{t: t, remote: NewTable(), now: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)}
	g.r = NewReceiver(cfg, cfg.Node.EID, g.remote)
	g.r.now = func() time.Time { return g.now }
	return g
}

func (g *secRig) send(resource, event, ifMatch string, expires int, body string) Answer {
	g.t.Helper()
	return g.r.HandlePublish(context.Background(), pub(resource, event, ifMatch, expires, body))
}

func devBody(name, state, eid string) string {
	return fmt.Sprintf(`{"type":"devicestate","device":%q,"state":%q,"cachable":1,"eid":%q}`, name, state, eid)
}

func mwiBody(id string, n int, eid string) string {
	return fmt.Sprintf(`{"type":"mailboxstate","uniqueid":%q,"old":0,"new":%d,"eid":%q}`, id, n, eid)
}

func (g *secRig) total() int {
	n := 0
	for _, o := range g.remote.Origins() {
		n += g.remote.Len(o)
	}
	return n
}

func TestReceiverRefusesHostileBodies(t *testing.T) {
	ds, mwi := string(EventDeviceState), string(EventMWI)
	const eid = "02:00:00:00:00:02"
	raw := func(s string) string { return s } // bodies written by hand, JSON escapes and all
	long := strings.Repeat("x", MaxNameLen)
	for _, tc := range []struct {
		name   string
		event  string
		body   string
		status int
	}{
		{"CRLF in device (JSON escapes)", ds, raw(`{"type":"devicestate","device":"PJSIP/inj\r\n\r\nAction: Originate\r\nChannel: Local/666@default","state":"INUSE","cachable":1,"eid":"` + eid + `"}`), 500},
		{"LF in device", ds, raw(`{"type":"devicestate","device":"PJSIP/inj\nAction: Originate","state":"INUSE","cachable":1,"eid":"` + eid + `"}`), 500},
		{"CR in device", ds, raw(`{"type":"devicestate","device":"PJSIP/inj\r","state":"INUSE","cachable":1,"eid":"` + eid + `"}`), 500},
		{"bare LF byte in device", ds, "{\"type\":\"devicestate\",\"device\":\"PJSIP/inj\nAction: Originate\",\"state\":\"INUSE\",\"eid\":\"" + eid + "\"}", 500},
		{"NUL in device", ds, raw(`{"type":"devicestate","device":"PJSIP/inj\u0000","state":"INUSE","cachable":1,"eid":"` + eid + `"}`), 500},
		{"ESC in device", ds, raw(`{"type":"devicestate","device":"PJSIP/\u001b[2J","state":"INUSE","cachable":1,"eid":"` + eid + `"}`), 500},
		{"DEL in device", ds, "{\"type\":\"devicestate\",\"device\":\"PJSIP/a\x7f\",\"state\":\"INUSE\",\"eid\":\"" + eid + "\"}", 500},
		{"over-long device", ds, devBody("PJSIP/"+long, "INUSE", eid), 500},
		{"CRLF in uniqueid", mwi, raw(`{"type":"mailboxstate","uniqueid":"1000@default\r\n\r\nAction: Originate","old":0,"new":1,"eid":"` + eid + `"}`), 500},
		{"LF in uniqueid", mwi, raw(`{"type":"mailboxstate","uniqueid":"1000\n@default","old":0,"new":1,"eid":"` + eid + `"}`), 500},
		{"NUL in uniqueid", mwi, raw(`{"type":"mailboxstate","uniqueid":"1000\u0000@default","old":0,"new":1,"eid":"` + eid + `"}`), 500},
		{"TAB in uniqueid", mwi, raw(`{"type":"mailboxstate","uniqueid":"1000\t@default","old":0,"new":1,"eid":"` + eid + `"}`), 500},
		{"over-long uniqueid", mwi, mwiBody(long+"@default", 1, eid), 500},
		// An eid that is no Entity ID is answered 200 as Asterisk does,
		// and dropped.
		{"CRLF in eid", ds, raw(`{"type":"devicestate","device":"PJSIP/a","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:02\r\nAction: Originate"}`), 200},
		{"NUL in eid (jansson cannot load it)", ds, raw(`{"type":"devicestate","device":"PJSIP/a","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:02\u0000"}`), 500},
		{"over-long eid", ds, devBody("PJSIP/a", "INUSE", eid+strings.Repeat(":00", 1000)), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newSecRig(t, nil)
			a := g.send("a", tc.event, "", 60, tc.body)
			if a.Status != tc.status {
				t.Errorf("answer %d %q, want %d", a.Status, a.Reason, tc.status)
			}
			if n := g.total(); n != 0 {
				t.Errorf("%d states applied from a hostile body: %v", n, g.remote.Origins())
			}
		})
	}
}

func TestReceiverEIDOwnership(t *testing.T) {
	ds := string(EventDeviceState)
	const eidA = "02:00:00:00:00:0a"
	g := newSecRig(t, nil)
	a := g.send("a", ds, "", 60, devBody("PJSIP/alice", "INUSE", eidA))
	if a.Status != 200 {
		t.Fatalf("a's publish: %+v", a)
	}
	// b cannot change, keep alive or rename a's states.
	if x := g.send("b", ds, "", 60, devBody("PJSIP/alice", "IDLE", eidA)); x.Status != 403 {
		t.Errorf("b publishing under a's EID: %+v, want 403", x)
	}
	if x := g.send("b", ds, "", 3600, `{"type":"refresh","eid":"`+eidA+`"}`); x.Status != 403 {
		t.Errorf("b's refresh under a's EID: %+v, want 403", x)
	}
	if e, _ := g.remote.Get(eidOf(eidA), DeviceKey("PJSIP/alice")); e.State.Device != InUse {
		t.Errorf("a's alice = %v", e.State)
	}
	if got := g.r.PeerOf(eidOf(eidA)); got != "a" {
		t.Errorf("PeerOf(a's EID) = %q", got)
	}
	if n := g.r.Refusals()[RefusedEIDOwned]; n != 2 {
		t.Errorf("%d refusals counted, want 2", n)
	}
	// a leaves: its states clear, although b tried to keep them alive.
	if x := g.send("a", ds, a.ETag, 0, ""); x.Status != 200 {
		t.Fatalf("a's removal: %+v", x)
	}
	if n := g.total(); n != 0 {
		t.Errorf("a's states outlived a's publication: %d", n)
	}
	if got := g.r.PeerOf(eidOf(eidA)); got != "" {
		t.Errorf("PeerOf after a left = %q", got)
	}
	// The EID is free again: whoever publishes under it now holds it.
	if x := g.send("b", ds, "", 60, devBody("PJSIP/alice", "BUSY", eidA)); x.Status != 200 {
		t.Errorf("b after a left: %+v", x)
	}
	if got := g.r.PeerOf(eidOf(eidA)); got != "b" {
		t.Errorf("PeerOf = %q, want b", got)
	}

	// The same through expiry.
	g2 := newSecRig(t, nil)
	g2.send("a", ds, "", 60, devBody("PJSIP/alice", "INUSE", eidA))
	g2.now = g2.now.Add(60*time.Second + PublicationGrace + time.Second)
	g2.r.Expire()
	if n := g2.total(); n != 0 || g2.r.PeerOf(eidOf(eidA)) != "" {
		t.Errorf("after expiry: %d states, owner %q", n, g2.r.PeerOf(eidOf(eidA)))
	}
}

func TestReceiverPinnedEIDs(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	// Nobody else may use a pinned EID, even while its peer is away.
	if x := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:99")); x.Status != 403 {
		t.Errorf("a under pinned's EID: %+v", x)
	}
	// The pinned peer may use no other.
	if x := g.send("pinned", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:98")); x.Status != 403 {
		t.Errorf("pinned under another EID: %+v", x)
	}
	if x := g.send("pinned", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:99")); x.Status != 200 {
		t.Errorf("pinned under its EID: %+v", x)
	}
	if n := g.total(); n != 1 {
		t.Errorf("%d states, want pinned's one", n)
	}
}

func TestReceiverOwnEIDBlockLifts(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	if x := g.send("a", ds, "", 60, devBody("PJSIP/me", "INUSE", "02:00:00:00:00:01")); x.Status != 200 {
		t.Fatalf("own-EID body: %+v", x)
	}
	if n := g.total(); n != 0 || !g.r.Conflict("a") {
		t.Fatalf("own EID: %d states applied, conflict %v", n, g.r.Conflict("a"))
	}
	// a shows its own, distinct EID (here in a refresh request): the block
	// on publishing to it lifts.
	if x := g.send("a", ds, "", 60, `{"type":"refresh","eid":"02:00:00:00:00:0a"}`); x.Status != 200 {
		t.Fatalf("refresh: %+v", x)
	}
	if g.r.Conflict("a") {
		t.Error("the own-EID block did not lift when the peer showed another EID")
	}
}

func TestReceiverBounds(t *testing.T) {
	ds, mwi := string(EventDeviceState), string(EventMWI)
	small := func(a *AcceptConfig) {
		a.MaxPublications = 3
		a.MaxKeys = 5
		a.MaxEIDs = 2
		a.MaxExpires = 120 * time.Second
	}
	t.Run("publications per peer and event", func(t *testing.T) {
		g := newSecRig(t, small)
		var tags []string
		for i := range 3 {
			x := g.send("a", ds, "", 60, devBody(fmt.Sprintf("PJSIP/%d", i), "INUSE", "02:00:00:00:00:0a"))
			if x.Status != 200 {
				t.Fatalf("publication %d: %+v", i, x)
			}
			tags = append(tags, x.ETag)
		}
		if x := g.send("a", ds, "", 60, devBody("PJSIP/9", "INUSE", "02:00:00:00:00:0a")); x.Status != 403 {
			t.Errorf("4th publication: %+v, want 403", x)
		}
		// Modifying one held is fine; the other event has its own count;
		// another peer is not touched.
		if x := g.send("a", ds, tags[0], 60, devBody("PJSIP/0", "BUSY", "02:00:00:00:00:0a")); x.Status != 200 {
			t.Errorf("modify at the bound: %+v", x)
		}
		if x := g.send("a", mwi, "", 60, mwiBody("1@x", 1, "02:00:00:00:00:0a")); x.Status != 200 {
			t.Errorf("other event at the bound: %+v", x)
		}
		if x := g.send("b", ds, "", 60, devBody("PJSIP/b", "INUSE", "02:00:00:00:00:0b")); x.Status != 200 {
			t.Errorf("other peer: %+v", x)
		}
		// Once one goes, there is room again.
		g.send("a", ds, tags[1], 0, "")
		if x := g.send("a", ds, "", 60, devBody("PJSIP/9", "INUSE", "02:00:00:00:00:0a")); x.Status != 200 {
			t.Errorf("after a removal: %+v", x)
		}
		if n := g.r.Refusals()[RefusedTooManyPubs]; n != 1 {
			t.Errorf("counted %d, want 1", n)
		}
	})
	t.Run("keys per peer", func(t *testing.T) {
		g := newSecRig(t, small)
		x := g.send("a", ds, "", 60, devBody("PJSIP/0", "INUSE", "02:00:00:00:00:0a"))
		tag := x.ETag
		for i := 1; i < 5; i++ {
			x = g.send("a", ds, tag, 60, devBody(fmt.Sprintf("PJSIP/%d", i), "INUSE", "02:00:00:00:00:0a"))
			if x.Status != 200 {
				t.Fatalf("key %d: %+v", i, x)
			}
			tag = x.ETag
		}
		if x := g.send("a", ds, tag, 60, devBody("PJSIP/5", "INUSE", "02:00:00:00:00:0a")); x.Status != 403 {
			t.Errorf("6th key: %+v, want 403", x)
		}
		// A key already held may change.
		if x := g.send("a", ds, tag, 60, devBody("PJSIP/4", "BUSY", "02:00:00:00:00:0a")); x.Status != 200 {
			t.Errorf("change of a held key: %+v", x)
		}
		if n := g.total(); n != 5 {
			t.Errorf("%d states held, want 5", n)
		}
	})
	t.Run("EIDs per peer", func(t *testing.T) {
		g := newSecRig(t, small)
		for i, eid := range []string{"02:00:00:00:00:0a", "02:00:00:00:00:0b"} {
			if x := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", eid)); x.Status != 200 {
				t.Fatalf("EID %d: %+v", i, x)
			}
		}
		if x := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0c")); x.Status != 403 {
			t.Errorf("3rd EID: %+v, want 403", x)
		}
	})
	t.Run("granted Expires", func(t *testing.T) {
		g := newSecRig(t, small)
		x := g.send("a", ds, "", 1<<31-1, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0a"))
		if x.Status != 200 || x.Expires != 120 {
			t.Fatalf("answer %+v, want 200 granting 120", x)
		}
		g.now = g.now.Add(120*time.Second + PublicationGrace + time.Second)
		g.r.Expire()
		if g.r.Publications() != 0 || g.total() != 0 {
			t.Error("a publication outlived the granted Expires")
		}
		x = g.send("a", ds, "", -1, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0a"))
		if x.Expires != 120 {
			t.Errorf("no Expires: granted %d, want the maximum 120", x.Expires)
		}
	})
}

// The receiver's bookkeeping goes with the publications that put it there.
func TestReceiverForgetsDepartedPeers(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	for i := range 50 {
		eid := fmt.Sprintf("02:00:00:00:01:%02x", i)
		peer := []string{"a", "b"}[i%2]
		x := g.send(peer, ds, "", 60, devBody(fmt.Sprintf("PJSIP/%d", i), "INUSE", eid))
		if x.Status != 200 {
			t.Fatalf("%d: %+v", i, x)
		}
		g.send(peer, ds, x.ETag, 0, "")
	}
	g.r.mu.Lock()
	defer g.r.mu.Unlock()
	if len(g.r.owners) != 0 || len(g.r.pubs) != 0 || g.r.expiry.Len() != 0 {
		t.Errorf("left behind: %d owners, %d tags, %d in the expiry heap", len(g.r.owners), len(g.r.pubs), g.r.expiry.Len())
	}
	for name, u := range g.r.usage {
		if len(u.eids) != 0 || u.pubs != [2]int{} || u.keys != 0 {
			t.Errorf("peer %s still holds %d EIDs, %v publications", name, len(u.eids), u.pubs)
		}
	}
}

func TestReceiverETagsAreUnguessable(t *testing.T) {
	g := newSecRig(t, nil)
	var prev uint64
	sequential := 0
	for i := range 100 {
		x := g.send("a", string(EventDeviceState), "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0a"))
		var n uint64
		if _, err := fmt.Sscan(x.ETag, &n); err != nil {
			t.Fatalf("etag %q is not decimal", x.ETag)
		}
		if i > 0 && n > prev && n-prev < 1000 {
			sequential++
		}
		prev = n
		g.send("a", string(EventDeviceState), x.ETag, 0, "")
	}
	if sequential > 5 {
		t.Errorf("%d of 100 entity tags follow their predecessor closely", sequential)
	}
}

// BenchmarkReceiverExpire expires n publications, each under its own EID
// with one state: it must grow no worse than n log n.
func BenchmarkReceiverExpire(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			cfg := securityConfig(func(a *AcceptConfig) {
				a.MaxPublications, a.MaxEIDs, a.MaxKeys = n, n, n
			})
			bodies := make([]string, n)
			for i := range n {
				bodies[i] = devBody(fmt.Sprintf("PJSIP/%d", i), "INUSE", EntityID{6, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}.String())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
				now := start
				r := NewReceiver(cfg, cfg.Node.EID, NewTable())
				r.now = func() time.Time { return now }
				for i := range n {
					// Staggered expiries, as real publications have.
					if a := r.HandlePublish(context.Background(), pub("a", string(EventDeviceState), "", 60+i%600, bodies[i])); a.Status != 200 {
						b.Fatalf("answer %+v", a)
					}
				}
				now = start.Add(time.Hour)
				b.StartTimer()
				r.Expire()
				if r.Publications() != 0 {
					b.Fatal("publications left")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/publication")
		})
	}
}
