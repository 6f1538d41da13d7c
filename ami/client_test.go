package ami

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// Login, then the snapshot: DeviceStateList as recorded, and no mailbox
// snapshot since the recorded Asterisk answers neither VoicemailUsersList
// nor MWIGet in that session; at the end, Logoff.
func TestLoginSnapshotLogoff(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript")
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{})

	sess := srv.Session(t, 1)
	snaps := rec.awaitSnapshots(t, companion.KindDevice, 1)
	want := []companion.State{
		dev("PJSIP/ast1", companion.Unavailable),
		dev("PJSIP/ast2", companion.Unavailable),
		dev("Custom:alice", companion.NotInUse),
		dev("Custom:remote2only", companion.Busy),
		dev("Custom:foo", companion.NotInUse),
		dev("PJSIP/static100", companion.Unavailable),
	}
	if !slices.Equal(snaps[0], want) {
		t.Errorf("device snapshot = %v\nwant %v", snaps[0], want)
	}
	if !c.Connected() {
		t.Error("Connected() = false after the snapshot")
	}

	// Both mailbox sources were asked; neither is loaded, which is normal:
	// no mailbox snapshot (it would erase what is known).
	sess.AwaitAction(t, "VoicemailUsersList")
	if a := sess.AwaitAction(t, "MWIGet"); a.Get("Mailbox") != "/.*/" {
		t.Errorf("MWIGet Mailbox = %q, want every mailbox", a.Get("Mailbox"))
	}
	c.logs.await(t, "mailbox state cannot be read")
	if n := len(rec.snapshots(companion.KindMailbox)); n != 0 {
		t.Errorf("%d mailbox snapshots without a mailbox source", n)
	}

	c.stop()
	sess.AwaitAction(t, "Logoff")
	sess.AwaitClosed(t)
	if c.Connected() {
		t.Error("Connected() = true after Run returned")
	}
	if err := c.ApplyDevice(context.Background(), "Custom:x", companion.InUse); !errors.Is(err, ErrNotConnected) {
		t.Errorf("ApplyDevice after Run = %v, want ErrNotConnected", err)
	}
	if n := c.logs.count("AMI connected"); n != 1 {
		t.Errorf("%d \"AMI connected\" lines, want 1", n)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []companion.AMIConfig{
		{Address: "127.0.0.1", Username: "u", Secret: companion.NewSecret("s", "")},
		{Address: "127.0.0.1:5038", Username: "", Secret: companion.NewSecret("s", "")},
		{Address: "127.0.0.1:5038", Username: "u"},
	} {
		if err := New(cfg, nil, newRecorder()).Run(context.Background()); err == nil {
			t.Errorf("Run(%+v) = nil", cfg)
		}
	}
}

func TestSettings(t *testing.T) {
	st, err := settings(companion.AMIConfig{Address: "[::1]:5039", Username: "u", Secret: companion.NewSecret("pw", "")})
	if err != nil {
		t.Fatal(err)
	}
	// amigo joins Host and Port with a bare ':'.
	if st.Host+":"+st.Port != "[::1]:5039" {
		t.Errorf("amigo would dial %s:%s", st.Host, st.Port)
	}
	if !st.Keepalive || st.ReconnectInterval != companion.DefaultAMIReconnectInterval ||
		st.ActionTimeout != companion.DefaultAMIActionTimeout || st.Password != "pw" {
		t.Errorf("settings = %+v", st)
	}
}

// The Shutdown event of a graceful stop (11: no SystemName, Restart:
// False) takes the client down at once and is logged once, however often
// it comes.
func TestShutdownEventTakesClientDown(t *testing.T) {
	tr := transcript(t, "11_inst2_core_stop_gracefully.transcript")
	logs := newLogBuffer(t)
	c := New(companion.AMIConfig{Address: "127.0.0.1:5039"}, slog.New(logs), newRecorder())
	c.running = true // as Run sets it
	c.link.up.Store(true)
	events := amitest.SplitMessages(concat(tr.Unsolicited()))
	for range 2 {
		for _, m := range events {
			c.onMessage(asMap(m))
		}
	}
	if c.Connected() {
		t.Error("still connected after Shutdown")
	}
	if n := logs.count("Asterisk is shutting down"); n != 1 || logs.count("restart=False") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

// asMap is a message as amigo hands it over.
func asMap(m amitest.Message) map[string]string {
	out := make(map[string]string, len(m))
	for _, h := range m {
		out[h.Key] = h.Value
	}
	return out
}
