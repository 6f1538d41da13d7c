package httpstatus

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

// fakeNode is a Source whose parts the tests set.
type fakeNode struct {
	mu        sync.Mutex
	ami       AMIState
	listeners []sipstack.ListenerState
	local     companion.LocalStats
	recv      companion.ReceiverStats
	pubs      []companion.PublisherStats
	sip       sipstack.Stats
	apply     companion.ApplyStats
	prov      ProvisionState
}

var (
	selfEID = mustEID("02:00:00:00:00:01")
	peerEID = mustEID("02:00:00:00:00:02")
	t0      = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
)

func mustEID(s string) companion.EntityID {
	e, err := companion.ParseEntityID(s)
	if err != nil {
		panic(err)
	}
	return e
}

func newFake() (*fakeNode, *Source) {
	f := &fakeNode{
		ami:       AMIState{Connected: true, Connects: 3, LastConnect: t0.Add(-time.Minute), State: "connected"},
		listeners: []sipstack.ListenerState{{Listener: companion.Listener{Transport: "udp", Host: "127.0.0.1", Port: 5070}, Up: true}},
		local: companion.LocalStats{
			Events:    map[companion.Kind]uint64{companion.KindDevice: 7, companion.KindMailbox: 2},
			Snapshots: map[companion.Kind]uint64{companion.KindDevice: 1, companion.KindMailbox: 1},
		},
		recv: companion.ReceiverStats{
			StatesAccepted: 5, StatesFiltered: 1,
			Refusals: map[string]uint64{companion.RefusedTooManyKeys: 4, companion.RefusedCredentials: 2},
			Noise:    map[string]uint64{companion.FilteredMWIDevice: 3},
			Peers: map[string]companion.ReceiverPeerStats{"ast2": {
				Publications: map[companion.Event]int{companion.EventDeviceState: 2, companion.EventMWI: 1},
				States:       3, EIDs: 1, Received: 9, LastReceived: t0.Add(-time.Second),
			}},
		},
		sip:   sipstack.Stats{ConnsOpen: 1, ConnsOverCap: 6, ConnsRefused: 2},
		apply: companion.ApplyStats{WritesOK: 11, WritesFailed: 1},
		prov:  ProvisionState{Runs: 2, Failures: 1, LastRun: t0},
	}
	var h companion.Histogram
	h.Observe(3 * time.Millisecond)
	h.Observe(2 * time.Millisecond)
	f.pubs = []companion.PublisherStats{{
		Peer: "ast2", Event: companion.EventDeviceState,
		Answers: map[int]uint64{200: 12, 0: 1}, Retries: 1, Coalesced: 4, Queued: 2,
		Publications: []companion.PublicationStats{{ETag: "123", Granted: t0.Add(-30 * time.Second), Keys: 2}, {}},
		LastSent:     t0.Add(-2 * time.Second), LastError: "no answer: timeout", LastErrorAt: t0.Add(-5 * time.Second),
		Latency: h.Snapshot(),
	}}
	localT, remoteT := companion.NewTable(), companion.NewTable()
	localT.Set(selfEID, companion.Device("PJSIP/alice", companion.InUse, true))
	localT.Set(selfEID, companion.Mailbox(companion.MailboxID{Box: "100", Context: "default"}, 1, 2))
	remoteT.Set(peerEID, companion.Device("PJSIP/bob", companion.Ringing, true))
	lock := func() func() { f.mu.Lock(); return f.mu.Unlock }
	src := &Source{
		Node: "ast1", EID: selfEID, Version: "test", PeerNames: func() []string { return []string{"ast2", "quiet"} },
		AMI: func() AMIState { defer lock()(); return f.ami },
		Listeners: func() []sipstack.ListenerState {
			defer lock()()
			return append([]sipstack.ListenerState(nil), f.listeners...)
		},
		SIP:            func() sipstack.Stats { defer lock()(); return f.sip },
		Local:          func() companion.LocalStats { defer lock()(); return f.local },
		Receiver:       func() companion.ReceiverStats { defer lock()(); return f.recv },
		Apply:          func() (companion.ApplyStats, bool) { defer lock()(); return f.apply, true },
		PublisherStats: func() []companion.PublisherStats { defer lock()(); return f.pubs },
		Provision:      func() ProvisionState { defer lock()(); return f.prov },
		LocalTable:     localT, RemoteTable: remoteT,
		PeerOf: func(e companion.EntityID) string {
			if e == peerEID {
				return "ast2"
			}
			return ""
		},
		Now: func() time.Time { return t0 },
	}
	return f, src
}

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Result().Header
}

func TestMetricsReportTheSnapshots(t *testing.T) {
	f, src := newFake()
	h := Handler(src, nil)
	code, body, _ := get(t, h, "GET", "/metrics")
	if code != 200 {
		t.Fatalf("/metrics %d", code)
	}
	for _, want := range []string{
		`companion_info{eid="02:00:00:00:00:01",node="ast1",version="test"} 1`,
		"companion_ami_connected 1",
		"companion_ami_reconnects_total 2",
		`companion_local_events_total{kind="device"} 7`,
		`companion_local_events_total{kind="mailbox"} 2`,
		`companion_states{table="local"} 2`,
		`companion_states{table="remote"} 1`,
		`companion_publish_requests_total{event="asterisk-devicestate",peer="ast2",status="200"} 12`,
		`companion_publish_requests_total{event="asterisk-devicestate",peer="ast2",status="0"} 1`,
		`companion_publish_retries_total{event="asterisk-devicestate",peer="ast2"} 1`,
		`companion_publish_coalesced_total{event="asterisk-devicestate",peer="ast2"} 4`,
		`companion_publish_queued{event="asterisk-devicestate",peer="ast2"} 2`,
		`companion_publish_publications{event="asterisk-devicestate",peer="ast2"} 1`,
		`companion_publish_publication_slots{event="asterisk-devicestate",peer="ast2"} 2`,
		`companion_publish_latency_seconds_bucket{event="asterisk-devicestate",peer="ast2",le="0.002"} 1`,
		`companion_publish_latency_seconds_bucket{event="asterisk-devicestate",peer="ast2",le="0.004"} 2`,
		`companion_publish_latency_seconds_count{event="asterisk-devicestate",peer="ast2"} 2`,
		`companion_receive_publications{event="asterisk-mwi",peer="ast2"} 1`,
		`companion_receive_states{peer="ast2"} 3`,
		`companion_receive_requests_total{peer="ast2"} 9`,
		"companion_receive_states_accepted_total 5",
		"companion_receive_states_filtered_total 1",
		`companion_receive_noise_dropped_total{reason="mwi_device"} 3`,
		`companion_receive_noise_dropped_total{reason="invalid_state"} 0`,
		`companion_receive_refused_total{reason="wrong_credentials"} 2`,
		`companion_bounds_hit_total{bound="max_keys"} 4`,
		`companion_bounds_hit_total{bound="sip_max_connections"} 6`,
		`companion_apply_writes_total{result="ok"} 11`,
		`companion_apply_writes_total{result="failed"} 1`,
		"companion_provision_runs_total 2",
		"companion_provision_failures_total 1",
		`companion_sip_listener_up{listener="udp://127.0.0.1:5070"} 1`,
		`companion_sip_refused_total{what="connection"} 2`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("missing %s", want)
		}
	}
	if strings.Contains(body, `peer="quiet"`) {
		t.Error("a peer without [peer.accept] or publishers has series")
	}

	f.mu.Lock()
	f.ami.Connected = false
	f.local.Events[companion.KindDevice] = 8
	f.listeners[0].Up = false
	f.mu.Unlock()
	_, body, _ = get(t, h, "GET", "/metrics")
	for _, want := range []string{"companion_ami_connected 0\n", `companion_local_events_total{kind="device"} 8` + "\n", `companion_sip_listener_up{listener="udp://127.0.0.1:5070"} 0` + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("after the change: missing %s", want)
		}
	}
}

func TestMetricsWithoutAMIOrPublishers(t *testing.T) {
	src := &Source{Node: "n", EID: selfEID}
	_, body, _ := get(t, Handler(src, nil), "GET", "/metrics")
	if strings.Contains(body, "companion_ami_connected") || strings.Contains(body, "companion_publish_") {
		t.Errorf("series for parts that are not there:\n%s", body)
	}
	if !strings.Contains(body, `companion_local_events_total{kind="device"} 0`) {
		t.Error("zero counters missing")
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f, src := newFake()
	h := Handler(src, nil)
	if code, body, _ := get(t, h, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz %d %q", code, body)
	}
	f.mu.Lock()
	f.ami = AMIState{State: "lost", Reason: "EOF\x1b[2J"}
	f.listeners = append(f.listeners, sipstack.ListenerState{Listener: companion.Listener{Transport: "tcp", Host: "127.0.0.1", Port: 5070}})
	f.local.Snapshots = map[companion.Kind]uint64{}
	f.mu.Unlock()
	code, body, _ := get(t, h, "GET", "/healthz")
	want := "ami: not connected (lost: EOF\\x1b[2J)\nsip listener tcp://127.0.0.1:5070: not bound\n"
	if code != 503 || body != want {
		t.Errorf("/healthz %d %q, want 503 %q", code, body, want)
	}
	code, body, _ = get(t, h, "GET", "/readyz")
	if code != 503 || !strings.HasPrefix(body, want) || !strings.HasSuffix(body, "ami: no snapshot of the local device states yet\n") {
		t.Errorf("/readyz %d %q", code, body)
	}

	// Without [ami], only the listeners count.
	src.AMI = nil
	f.mu.Lock()
	f.listeners = f.listeners[:1]
	f.mu.Unlock()
	if code, _, _ := get(t, h, "GET", "/readyz"); code != 200 {
		t.Errorf("/readyz without [ami]: %d", code)
	}
}

func TestStatusDocument(t *testing.T) {
	_, src := newFake()
	h := Handler(src, nil)
	code, body, hdr := get(t, h, "GET", "/status")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/status %d %v", code, hdr)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if st.Node != "ast1" || st.EID != "02:00:00:00:00:01" || st.Version != "test" || !st.Healthy || len(st.Problems) != 0 {
		t.Errorf("head %+v", st)
	}
	if st.AMI == nil || !st.AMI.Connected || st.AMI.Reconnects != 2 || st.AMI.Since == nil || !st.AMI.Since.Equal(t0.Add(-time.Minute)) {
		t.Errorf("ami %+v", st.AMI)
	}
	if st.Counts != (Counts{DeviceEvents: 7, MailboxEvents: 2, StatesAccepted: 5, StatesFiltered: 1, Refused: 6, WritesOK: 11, WritesFailed: 1}) {
		t.Errorf("counts %+v", st.Counts)
	}
	if st.Provision == nil || st.Provision.Runs != 2 {
		t.Errorf("provision %+v", st.Provision)
	}
	if len(st.Peers) != 2 || st.Peers[0].Name != "ast2" || st.Peers[1].Name != "quiet" || st.Peers[1].Receive != nil || len(st.Peers[1].Publish) != 0 {
		t.Fatalf("peers %+v", st.Peers)
	}
	p := st.Peers[0].Publish[0]
	if p.Event != "asterisk-devicestate" || p.PublicationsUp != 1 || p.Queued != 2 || p.LastError != "no answer: timeout" ||
		p.Answers["200"] != 12 || len(p.Publications) != 2 || p.Publications[0].ETag != "123" ||
		p.Publications[0].AgeSeconds == nil || *p.Publications[0].AgeSeconds != 30 || p.Publications[1].AgeSeconds != nil {
		t.Errorf("publish %+v", p)
	}
	if r := st.Peers[0].Receive; r == nil || r.Publications["asterisk-devicestate"] != 2 || r.States != 3 || r.Received != 9 || r.LastReceived == nil {
		t.Errorf("receive %+v", r)
	}
	want := []OriginStates{
		{Origin: "02:00:00:00:00:01", Local: true, Devices: []DeviceStatus{{"PJSIP/alice", "INUSE"}}, Mailboxes: []MailboxStatus{{"100@default", 2, 1}}},
		{Origin: "02:00:00:00:00:02", Peer: "ast2", Devices: []DeviceStatus{{"PJSIP/bob", "RINGING"}}, Mailboxes: []MailboxStatus{}},
	}
	if got, _ := json.Marshal(st.States); string(got) != mustJSON(want) {
		t.Errorf("states %s\nwant %s", got, mustJSON(want))
	}

	_, body, _ = get(t, h, "GET", "/status?states=0")
	var bare Status
	if err := json.Unmarshal([]byte(body), &bare); err != nil || bare.States == nil || len(bare.States) != 0 || bare.Node != "ast1" {
		t.Errorf("?states=0: %v %s", err, body)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Many states stream out as one valid document.
func TestStatusStreamsManyStates(t *testing.T) {
	_, src := newFake()
	big := companion.NewTable()
	const n = 20_000
	for i := range n {
		big.Set(peerEID, companion.Device("Custom:d"+strconv.Itoa(i), companion.NotInUse, true))
	}
	src.RemoteTable = big
	_, body, _ := get(t, Handler(src, nil), "GET", "/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.States) != 2 || len(st.States[1].Devices) != n {
		t.Fatalf("%d origins", len(st.States))
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	_, src := newFake()
	h := Handler(src, nil)
	for _, m := range []string{"POST", "PUT", "DELETE", "OPTIONS", "TRACE"} {
		if code, _, hdr := get(t, h, m, "/status"); code != 405 || hdr.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d %v", m, code, hdr)
		}
	}
	if code, _, _ := get(t, h, "HEAD", "/healthz"); code != 200 {
		t.Errorf("HEAD %d", code)
	}
	if code, _, _ := get(t, h, "GET", "/nothing"); code != 404 {
		t.Errorf("unknown path %d", code)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"PJSIP/alice": "PJSIP/alice",
		"Büro":        "Büro",
		"a\u202eb":    `a\u202eb`,
		"x\u0085y":    `x\u0085y`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestServerBoundsAndClose(t *testing.T) {
	_, src := newFake()
	s, err := Start("127.0.0.1:0", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String()
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%d %v", res.StatusCode, res.Header)
	}
	res, err = http.Head(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 || len(b) != 0 {
		t.Errorf("HEAD /status: %d, %d bytes", res.StatusCode, len(b))
	}
	res.Body.Close()
	req, _ := http.NewRequest("GET", url+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*maxHeaderBytes))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("oversized header: %d", res.StatusCode)
	}
	if _, err := Start(s.Addr().String(), src, nil); err == nil {
		t.Error("a second listener on the same address started")
	}
	s.Close()
	s.Close()
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving after Close")
	}
}

// BenchmarkStatus100k renders /status for 100,000 remote states.
func BenchmarkStatus100k(b *testing.B) {
	_, src := newFake()
	big := companion.NewTable()
	for i := range 100_000 {
		big.Set(peerEID, companion.Device("Custom:d"+strconv.Itoa(i), companion.NotInUse, true))
	}
	src.RemoteTable = big
	h := Handler(src, nil)
	req := httptest.NewRequest("GET", "/status", nil)
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		b.SetBytes(int64(rec.Body.Len()))
	}
}

// BenchmarkMetrics renders one scrape.
func BenchmarkMetrics(b *testing.B) {
	_, src := newFake()
	h := Handler(src, nil)
	req := httptest.NewRequest("GET", "/metrics", nil)
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
