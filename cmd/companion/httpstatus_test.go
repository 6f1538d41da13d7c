package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/httpstatus"
)

// Secrets the status tests put in the files, to look for in every output.
const (
	statusAMISecret  = "ami-Zq9x-s3cret"
	statusPeerSecret = "peer-Zq9x-s3cret"
	statusARISecret  = "ari-Zq9x-s3cret"
)

// startWithStatus runs s's companion like testSide.start, with its status
// listener on httpAddr, digest credentials between the peers, and an
// [ari] section that is never contacted (no [[sorcery]]): each carries a
// secret. It returns the configuration file's path.
func (s *testSide) startWithStatus(t *testing.T, peer *testSide, eid, httpAddr string) string {
	t.Helper()
	src := pairConfig(s.name, eid, s.port, s.ast.addr(), peer.name, peer.port,
		fmt.Sprintf("username = %q\n  password = %q", s.name, statusPeerSecret),
		fmt.Sprintf("device_state = true\n  mailbox_state = true\n  username = %q\n  password = %q", peer.name, statusPeerSecret))
	for old, new := range map[string]string{
		`http_listen = "127.0.0.1:0"`: "http_listen = " + strconv.Quote(httpAddr),
		`secret = "demo"`:             "secret = " + strconv.Quote(statusAMISecret),
	} {
		if !strings.Contains(src, old) {
			t.Fatalf("pairConfig no longer holds %s", old)
		}
		src = strings.Replace(src, old, new, 1)
	}
	src += fmt.Sprintf("\n[ari]\nurl = \"http://127.0.0.1:1/ari\"\nusername = \"asterisk\"\npassword = %q\n", statusARISecret)
	path := filepath.Join(t.TempDir(), s.name+".toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	n, err := newNode(ctx, cfg, slog.New(slog.NewTextHandler(testLogWriter{t, s.name}, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.node = n
	done := make(chan error, 1)
	go func() { done <- n.run(ctx, path, nil) }()
	s.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s stopped with %v", s.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop", s.name)
		}
	}
	t.Cleanup(func() {
		if stop := s.stop; stop != nil {
			s.stop = nil
			stop()
		}
	})
	return path
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// awaitHTTP polls url until it answers want (bounded); the listener may
// not be bound yet when it starts.
func awaitHTTP(t *testing.T, url string, want int) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	last := ""
	for range 500 { // 10 s
		res, err := c.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err == nil && res.StatusCode == want {
				return string(b)
			}
			last = fmt.Sprintf("%d %q", res.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %s, want %d", url, last, want)
	return ""
}

// metricValue is the value of the series line starting with series.
func metricValue(t *testing.T, scrape, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		t.Fatalf("no series %s in the scrape", series)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range []string{statusAMISecret, statusPeerSecret, statusARISecret, "Zq9x"} {
		if strings.Contains(text, s) {
			t.Errorf("%s shows a secret (%s)", where, s)
		}
	}
}

func TestStatusListenerOfARunningNode(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	a.ast.SetDevice("PJSIP/alice", "NOT_INUSE")
	b.ast.SetDevice("PJSIP/bob", "NOT_INUSE")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	url := "http://" + httpAddr
	pathA := a.startWithStatus(t, b, "02:00:00:00:00:01", httpAddr)
	awaitHTTP(t, url+"/readyz", 200)
	before := awaitHTTP(t, url+"/metrics", 200)

	b.startWithStatus(t, a, "02:00:00:00:00:02", "127.0.0.1:0")
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=NOT_INUSE")
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=NOT_INUSE")
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	a.ast.SetMailbox("100@default", 1, 2)
	b.await(t, "MWIUpdate 100@default 1/2")
	b.ast.SetDevice("PJSIP/bob", "RINGING")
	a.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/bob)=RINGING")

	if code, body := httpGet(t, url+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	code, after := httpGet(t, url+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	if path := os.Getenv("COMPANION_SAVE_SCRAPE"); path != "" {
		// How the README's sample scrape is made.
		os.WriteFile(path, []byte(after), 0o644)
	}
	for _, series := range []string{"companion_ami_connected", `companion_sip_listener_up{listener="udp://127.0.0.1:` + strconv.Itoa(a.port) + `"}`} {
		if v := metricValue(t, after, series); v != 1 {
			t.Errorf("%s = %v, want 1", series, v)
		}
	}
	for _, series := range []string{
		`companion_local_events_total{kind="device"}`,
		`companion_local_events_total{kind="mailbox"}`,
		"companion_receive_states_accepted_total",
		`companion_receive_requests_total{peer="ast2"}`,
		`companion_apply_writes_total{result="ok"}`,
		`companion_publish_requests_total{event="asterisk-devicestate",peer="ast2",status="200"}`,
	} {
		// A series labelled by answer status appears with its first answer.
		v0 := 0.0
		if strings.Contains(before, "\n"+series+" ") {
			v0 = metricValue(t, before, series)
		}
		if v1 := metricValue(t, after, series); v1 <= v0 {
			t.Errorf("%s did not move with the traffic: %v, then %v", series, v0, v1)
		}
	}
	for _, name := range []string{"companion_ami_reconnects_total", "companion_bounds_hit_total", "companion_provision_runs_total",
		"companion_receive_publications", "companion_publish_latency_seconds_bucket", "companion_publish_publication_slots", "companion_states", "go_goroutines", "process_open_fds"} {
		if !strings.Contains(after, "\n"+name) {
			t.Errorf("no %s in the scrape", name)
		}
	}

	code, body := httpGet(t, url+"/status")
	if code != 200 {
		t.Fatalf("/status %d", code)
	}
	var st httpstatus.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Node != "ast1" || st.EID != "02:00:00:00:00:01" || st.AMI == nil || !st.AMI.Connected || st.AMI.Since == nil || !st.Healthy {
		t.Errorf("head %+v, ami %+v", st, st.AMI)
	}
	if len(st.Peers) != 1 || st.Peers[0].Name != "ast2" || len(st.Peers[0].Publish) != 2 || st.Peers[0].Receive == nil ||
		st.Peers[0].Receive.States != 1 || st.Peers[0].Receive.LastReceived == nil {
		t.Errorf("peers %+v", st.Peers)
	}
	states := map[string]string{}
	for _, o := range st.States {
		for _, d := range o.Devices {
			states[o.Origin+" "+o.Peer+" "+d.Device] = d.State
		}
		for _, m := range o.Mailboxes {
			states[o.Origin+" "+o.Peer+" "+m.Mailbox] = fmt.Sprintf("%d/%d", m.New, m.Old)
		}
	}
	for k, want := range map[string]string{
		"02:00:00:00:00:01  PJSIP/alice":   "INUSE",
		"02:00:00:00:00:01  100@default":   "2/1",
		"02:00:00:00:00:02 ast2 PJSIP/bob": "RINGING",
	} {
		if states[k] != want {
			t.Errorf("state %q = %q, want %q (all: %v)", k, states[k], want, states)
		}
	}

	code, table, errOut := runCLI("status", "--config", pathA)
	if path := os.Getenv("COMPANION_SAVE_SCRAPE"); path != "" {
		os.WriteFile(path+".status", []byte(table), 0o644)
	}
	if code != 0 {
		t.Fatalf("companion status: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"node ast1, eid 02:00:00:00:00:01", "ami       connected since", "PEER", "ast2", "device+mwi",
		"states of 02:00:00:00:00:01 (this node)", "PJSIP/alice", "INUSE", "100@default", "states of 02:00:00:00:00:02 (from peer ast2)", "PJSIP/bob", "RINGING"} {
		if !strings.Contains(table, want) {
			t.Errorf("companion status lacks %q:\n%s", want, table)
		}
	}
	t.Logf("companion status:\n%s", table)
	code, js, errOut := runCLI("status", "--config", pathA, "--json")
	var fromCLI httpstatus.Status
	if code != 0 || json.Unmarshal([]byte(js), &fromCLI) != nil || fromCLI.Node != "ast1" || len(fromCLI.States) != 2 {
		t.Errorf("companion status --json: exit %d %s\n%s", code, errOut, js)
	}

	_, healthz := httpGet(t, url+"/healthz")
	_, readyz := httpGet(t, url+"/readyz")
	_, summary, _ := runCLI("check-config", "--config", pathA)
	for where, text := range map[string]string{"/metrics": after, "/status": body, "/healthz": healthz, "/readyz": readyz,
		"companion status": table, "companion status --json": js, "check-config": summary} {
		noSecrets(t, where, text)
	}
	if !strings.Contains(summary, "http      "+httpAddr) {
		t.Errorf("check-config does not show http_listen:\n%s", summary)
	}

	// Asterisk goes away: unhealthy, and says why.
	a.ast.close()
	down := awaitHTTP(t, url+"/healthz", 503)
	if !strings.HasPrefix(down, "ami: not connected") {
		t.Errorf("/healthz body %q", down)
	}
	if v := metricValue(t, func() string { _, s := httpGet(t, url+"/metrics"); return s }(), "companion_ami_connected"); v != 0 {
		t.Errorf("companion_ami_connected %v after the AMI went away", v)
	}
	code, table, _ = runCLI("status", "--config", pathA)
	if code != 0 || !strings.Contains(table, "ami       not connected") || !strings.Contains(table, "health    ami: not connected") {
		t.Errorf("companion status with AMI down: exit %d\n%s", code, table)
	}
}

// A taken http_listen stops the start, naming the setting.
func TestStatusListenerBindFailure(t *testing.T) {
	busy := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	first, err := httpstatus.Start(busy, &httpstatus.Source{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	cfg, err := config.Parse("c.toml", []byte(fmt.Sprintf("[companion]\nname = \"n\"\neid = \"02:00:00:00:00:01\"\nhttp_listen = %q\nstate_dir = %q\n", busy, t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = n.run(context.Background(), "", nil)
	if err == nil || !strings.Contains(err.Error(), "http_listen") || !strings.Contains(err.Error(), busy) {
		t.Errorf("run: %v, want an error naming http_listen and %s", err, busy)
	}
}

func TestStatusCommandWithoutListener(t *testing.T) {
	dir := t.TempDir()
	head := "[companion]\nname = \"n\"\neid = \"02:00:00:00:00:01\"\n"
	for _, tc := range []struct{ listen, want string }{
		{`http_listen = ""`, `http_listen = "": the status listener is off`},
		{`http_listen = "127.0.0.1:0"`, "pass it with --address"},
		{fmt.Sprintf("http_listen = \"127.0.0.1:%d\"", freeTCPPort(t)), "cannot reach the companion's status listener"},
	} {
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, []byte(head+tc.listen+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI("status", "--config", path)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "http_listen") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 1 and %q", tc.listen, code, out, errOut, tc.want)
		}
	}
}
