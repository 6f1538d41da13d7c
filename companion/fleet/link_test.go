package fleet

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astcompanion/sidecar/companion"
)

// member is one in-process fleet member: its tables and its link.
type member struct {
	eid           companion.EntityID
	local, remote *companion.Table
	link          *Link
	cancel        context.CancelFunc
	done          chan struct{}
	logs          *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(urls ...string) *companion.FleetConfig {
	all := companion.FleetSwitches{DeviceState: true, MailboxState: true}
	return &companion.FleetConfig{
		NATSURLs: urls, Bucket: "test-state", Replicas: 1, PresenceTTL: 2 * time.Second,
		Publish: all, Accept: all,
	}
}

func eidN(n int) companion.EntityID {
	return companion.EntityID{0x02, 0x42, 0xac, 0x11, 0x00, byte(n)}
}

func startMember(t *testing.T, cfg *companion.FleetConfig, n int) *member {
	t.Helper()
	m := &member{eid: eidN(n), local: companion.NewTable(), remote: companion.NewTable(), done: make(chan struct{}), logs: &syncBuffer{}}
	m.link = New(Options{Config: cfg, Self: m.eid, Local: m.local, Remote: m.remote,
		Logger: slog.New(slog.NewTextHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		if err := m.link.Run(ctx); err != nil {
			t.Errorf("member %d: %v", n, err)
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop ends the member gracefully (or, after Abandon, as a crash would
// leave it) and waits for it.
func (m *member) stop() {
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		panic("fleet member did not stop")
	}
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasState(tab *companion.Table, origin companion.EntityID, s companion.State) bool {
	e, ok := tab.Get(origin, s.Key)
	return ok && e.State == s
}

func dev(name string, st companion.DeviceState) companion.State {
	return companion.Device(name, st, true)
}

func TestFleetConvergesAndLeaves(t *testing.T) {
	srv := startServer(t, "", 0)
	cfg := testConfig(serverURL(srv))
	a, b, c := startMember(t, cfg, 1), startMember(t, cfg, 2), startMember(t, cfg, 3)

	alice := dev("PJSIP/alice", companion.InUse)
	odd := dev("Custom:a.b*c> d", companion.Ringing)
	box := companion.Mailbox(companion.MailboxID{Box: "1000", Context: "default"}, 1, 2)
	a.local.Set(a.eid, alice)
	a.local.Set(a.eid, odd)
	a.local.Set(a.eid, box)
	c.local.Set(c.eid, dev("PJSIP/carol", companion.Busy))
	for _, m := range []*member{b, c} {
		eventually(t, 10*time.Second, "a's states reach the others", func() bool {
			return hasState(m.remote, a.eid, alice) && hasState(m.remote, a.eid, odd) && hasState(m.remote, a.eid, box)
		})
	}
	eventually(t, 10*time.Second, "c's state reaches a", func() bool { return hasState(a.remote, c.eid, dev("PJSIP/carol", companion.Busy)) })
	if n := a.remote.Len(a.eid); n != 0 {
		t.Errorf("a holds %d of its own states as remote", n)
	}

	// A change and a removal.
	a.local.Set(a.eid, dev("PJSIP/alice", companion.NotInUse))
	a.local.Delete(a.eid, odd.Key)
	eventually(t, 10*time.Second, "the change and the removal reach b", func() bool {
		_, stillOdd := b.remote.Get(a.eid, odd.Key)
		return hasState(b.remote, a.eid, dev("PJSIP/alice", companion.NotInUse)) && !stillOdd
	})

	// A graceful stop clears a everywhere at once.
	a.stop()
	for _, m := range []*member{b, c} {
		eventually(t, 5*time.Second, "a's states cleared after it left", func() bool { return m.remote.Len(a.eid) == 0 })
	}
	if st := b.link.Stats(); !st.Connected || len(st.Members) != 1 || st.Members[0] != c.eid {
		t.Errorf("b's stats: %+v", st)
	}
}

func TestFleetCrashedMemberClearedAndLateJoinerGetsAll(t *testing.T) {
	srv := startServer(t, "", 0)
	cfg := testConfig(serverURL(srv))
	a, b := startMember(t, cfg, 1), startMember(t, cfg, 2)
	for i := range 50 {
		a.local.Set(a.eid, dev(fmt.Sprintf("PJSIP/a%02d", i), companion.InUse))
	}
	b.local.Set(b.eid, dev("PJSIP/b", companion.Ringing))
	eventually(t, 10*time.Second, "a's states reach b", func() bool { return b.remote.Len(a.eid) == 50 })

	late := startMember(t, cfg, 3)
	eventually(t, 10*time.Second, "a late member gets everything", func() bool {
		return late.remote.Len(a.eid) == 50 && hasState(late.remote, b.eid, dev("PJSIP/b", companion.Ringing))
	})

	// A crash: nothing removed on the way out; the presence expires.
	a.link.Abandon()
	a.stop()
	for _, m := range []*member{b, late} {
		eventually(t, cfg.PresenceTTL+2*time.Second, "a crashed member is cleared within presence_ttl + 2 s", func() bool {
			return m.remote.Len(a.eid) == 0
		})
	}
	// The lowest present EID purges the departed member's keys.
	eventually(t, 10*time.Second, "its keys purged", func() bool { return b.link.Stats().Purged == 50 })
	if p := late.link.Stats().Purged; p != 0 {
		t.Errorf("the higher EID purged %d keys too", p)
	}
}

func TestFleetIgnoresForgedAndBadKeys(t *testing.T) {
	srv := startServer(t, "", 0)
	cfg := testConfig(serverURL(srv))
	a, b := startMember(t, cfg, 1), startMember(t, cfg, 2)
	a.local.Set(a.eid, dev("PJSIP/alice", companion.InUse))
	eventually(t, 10*time.Second, "a reaches b", func() bool { return b.remote.Len(a.eid) == 1 })

	kv := rawBucket(t, srv, cfg.Bucket)
	ctx := context.Background()
	forged := companion.EntityID{0x02, 0x42, 0xac, 0x11, 0x00, 0x99}
	put := func(key string, value string) {
		t.Helper()
		if _, err := kv.Put(ctx, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	// Under a's EID, but the body says another node wrote it.
	body := func(eid companion.EntityID, s companion.State) string {
		typ := companion.MessageDeviceState
		if s.Key.Kind == companion.KindMailbox {
			typ = companion.MessageMailboxState
		}
		v, err := companion.EncodeMessage(companion.Message{Type: typ, EID: eid, State: s})
		if err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	put(stateKey(a.eid, companion.DeviceKey("PJSIP/mallory")), body(forged, dev("PJSIP/mallory", companion.InUse)))
	// A name with a line break: would end an AMI header.
	bad := "PJSIP/x\r\nAction: Originate"
	put(stateKey(a.eid, companion.DeviceKey(bad)), strings.Replace(body(a.eid, dev("PJSIP/x", companion.InUse)), "PJSIP/x", "PJSIP/x\\r\\nAction: Originate", 1))
	// A body that names another device than its key.
	put(stateKey(a.eid, companion.DeviceKey("PJSIP/one")), body(a.eid, dev("PJSIP/two", companion.InUse)))
	put(stateKey(a.eid, companion.DeviceKey("PJSIP/junk")), "not json")
	put("0242ac110001.d.YQ=", "x")
	put(presenceKey(forged), `{"eid":"02:42:ac:11:00:01"}`)

	eventually(t, 10*time.Second, "each forgery counted", func() bool {
		ig := b.link.Stats().Ignored
		return ig[IgnoredWrongEID] == 1 && ig[IgnoredBadKey] == 1 && ig[IgnoredBadName] == 1 && ig[IgnoredWrongKey] == 1 && ig[IgnoredBadValue] == 1 && ig[IgnoredBadPresence] == 1
	})
	// Bad values reach no table; a's good state stays.
	if n := b.remote.Len(a.eid); n != 1 || b.remote.Len(forged) != 0 {
		t.Errorf("b holds %d states of a and %d of the forger", n, b.remote.Len(forged))
	}
	// a puts its own key space back in line: what was written under its
	// EID by someone else is overwritten or removed.
	eventually(t, 10*time.Second, "a removes keys it did not write", func() bool {
		_, err := kv.Get(ctx, stateKey(a.eid, companion.DeviceKey("PJSIP/mallory")))
		return err != nil
	})
}

// rawBucket binds the bucket with a plain client, as a misbehaving node
// would.
func rawBucket(t *testing.T, srv interface{ ClientURL() string }, bucket string) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestFleetSurvivesNATSRestart(t *testing.T) {
	dir := t.TempDir()
	srv := startServer(t, dir, 0)
	port := serverPort(srv)
	cfg := testConfig(serverURL(srv))
	a, b := startMember(t, cfg, 1), startMember(t, cfg, 2)
	a.local.Set(a.eid, dev("PJSIP/alice", companion.InUse))
	eventually(t, 10*time.Second, "a reaches b", func() bool { return hasState(b.remote, a.eid, dev("PJSIP/alice", companion.InUse)) })

	srv.Shutdown()
	srv.WaitForShutdown()
	// While NATS is away, a changes: the change waits, SIP would carry on.
	a.local.Set(a.eid, dev("PJSIP/alice", companion.OnHold))
	a.local.Set(a.eid, dev("PJSIP/bob", companion.Ringing))
	startServer(t, dir, port)
	eventually(t, 20*time.Second, "a's changes reach b after the restart", func() bool {
		return hasState(b.remote, a.eid, dev("PJSIP/alice", companion.OnHold)) && hasState(b.remote, a.eid, dev("PJSIP/bob", companion.Ringing))
	})
	eventually(t, 10*time.Second, "both connected again", func() bool { return a.link.Stats().Connected && b.link.Stats().Connected })
}

func TestFleetServerWithoutJetStream(t *testing.T) {
	srv := startPlainServer(t)
	m := startMember(t, testConfig(srv.ClientURL()), 1)
	eventually(t, 10*time.Second, "a clear error", func() bool { return strings.Contains(m.link.Stats().LastError, "no JetStream") })
	if m.link.Stats().Connected {
		t.Error("connected without JetStream")
	}
}

func TestFleetSecretsNotLogged(t *testing.T) {
	srv := startServer(t, "", 0)
	cfg := testConfig(serverURL(srv))
	cfg.Username, cfg.Password = "node1", companion.NewSecret("hunter2-fleet", "inline")
	m := startMember(t, cfg, 1) // the server wants no auth: the login is refused, and retried
	eventually(t, 10*time.Second, "an error is logged", func() bool { return m.logs.String() != "" })
	m.stop()
	if strings.Contains(m.logs.String(), "hunter2") || strings.Contains(fmt.Sprintf("%+v", m.link.Stats()), "hunter2") {
		t.Errorf("the password got into the logs or stats:\n%s", m.logs.String())
	}
}

func TestFleetSurvivesNATSLosingEverything(t *testing.T) {
	srv := startServer(t, "", 0)
	port := serverPort(srv)
	cfg := testConfig(serverURL(srv))
	a, b := startMember(t, cfg, 1), startMember(t, cfg, 2)
	a.local.Set(a.eid, dev("PJSIP/alice", companion.InUse))
	b.local.Set(b.eid, dev("PJSIP/bob", companion.Busy))
	eventually(t, 10*time.Second, "both ways", func() bool {
		return hasState(b.remote, a.eid, dev("PJSIP/alice", companion.InUse)) && hasState(a.remote, b.eid, dev("PJSIP/bob", companion.Busy))
	})

	// A new server on the same port with an empty store: the bucket and
	// every key are gone. Each member recreates the bucket and rewrites
	// its keys; a member missing from the reloaded bucket keeps its states
	// for its presence TTL, time enough to announce itself again.
	srv.Shutdown()
	srv.WaitForShutdown()
	startServer(t, t.TempDir(), port)
	eventually(t, 20*time.Second, "keys rewritten after the loss", func() bool {
		return inBucket(cfg.NATSURLs[0], cfg.Bucket, stateKey(a.eid, companion.DeviceKey("PJSIP/alice")), stateKey(b.eid, companion.DeviceKey("PJSIP/bob")))
	})
	if !hasState(b.remote, a.eid, dev("PJSIP/alice", companion.InUse)) || !hasState(a.remote, b.eid, dev("PJSIP/bob", companion.Busy)) {
		t.Error("states lost across the NATS loss")
	}
	a.stop() // before the server's cleanup: they leave while it runs
	b.stop()
}

// inBucket reports whether the bucket holds every key.
func inBucket(url, bucket string, keys ...string) bool {
	nc, err := nats.Connect(url)
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if _, err := kv.Get(ctx, k); err != nil {
			return false
		}
	}
	return true
}
