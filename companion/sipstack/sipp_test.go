package sipstack

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// Interop with sipp (Debian package sip-tester), scenarios in
// fixtures/sipp. Without sipp these tests skip with a message saying how to
// install it, except under CI=true, where a missing sipp is a failure
// (.ci/run installs it).

const sippScenarios = "../../fixtures/sipp"

// sippBound bounds one sipp run; the scenarios' own timeouts are shorter.
const sippBound = 60 * time.Second

func sippBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err == nil {
		return p
	}
	const install = "sipp not found: install it with `apt-get install sip-tester` to run the SIP interop tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(install + " (CI=true: a missing sipp is a failure)")
	}
	t.Skip(install)
	return ""
}

// sippRun is one sipp process, run in a directory of its own where it
// writes its logs.
type sippRun struct {
	t    *testing.T
	dir  string
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startSipp runs scenario (a file name in fixtures/sipp) with args added
// to the common ones: one call, loopback only, bounded, errors and
// messages traced.
func startSipp(t *testing.T, scenario string, args ...string) *sippRun {
	t.Helper()
	bin := sippBin(t)
	sf, err := filepath.Abs(filepath.Join(sippScenarios, scenario))
	if err != nil {
		t.Fatal(err)
	}
	r := &sippRun{t: t, dir: t.TempDir(), done: make(chan error, 1)}
	common := []string{"-sf", sf, "-m", "1", "-nostdin", "-i", "127.0.0.1", "-bind_local",
		"-timeout", "30s", "-timeout_error", "-recv_timeout", "10000",
		"-trace_err", "-trace_msg", "-trace_logs"}
	ctx, cancel := context.WithTimeout(context.Background(), sippBound)
	r.cmd = exec.CommandContext(ctx, bin, append(args, common...)...)
	r.cmd.Dir = r.dir
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		r.done <- r.cmd.Wait()
		cancel()
	}()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// check waits for sipp and fails the test, with sipp's logs, unless every
// call of the scenario succeeded (exit status 0).
func (r *sippRun) check() {
	r.t.Helper()
	err := <-r.done
	r.done <- err
	if err == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sipp %s: %v\n", strings.Join(r.cmd.Args[1:], " "), err)
	// Errors first: they name the message and check that failed.
	for _, kind := range []string{"errors", "logs", "messages"} {
		logs, _ := filepath.Glob(filepath.Join(r.dir, "*_"+kind+".log"))
		for _, l := range logs {
			data, _ := os.ReadFile(l)
			fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(l), tail(string(data), 4000))
		}
	}
	fmt.Fprintf(&b, "--- output (tail)\n%s\n", tail(r.out.String(), 1500))
	r.t.Error(b.String())
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// The receiving companion of the sipp tests: its EID, and two peers, one
// known by address and one by digest credentials.
var (
	ownEID  = companion.EntityID{2, 0, 0, 0, 0, 2}
	sippEID = companion.EntityID{2, 0, 0, 0, 0, 0x99}
)

func receiver(t *testing.T) (*Stack, *companion.Table) {
	t.Helper()
	cfg := &companion.Config{
		Node: companion.NodeConfig{Name: "ast2", EID: ownEID},
		Peers: []companion.PeerConfig{
			{Name: "ast1", Accept: &companion.AcceptConfig{
				Resource: "ast1", Match: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
				DeviceState: true, MailboxState: true,
			}},
			{Name: "secure", Accept: &companion.AcceptConfig{
				Resource: "secure", Username: "secure", Password: companion.NewSecret("s3cret", "test"),
				DeviceState: true, MailboxState: true,
			}},
		},
	}
	remote := companion.NewTable()
	st := newStack(t, Options{Node: cfg.Node, UserAgent: "Asterisk PBX ast2"}, "udp", "tcp")
	serve(t, st, companion.NewReceiver(cfg, ownEID, remote))
	return st, remote
}

// uac runs a client scenario against the receiver over transport ("udp"
// or "tcp").
func uac(t *testing.T, st *Stack, transport, scenario string, args ...string) {
	t.Helper()
	mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
	startSipp(t, scenario, append([]string{addr(t, st, transport).String(), "-t", mode}, args...)...).check()
}

func deviceOf(remote *companion.Table, name string) (companion.DeviceState, bool) {
	e, ok := remote.Get(sippEID, companion.DeviceKey(name))
	return e.State.Device, ok
}

func TestSippPublishAccepted(t *testing.T) {
	for _, tp := range []string{"udp", "tcp"} {
		t.Run(tp, func(t *testing.T) {
			st, remote := receiver(t)
			uac(t, st, tp, "publish_accepted.xml", "-s", "ast1")
			if s, ok := deviceOf(remote, "Custom:sipp"); !ok || s != companion.NotInUse {
				t.Errorf("Custom:sipp = %v %v, want NOT_INUSE from the modify", s, ok)
			}
			if s, ok := deviceOf(remote, "Custom:sipp2"); !ok || s != companion.Busy {
				t.Errorf("Custom:sipp2 = %v %v", s, ok)
			}
			if _, ok := remote.Get(sippEID, companion.MailboxKey(companion.MailboxID{Box: "1000", Context: "default"})); ok {
				t.Error("the mailbox state outlived the removal of its publication")
			}
		})
	}
}

func TestSippBadBodies(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "udp", "publish_bad_bodies.xml", "-s", "ast1")
	if es := remote.Entries(sippEID); len(es) != 0 {
		t.Errorf("refused bodies reached the table: %v", es)
	}
}

func TestSippRefused(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "udp", "publish_refused.xml", "-s", "ast1")
	if es := remote.Entries(sippEID); len(es) != 0 {
		t.Errorf("refused requests reached the table: %v", es)
	}
}

func TestSippDigest(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "udp", "publish_digest.xml", "-s", "secure", "-au", "secure", "-ap", "s3cret")
	if s, ok := deviceOf(remote, "Custom:sipp"); !ok || s != companion.InUse {
		t.Errorf("Custom:sipp = %v %v after authenticating", s, ok)
	}
}

func TestSippDigestRefused(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "udp", "publish_digest_refused.xml", "-s", "secure", "-au", "secure", "-ap", "wrong")
	uac(t, st, "tcp", "publish_digest_refused.xml", "-s", "secure", "-au", "intruder", "-ap", "s3cret")
	if es := remote.Entries(sippEID); len(es) != 0 {
		t.Errorf("wrong credentials reached the table: %v", es)
	}
}

func TestSippTooLarge(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "tcp", "publish_too_large.xml", "-s", "ast1")
	if es := remote.Entries(sippEID); len(es) != 0 {
		t.Errorf("an oversized body reached the table: %v", es)
	}
}

func TestSippLargeDatagram(t *testing.T) {
	st, remote := receiver(t)
	uac(t, st, "udp", "publish_large_datagram.xml", "-s", "ast1")
	if es := remote.Entries(sippEID); len(es) != 1 || es[0].State.Key.Name != "Custom:large" {
		t.Errorf("the large body did not arrive whole: %v", es)
	}
}

// sipp as the peer receiving the companion's publication checks each
// PUBLISH the Sender writes.
func TestSippReceivesPublish(t *testing.T) {
	port := freeUDPPort(t)
	r := startSipp(t, "uas_publish.xml", "-t", "u1", "-p", fmt.Sprint(port), "-set", "uri_port", fmt.Sprint(port))
	st := newStack(t, Options{UserAgent: "companion-sipp-test"}, "udp")
	uri := fmt.Sprintf("sip:ast1@127.0.0.1:%d", port)
	snd := st.Sender(publishConfig(t, uri), companion.EventDeviceState)
	body := func(s companion.DeviceState) []byte {
		b, err := companion.EncodeMessage(companion.Message{Type: companion.MessageDeviceState, EID: companion.EntityID{2, 0, 0, 0, 0, 1}, State: companion.Device("Custom:alice", s, true)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct {
		req  companion.PublishRequest
		etag string
	}{
		{companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: body(companion.InUse)}, "42"},
		{companion.PublishRequest{Event: companion.EventDeviceState, IfMatch: "42", Expires: 60, Body: body(companion.NotInUse)}, "43"},
		{companion.PublishRequest{Event: companion.EventDeviceState, IfMatch: "43", Expires: 0}, "44"},
	}
	for i, s := range steps {
		// sipp may still be starting: UDP retransmissions cover that.
		o := <-goPublish(snd, s.req)
		if o.err != nil || o.res.Status != 200 || o.res.ETag != s.etag {
			t.Errorf("PUBLISH %d: %s", i+1, o)
			break
		}
	}
	r.check()
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
