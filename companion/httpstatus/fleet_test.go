package httpstatus

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

var fleetEID = mustEID("02:00:00:00:00:03")

// withFleet adds a fleet link to the fake node: in sync, one member.
func withFleet(src *Source) (set func(func(*FleetState))) {
	var mu sync.Mutex
	f := FleetState{
		Connected: true, Members: []companion.EntityID{fleetEID}, HeldStates: 1, OurKeys: 2, Pending: 1,
		Written: 40, Failed: 3, Purged: 5, SyncedAt: t0.Add(-10 * time.Second),
		Ignored: map[string]uint64{"wrong_eid": 2, "bad_name": 0},
	}
	src.Fleet = func() (FleetState, bool) { mu.Lock(); defer mu.Unlock(); return f, true }
	src.RemoteTable.Set(fleetEID, companion.Device("PJSIP/carol", companion.Busy, true))
	peerOf := src.PeerOf
	src.PeerOf = func(e companion.EntityID) string {
		if e == fleetEID {
			return companion.FleetPeerName
		}
		return peerOf(e)
	}
	return func(change func(*FleetState)) { mu.Lock(); defer mu.Unlock(); change(&f) }
}

func TestFleetMetrics(t *testing.T) {
	_, src := newFake()
	set := withFleet(src)
	h := Handler(src, nil)
	_, body, _ := get(t, h, "GET", "/metrics")
	for _, want := range []string{
		"companion_fleet_connected 1\n",
		"companion_fleet_members 1\n",
		"companion_fleet_states 1\n",
		"companion_fleet_keys 2\n",
		"companion_fleet_keys_pending 1\n",
		"companion_fleet_writes_total 40\n",
		"companion_fleet_write_failures_total 3\n",
		"companion_fleet_purged_total 5\n",
		`companion_fleet_ignored_total{reason="wrong_eid"} 2` + "\n",
		`companion_fleet_ignored_total{reason="bad_name"} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q", want)
		}
	}
	set(func(f *FleetState) { f.Connected, f.Members = false, nil })
	_, body, _ = get(t, h, "GET", "/metrics")
	for _, want := range []string{"companion_fleet_connected 0\n", "companion_fleet_members 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("link down: missing %q", want)
		}
	}
	src.Fleet = nil
	if _, body, _ = get(t, h, "GET", "/metrics"); strings.Contains(body, "companion_fleet_") {
		t.Error("fleet series without [fleet]")
	}
}

// The fleet link down degrades the node but keeps it healthy and ready:
// the SIP peers carry on, and a restart would not bring NATS back.
func TestFleetDownIsDegradedNotUnhealthy(t *testing.T) {
	f, src := newFake()
	set := withFleet(src)
	h := Handler(src, nil)
	if code, body, _ := get(t, h, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("in sync: /healthz %d %q", code, body)
	}
	set(func(f *FleetState) { f.Connected, f.LastError = false, "nats: no servers available\x1b[2J" })
	degraded := "degraded: fleet link down: nats: no servers available\\x1b[2J\n"
	if code, body, _ := get(t, h, "GET", "/healthz"); code != 200 || body != "ok\n"+degraded {
		t.Errorf("/healthz %d %q, want 200 %q", code, body, "ok\n"+degraded)
	}
	if code, body, _ := get(t, h, "GET", "/readyz"); code != 200 || body != "ready\n"+degraded {
		t.Errorf("/readyz %d %q", code, body)
	}
	// Down before the first sync, with no error yet, still says so.
	set(func(f *FleetState) { f.LastError = "" })
	if _, body, _ := get(t, h, "GET", "/healthz"); body != "ok\ndegraded: fleet link down: not in sync yet\n" {
		t.Errorf("/healthz %q", body)
	}
	// With a real problem too: 503, the problems, then the degradation.
	f.mu.Lock()
	f.ami = AMIState{State: "lost"}
	f.mu.Unlock()
	code, body, _ := get(t, h, "GET", "/healthz")
	if code != 503 || body != "ami: not connected (lost)\ndegraded: fleet link down: not in sync yet\n" {
		t.Errorf("/healthz %d %q", code, body)
	}
	_, body, _ = get(t, h, "GET", "/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Healthy || len(st.Degraded) != 1 || st.Degraded[0] != "fleet link down: not in sync yet" {
		t.Errorf("status healthy %v, degraded %q", st.Healthy, st.Degraded)
	}
}

func TestFleetInStatus(t *testing.T) {
	_, src := newFake()
	set := withFleet(src)
	set(func(f *FleetState) {
		f.Members = []companion.EntityID{mustEID("02:00:00:00:00:09"), fleetEID}
	})
	h := Handler(src, nil)
	_, body, _ := get(t, h, "GET", "/status")
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	want := FleetStatus{
		Connected: true, Members: []string{"02:00:00:00:00:03", "02:00:00:00:00:09"}, States: 1, OurKeys: 2, Pending: 1,
		Written: 40, Failed: 3, Purged: 5, Ignored: map[string]uint64{"wrong_eid": 2, "bad_name": 0},
	}
	got := st.Fleet
	if got == nil || got.SyncedAt == nil || !got.SyncedAt.Equal(t0.Add(-10*time.Second)) {
		t.Fatalf("fleet %+v", got)
	}
	got.SyncedAt = nil
	if mustJSON(*got) != mustJSON(want) {
		t.Errorf("fleet %s\nwant  %s", mustJSON(*got), mustJSON(want))
	}
	if !st.Healthy || len(st.Degraded) != 0 {
		t.Errorf("in sync: healthy %v, degraded %v", st.Healthy, st.Degraded)
	}
	var fromFleet *OriginStates
	for i := range st.States {
		if st.States[i].Origin == fleetEID.String() {
			fromFleet = &st.States[i]
		}
	}
	if fromFleet == nil || fromFleet.Peer != "fleet" || len(fromFleet.Devices) != 1 || fromFleet.Devices[0] != (DeviceStatus{"PJSIP/carol", "BUSY"}) {
		t.Errorf("the fleet's states: %+v", fromFleet)
	}

	set(func(f *FleetState) { f.Connected, f.LastError = false, "bucket watch ended" })
	_, body, _ = get(t, h, "GET", "/status")
	st = Status{}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Healthy || len(st.Degraded) != 1 || st.Fleet.Connected || st.Fleet.LastError != "bucket watch ended" {
		t.Errorf("link down: healthy %v, degraded %v, fleet %+v", st.Healthy, st.Degraded, st.Fleet)
	}

	src.Fleet = nil
	_, body, _ = get(t, h, "GET", "/status")
	if !strings.Contains(body, `"fleet":null`) || !strings.Contains(body, `"degraded":[]`) {
		t.Errorf("without [fleet]: %s", body[:min(len(body), 400)])
	}
}
