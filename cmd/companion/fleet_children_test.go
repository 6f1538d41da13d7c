package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// The fleet as child processes: whole companions beside simulated
// Asterisks, sharing state through NATS servers the test process runs.

const fleetTestPassword = "fleet-pw-0b7e" // must never show in a child's log

// fleetChildConfig is fleetConfig with NATS credentials from the
// environment (the children inherit FLEET_TEST_PW) and presence_ttl ttl.
func fleetChildConfig(t *testing.T, name, eid, ttl string, ast *amiHost, urls ...string) string {
	src := fleetConfig(name, eid, ast.address, urls[0], t.TempDir())
	quoted := make([]string, len(urls))
	for i, u := range urls {
		quoted[i] = fmt.Sprintf("%q", u)
	}
	src = strings.Replace(src, fmt.Sprintf("nats_urls = [%q]", urls[0]), "nats_urls = ["+strings.Join(quoted, ", ")+"]", 1)
	return strings.Replace(src, `presence_ttl = "2s"`, "presence_ttl = \""+ttl+"\"\nreplicas = "+fmt.Sprint(min(len(urls), 3))+
		"\nusername = \"companion\"\npassword_env = \"FLEET_TEST_PW\"", 1)
}

// natsNode is one NATS server of the test, restartable on its port and
// store.
type natsNode struct {
	t    *testing.T
	opts server.Options
	srv  *server.Server
}

func newNATSNode(t *testing.T, name string, clusterPort int, routes []string) *natsNode {
	t.Helper()
	n := &natsNode{t: t, opts: server.Options{
		ServerName: name, Host: "127.0.0.1", Port: freeTCPPort(t),
		JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
		Username: "companion", Password: fleetTestPassword,
	}}
	if clusterPort > 0 {
		n.opts.Cluster = server.ClusterOpts{Name: "fleet-test", Host: "127.0.0.1", Port: clusterPort}
		for _, r := range routes {
			u, err := url.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			n.opts.Routes = append(n.opts.Routes, u)
		}
	}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

func (n *natsNode) start() {
	n.t.Helper()
	opts := n.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("nats server not ready")
	}
	n.srv = s
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func TestFleetChildrenConvergeCrashLateJoinRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	t.Setenv("FLEET_TEST_PW", fleetTestPassword)
	ns := newNATSNode(t, "n1", 0, nil)
	names := []string{"ast1", "ast2", "ast3", "ast4"}
	hosts := make([]*amiHost, len(names))
	for i, name := range names {
		hosts[i] = newAMIHost(t, name)
		hosts[i].SetDevice("PJSIP/"+name, "NOT_INUSE")
	}
	kids := make([]*child, len(names))
	startKid := func(i int) {
		kids[i] = startChild(t, names[i], fleetChildConfig(t, names[i], fmt.Sprintf("02:00:00:00:01:%02x", i+1), "2s", hosts[i], ns.url()))
	}
	for i := range 3 {
		startKid(i)
	}
	await := func(h *amiHost, write string, within time.Duration) {
		t.Helper()
		if err := h.awaitWrite(write, within); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				await(hosts[j], "Setvar DEVICE_STATE(Custom:PJSIP/"+names[i]+")=NOT_INUSE", 30*time.Second)
			}
		}
	}
	hosts[0].SetDevice("PJSIP/ast1", "INUSE")
	hosts[0].SetMailbox("100@default", 0, 3)
	for _, h := range hosts[1:3] {
		await(h, "Setvar DEVICE_STATE(Custom:PJSIP/ast1)=INUSE", 10*time.Second)
		await(h, "MWIUpdate 100@default 0/3", 10*time.Second)
	}

	// SIGKILL: nothing is removed; the presence expires (TTL 2 s).
	kids[2].kill()
	for _, h := range hosts[:2] {
		await(h, "Setvar DEVICE_STATE(Custom:PJSIP/ast3)=UNAVAILABLE", 2*time.Second+2*time.Second)
	}

	// A node started later gets everything.
	startKid(3)
	await(hosts[3], "Setvar DEVICE_STATE(Custom:PJSIP/ast1)=INUSE", 30*time.Second)
	await(hosts[3], "Setvar DEVICE_STATE(Custom:PJSIP/ast2)=NOT_INUSE", 10*time.Second)
	await(hosts[3], "MWIUpdate 100@default 0/3", 10*time.Second)
	if hosts[3].wrote("Setvar DEVICE_STATE(Custom:PJSIP/ast3)=NOT_INUSE") {
		t.Error("the late node applied the killed node's state")
	}

	// NATS restarts (same port, same store): the fleet resyncs.
	ns.stop()
	hosts[0].SetDevice("PJSIP/ast1", "RINGING")
	ns.start()
	for _, h := range []*amiHost{hosts[1], hosts[3]} {
		await(h, "Setvar DEVICE_STATE(Custom:PJSIP/ast1)=RINGING", 20*time.Second)
	}

	termAll(t, kids[0], kids[1], kids[3])
	for _, k := range kids {
		if strings.Contains(k.log.String(), fleetTestPassword) {
			t.Errorf("%s logged the NATS password", k.name)
		}
	}
}

func TestFleetChildrenThreeServerCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	t.Setenv("FLEET_TEST_PW", fleetTestPassword)
	cports := []int{freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)}
	var routes []string
	for _, p := range cports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var servers []*natsNode
	var urls []string
	for i, p := range cports {
		servers = append(servers, newNATSNode(t, fmt.Sprintf("n%d", i+1), p, routes))
		urls = append(urls, servers[i].url())
	}
	names := []string{"ast1", "ast2", "ast3"}
	hosts := make([]*amiHost, len(names))
	kids := make([]*child, len(names))
	for i, name := range names {
		hosts[i] = newAMIHost(t, name)
		hosts[i].SetDevice("PJSIP/"+name, "NOT_INUSE")
		// Each node lists the servers in another order: they spread.
		order := append(append([]string(nil), urls[i:]...), urls[:i]...)
		// A TTL longer than a JetStream leader election: with 2 s, the
		// presence of members writing through the lost server's stream
		// leader can expire before a new leader takes their refresh.
		kids[i] = startChild(t, name, fleetChildConfig(t, name, fmt.Sprintf("02:00:00:00:02:%02x", i+1), "10s", hosts[i], order...))
	}
	await := func(h *amiHost, write string, within time.Duration) {
		t.Helper()
		if err := h.awaitWrite(write, within); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		for j := range 3 {
			if i != j {
				// The cluster elects its JetStream leaders first.
				await(hosts[j], "Setvar DEVICE_STATE(Custom:PJSIP/"+names[i]+")=NOT_INUSE", 60*time.Second)
			}
		}
	}

	// One server goes: the R3 bucket keeps every state, and changes flow
	// again within 5 s of the change.
	servers[0].stop()
	hosts[1].SetDevice("PJSIP/ast2", "BUSY")
	for _, h := range []*amiHost{hosts[0], hosts[2]} {
		await(h, "Setvar DEVICE_STATE(Custom:PJSIP/ast2)=BUSY", 5*time.Second+5*time.Second) // reconnect (up to ~2 s) + the 5 s target
	}
	hosts[0].SetDevice("PJSIP/ast1", "ONHOLD")
	for _, h := range hosts[1:] {
		await(h, "Setvar DEVICE_STATE(Custom:PJSIP/ast1)=ONHOLD", 10*time.Second)
	}
	for i, h := range hosts {
		for j := range names {
			if i != j && h.wrote("Setvar DEVICE_STATE(Custom:PJSIP/"+names[j]+")=UNAVAILABLE") {
				t.Errorf("%s's states were cleared on %s while one NATS server was down", names[j], names[i])
			}
		}
	}
	termAll(t, kids...)
}
