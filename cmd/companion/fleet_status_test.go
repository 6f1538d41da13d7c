package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/httpstatus"
)

// The status listener covers the fleet link like a peer: /metrics,
// /status and "companion status" show it, and a NATS outage degrades the
// node without making it unhealthy; the NATS password shows nowhere.
func TestFleetInTheStatusListener(t *testing.T) {
	t.Setenv("FLEET_TEST_PW", fleetTestPassword)
	ns := newNATSNode(t, "status-nats", 0, nil)
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	b.ast.SetDevice("PJSIP/bob", "RINGING")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	url := "http://" + httpAddr
	start := func(s *testSide, eid, listen string) string {
		t.Helper()
		src := fleetConfig(s.name, eid, s.ast.addr(), ns.url(), t.TempDir())
		for old, new := range map[string]string{
			`http_listen = "127.0.0.1:0"`: fmt.Sprintf("http_listen = %q", listen),
			`presence_ttl = "2s"`:         "presence_ttl = \"2s\"\nusername = \"companion\"\npassword_env = \"FLEET_TEST_PW\"",
		} {
			if !strings.Contains(src, old) {
				t.Fatalf("fleetConfig no longer holds %s", old)
			}
			src = strings.Replace(src, old, new, 1)
		}
		path := filepath.Join(t.TempDir(), s.name+".toml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n, err := newNode(ctx, cfg, slog.New(slog.NewTextHandler(testLogWriter{t, s.name}, nil)))
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.run(ctx, path, nil) }()
		t.Cleanup(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Errorf("%s did not stop", s.name)
			}
		})
		return path
	}
	pathA := start(a, "02:00:00:00:04:01", httpAddr)
	start(b, "02:00:00:00:04:02", "127.0.0.1:0")
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=RINGING")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE")

	// The figures settle once both are in sync and see each other.
	var st httpstatus.Status
	var body string
	for i := 0; ; i++ {
		_, body = httpGet(t, url+"/status")
		st = httpstatus.Status{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if f := st.Fleet; f != nil && f.Connected && len(f.Members) == 1 && f.States == 1 && f.OurKeys == 1 && f.Pending == 0 {
			break
		}
		if i == 500 {
			t.Fatalf("fleet in /status never settled: %+v", st.Fleet)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f := st.Fleet
	if f.Members[0] != "02:00:00:00:04:02" || f.Written < 1 || f.SyncedAt == nil || f.LastError != "" || f.Ignored["wrong_eid"] != 0 {
		t.Errorf("fleet %+v", f)
	}
	if !st.Healthy || len(st.Degraded) != 0 {
		t.Errorf("in sync: healthy %v, problems %v, degraded %v", st.Healthy, st.Problems, st.Degraded)
	}
	origins := map[string]string{}
	for _, o := range st.States {
		for _, d := range o.Devices {
			origins[d.Device] = o.Origin + " " + o.Peer
		}
	}
	if origins["PJSIP/bob"] != "02:00:00:00:04:02 fleet" || origins["PJSIP/alice"] != "02:00:00:00:04:01 " {
		t.Errorf("states per origin: %v", origins)
	}

	_, scrape := httpGet(t, url+"/metrics")
	for series, want := range map[string]float64{
		"companion_fleet_connected":                         1,
		"companion_fleet_members":                           1,
		"companion_fleet_states":                            1,
		"companion_fleet_keys":                              1,
		"companion_fleet_keys_pending":                      0,
		"companion_fleet_write_failures_total":              0,
		`companion_fleet_ignored_total{reason="wrong_eid"}`: 0,
	} {
		if v := metricValue(t, scrape, series); v != want {
			t.Errorf("%s = %v, want %v", series, v, want)
		}
	}
	if v := metricValue(t, scrape, "companion_fleet_writes_total"); v < 1 {
		t.Errorf("companion_fleet_writes_total = %v", v)
	}
	metricValue(t, scrape, "companion_fleet_purged_total")

	code, table, errOut := runCLI("status", "--config", pathA)
	if code != 0 {
		t.Fatalf("companion status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"fleet     in sync since", "1 member, 1 state held; our keys: 1 (0 pending)",
		"states of 02:00:00:00:04:02 (from the fleet)", "PJSIP/bob"} {
		if !strings.Contains(table, want) {
			t.Errorf("companion status lacks %q:\n%s", want, table)
		}
	}
	t.Logf("companion status:\n%s", table)
	_, healthz := httpGet(t, url+"/healthz")
	_, readyz := httpGet(t, url+"/readyz")
	outputs := map[string]string{"/status": body, "/metrics": scrape, "companion status": table, "/healthz": healthz, "/readyz": readyz}

	// NATS goes away: still healthy and ready (200), degraded, and says why.
	ns.stop()
	var down string
	for i := 0; ; i++ {
		code, down = httpGet(t, url+"/healthz")
		if code != 200 {
			t.Fatalf("/healthz %d %q with NATS down: the SIP side carries on, want 200", code, down)
		}
		if strings.HasPrefix(down, "ok\ndegraded: fleet link down: ") {
			break
		}
		if i == 1500 {
			t.Fatalf("/healthz never told the fleet link is down: %q", down)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Count(down, "\n") != 2 {
		t.Errorf("/healthz %q: want ok and one degraded line", down)
	}
	code, readyz = httpGet(t, url+"/readyz")
	if code != 200 || !strings.HasPrefix(readyz, "ready\ndegraded: fleet link down: ") {
		t.Errorf("/readyz %d %q", code, readyz)
	}
	_, scrape = httpGet(t, url+"/metrics")
	if v := metricValue(t, scrape, "companion_fleet_connected"); v != 0 {
		t.Errorf("companion_fleet_connected %v with NATS down", v)
	}
	_, body = httpGet(t, url+"/status")
	st = httpstatus.Status{}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Healthy || st.Fleet == nil || st.Fleet.Connected || st.Fleet.LastError == "" || len(st.Degraded) != 1 {
		t.Errorf("NATS down: healthy %v, degraded %v, fleet %+v", st.Healthy, st.Degraded, st.Fleet)
	}
	_, table, _ = runCLI("status", "--config", pathA)
	if !strings.Contains(table, "fleet     DOWN") || !strings.Contains(table, "degraded  fleet link down: ") || !strings.Contains(table, "health    ok") {
		t.Errorf("companion status with NATS down:\n%s", table)
	}
	for k, v := range map[string]string{"/status down": body, "/metrics down": scrape, "/healthz down": down, "/readyz down": readyz, "companion status down": table} {
		outputs[k] = v
	}
	for where, text := range outputs {
		if strings.Contains(text, fleetTestPassword) {
			t.Errorf("%s shows the NATS password", where)
		}
	}
}
