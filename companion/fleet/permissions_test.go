package fleet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/astcompanion/sidecar/companion"
)

// memberPermissions is what the README recommends for a member: the
// JetStream API, flow control of its watch, replies to its inbox, and
// writes to its own keys only.
func memberPermissions(bucket string, self companion.EntityID) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.>", "$JS.FC.>", PermittedSubject(bucket, self)}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

func TestFleetPerNodePermissions(t *testing.T) {
	cfg := testConfig()
	a, b := eidN(1), eidN(2)
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "a", Password: "pa", Permissions: memberPermissions(cfg.Bucket, a)},
			{Username: "b", Password: "pb", Permissions: memberPermissions(cfg.Bucket, b)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	cfg.NATSURLs = []string{s.ClientURL()}
	start := func(n int, user, pw string) *member {
		c := *cfg
		c.Username, c.Password = user, companion.NewSecret(pw, "inline")
		return startMember(t, &c, n)
	}
	ma, mb := start(1, "a", "pa"), start(2, "b", "pb")
	ma.local.Set(a, dev("PJSIP/alice", companion.InUse))
	eventually(t, 10*time.Second, "a's state reaches b under permissions", func() bool { return hasState(mb.remote, a, dev("PJSIP/alice", companion.InUse)) })

	// b cannot write under a's EID.
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("b", "pb"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := kv.Put(ctx, stateKey(a, companion.DeviceKey("PJSIP/mallory")), []byte("x")); err == nil {
		t.Fatal("b wrote a key under a's EID")
	}

	// a crashes: b cannot purge a's keys, but clears a's states anyway.
	ma.link.Abandon()
	ma.stop()
	eventually(t, cfg.PresenceTTL+2*time.Second, "a cleared on b", func() bool { return mb.remote.Len(a) == 0 })
	eventually(t, 5*time.Second, "the refused purge is logged", func() bool { return strings.Contains(mb.logs.String(), "not purging") })
	if mb.link.Stats().Purged != 0 {
		t.Error("purged despite permissions")
	}
}
