package ami

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// TestConnectionLifecycle runs the scenarios that end connections. Each
// must wait for a connection's first keepalive before ending it (see
// noReconnect), about 5 s per connection, and amigo's keepalive timeout is
// 3 s more: they wait rather than work. -parallel defaults to the number
// of CPUs, which would queue these waits one after the other, so they run
// as subtests started from goroutines of their own (t.Run allows that),
// all at once.
func TestConnectionLifecycle(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name string
		run  func(*testing.T)
	}{
		{"login refused then accepted", testLoginRefusedThenAccepted},
		{"dropped mid-event", testReconnectAfterDropMidEvent},
		{"shutdown event", testReconnectAfterShutdownEvent},
		{"silent connection", testReconnectAfterSilence},
	}
	var wg sync.WaitGroup
	for _, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(sc.name, sc.run)
		}()
	}
	wg.Wait()
}

// A refused login is retried at the reconnect interval, logged once, and
// reports nothing; once Asterisk accepts, the client snapshots.
func testLoginRefusedThenAccepted(t *testing.T) {
	srv := serve(t, "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{reconnect: fastReconnect, secret: "wrong-secret"})

	srv.AwaitLogins(t, 3)
	// Asterisk's words (recorded in 05a_wrong_password) reach the log.
	c.logs.await(t, "AMI login refused")
	c.logs.await(t, "reason=Authentication failed")
	if c.Connected() || srv.Sessions() != 0 {
		t.Fatalf("connected = %v with %d sessions after refused logins", c.Connected(), srv.Sessions())
	}
	if s := c.Stats(); s.Connects != 0 || s.State != "refused" || !strings.Contains(s.Reason, "Authentication failed") {
		t.Errorf("stats after refused logins: %+v", s)
	}
	if n := c.logs.count("AMI login refused"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	if n := len(rec.snapshots(companion.KindDevice)); n != 0 {
		t.Errorf("%d snapshots without a login", n)
	}

	srv.SetSecret("wrong-secret") // the administrator fixes manager.conf
	sess := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	c.logs.await(t, "AMI connected")
	awaitKeepalive(t, sess)
	endReconnecting(t, srv, c)
}

// The connection breaks in the middle of a DeviceStateChange; the half
// event is dropped, the client reconnects, and the snapshot after it
// reports exactly what changed meanwhile: one device changed (the one the
// cut event was about), one gone, one new; the unchanged ones are no news.
func testReconnectAfterDropMidEvent(t *testing.T) {
	tr := transcript(t, "handmade_restart_devstate.transcript")
	srv := serve(t, "handmade_restart_devstate.transcript")
	table, local, _ := newLocal()
	rec := newRecorder()
	c := startClient(t, srv, tee{rec, local}, clientOptions{reconnect: fastReconnect})

	sess1 := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	before := tableStates(table)
	if len(before) != 4 {
		t.Fatalf("table after the first snapshot = %v", before)
	}
	awaitKeepalive(t, sess1)
	changes := table.Watch(nil)
	defer changes.Close()

	partial := tr.Unsolicited()[0]
	if !bytes.HasSuffix(partial, []byte("State: IN")) {
		t.Fatalf("expected half an event, got %q", partial)
	}
	if err := sess1.Send(partial); err != nil {
		t.Fatal(err)
	}
	sess1.Drop()

	sess2 := srv.Session(t, 2)
	rec.awaitSnapshots(t, companion.KindDevice, 2)
	if s := c.Stats(); s.Connects != 2 || s.Reconnects() != 1 || !s.Connected || s.State != "connected" || s.LastConnect.IsZero() {
		t.Errorf("stats after a reconnect: %+v", s)
	}
	want := []companion.State{
		dev("Custom:alice", companion.InUse),
		dev("Custom:bob", companion.Busy),
		dev("Custom:foo", companion.NotInUse),
		dev("PJSIP/static100", companion.Unavailable),
	}
	if got := tableStates(table); !slices.Equal(got, want) {
		t.Errorf("table after the reconnect = %v\nwant %v", got, want)
	}
	var news []string
	for _, e := range changes.Changes() {
		if e.Removed {
			news = append(news, "removed "+e.State.Key.Name)
		} else {
			news = append(news, e.State.String())
		}
	}
	if want := []string{"Custom:alice INUSE", "Custom:bob BUSY", "removed Custom:remote2only"}; !slices.Equal(news, want) {
		t.Errorf("changes = %q, want %q", news, want)
	}
	if got := observed(rec.all()); len(got) != 0 {
		t.Errorf("the cut event became updates: %v", got)
	}
	awaitConnected(t, c.Client)
	if n := c.logs.count("AMI connection lost"); n != 1 {
		t.Errorf("%d \"connection lost\" lines, want 1", n)
	}
	if n := c.logs.count("AMI connected"); n != 2 {
		t.Errorf("%d \"AMI connected\" lines, want 2", n)
	}
	awaitKeepalive(t, sess2)
	endReconnecting(t, srv, c)
}

// Asterisk's Shutdown event (10: "core restart now"), then EOF: the client
// counts itself down at once, says why once, reconnects and resyncs.
func testReconnectAfterShutdownEvent(t *testing.T) {
	tr := transcript(t, "10_inst1_while_inst2_stops_and_restarts.transcript")
	srv := serve(t, "10_inst1_while_inst2_stops_and_restarts.transcript", "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{reconnect: fastReconnect})

	sess1 := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	awaitConnected(t, c.Client)
	awaitKeepalive(t, sess1)

	var shutdown []byte
	for _, b := range tr.Unsolicited() {
		if bytes.Contains(b, []byte("Event: Shutdown")) {
			shutdown = b
		}
	}
	if err := sess1.Send(shutdown); err != nil {
		t.Fatal(err)
	}
	c.logs.await(t, "Asterisk is shutting down")
	if !strings.Contains(c.logs.String(), "restart=True") {
		t.Errorf("the log does not say Asterisk restarts:\n%s", c.logs)
	}
	eventually(t, "the client down", func() bool { return !c.Connected() })
	sess1.Drop() // Asterisk closes right after the event

	sess2 := srv.Session(t, 2)
	rec.awaitSnapshots(t, companion.KindDevice, 2)
	awaitConnected(t, c.Client)
	if n := c.logs.count("Asterisk is shutting down"); n != 1 {
		t.Errorf("shutdown logged %d times", n)
	}
	awaitKeepalive(t, sess2)
	endReconnecting(t, srv, c)
}

// A connection that goes silent (no answer to amigo's keepalive Ping) is
// dropped by amigo after its 3 s wait; the client reconnects and resyncs.
func testReconnectAfterSilence(t *testing.T) {
	srv := serve(t, "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{reconnect: fastReconnect})

	sess1 := srv.Session(t, 1)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	sess1.Silence()

	sess2 := srv.SessionWithin(t, pingWait+wait, 2)
	rec.awaitSnapshots(t, companion.KindDevice, 2)
	c.logs.await(t, "reason=ping timeout")
	awaitConnected(t, c.Client)
	awaitKeepalive(t, sess2)
	endReconnecting(t, srv, c)
}

// endReconnecting ends a scenario whose client reconnects quickly. amigo
// goes on reconnecting after Run returns, and a connection it makes then
// ends before its first keepalive, which trips amigo's data race (see
// noReconnect). So the server goes first: the live connection ends after
// its keepalive, and every later attempt is refused. Then the client
// stops, with nothing to log off from.
func endReconnecting(t *testing.T, srv *amitest.Server, c runningClient) {
	t.Helper()
	srv.Close()
	eventually(t, "the client down", func() bool { return !c.Connected() })
	c.stop()
}
