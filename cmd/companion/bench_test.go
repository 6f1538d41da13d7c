package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestBenchQuick runs "bench --quick --json" in-process (the dump's
// sender re-executes this test binary) and checks that every scenario
// reports figures for both variants. It asserts no timing: only that the
// figures exist and are positive.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario")
	}
	var out, errs bytes.Buffer
	if code := run([]string{"bench", "--quick", "--json"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errs.String())
	}
	var r BenchReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(r.Failures) > 0 {
		t.Fatalf("failures: %v", r.Failures)
	}
	seen := map[string]bool{}
	for _, l := range r.Results {
		seen[l.Scenario] = true
		for name, v := range map[string]BenchValue{"companion": l.Companion, "baseline": l.Baseline} {
			if v.Failed != "" || !(v.Value > 0) || math.IsInf(v.Value, 0) {
				t.Errorf("%s %s %s: %s figure %+v, want a positive value", l.Scenario, l.RTT, l.Metric, name, v)
			}
		}
		if l.Unit == "" {
			t.Errorf("%s %s: no unit", l.Scenario, l.Metric)
		}
	}
	for _, s := range benchScenarios {
		if !seen[s] {
			t.Errorf("scenario %s missing from %s", s, out.String())
		}
	}
	// The scenarios that depend on the round trip run at both of --quick's.
	for _, s := range []string{"burst", "live", "latency", "throughput"} {
		rtts := map[string]bool{}
		for _, l := range r.Results {
			if l.Scenario == s {
				rtts[l.RTT] = true
			}
		}
		if len(rtts) != 2 {
			t.Errorf("%s ran at %v, want two round-trip times", s, rtts)
		}
	}
	// fleet compares fleet mode with a SIP full mesh, both figures each.
	fleet := map[string]bool{}
	for _, l := range r.Results {
		if l.Scenario == "fleet" {
			fleet[l.Metric] = true
		}
	}
	if !fleet["burst converged"] || !fleet["heap per node"] || len(fleet) != 2 {
		t.Errorf("fleet reports %v, want burst converged and heap per node", fleet)
	}
	if len(r.Notes) != 3 || !strings.HasPrefix(r.Notes[1], "fleet: companion = fleet mode") {
		t.Errorf("notes %q", r.Notes)
	}
	if !bytes.Contains(errs.Bytes(), []byte("bench: [")) {
		t.Errorf("no progress on stderr:\n%s", errs.String())
	}
}

func TestBenchFlags(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--scenario", "nope"},
		{"bench", "--rtt", "fast"},
		{"bench", "--rtt", "-1ms"},
		{"bench", "--devices", "0"},
		{"bench", "--dump-peers", "10"},
		{"bench", "--fleet-nodes", "1"},
		{"bench", "--fleet-devices", "0"},
		{"bench", "extra"},
	} {
		var out, errs bytes.Buffer
		if code := run(args, &out, &errs); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errs.String())
		}
	}
}

func TestQuantileMarksCensoredAsBound(t *testing.T) {
	l := []latency{{d: time.Millisecond}, {d: 2 * time.Millisecond}, {d: 3 * time.Millisecond}, {d: 100 * time.Millisecond, censored: true}}
	if d, bound := quantile(l, 0.5); d != 2*time.Millisecond || bound {
		t.Fatalf("p50 %s bound %v, want 2ms, not a bound", d, bound)
	}
	if d, bound := quantile(l, 0.99); d != 100*time.Millisecond || !bound {
		t.Fatalf("p99 %s bound %v, want 100ms as a bound", d, bound)
	}
}

func TestWireKey(t *testing.T) {
	msg := []byte("PUBLISH sip:x@127.0.0.1 SIP/2.0\r\nEvent: asterisk-devicestate\r\n\r\n" +
		`{"type":"devicestate","device":"bench/lat/000001","state":"INUSE","cachable":1,"eid":"02:00:00:00:0b:00"}`)
	if k, ok := wireKey(msg); !ok || k != "bench/lat/000001=INUSE" {
		t.Fatalf("wireKey = %q, %v", k, ok)
	}
	if _, ok := wireKey([]byte(`{"type":"refresh","eid":"02:00:00:00:0b:00"}`)); ok {
		t.Fatal("a refresh has no key")
	}
}
