package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// bench is "companion bench": real sockets, no Asterisk. A simulated
// Asterisk feeds companion A over AMI, A publishes over loopback SIP
// through a relay that delays each direction by rtt/2, and companion B
// writes what it receives into a second simulated Asterisk, the sink.
// Every scenario runs twice, with the companion's publisher and with a
// native-like baseline (one PUBLISH in flight, plain FIFO), and the
// table shows both and their ratio.
func bench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := benchOptions{}
	scenarios := fs.String("scenario", strings.Join(benchScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(benchScenarios, ", "))
	rtts := fs.String("rtt", "0,20ms", "round-trip times of the relay, comma-separated; burst, live, latency and throughput run at each")
	fs.IntVar(&o.devices, "devices", 2000, "burst: devices")
	fs.IntVar(&o.changes, "changes", 5, "burst: changes per device")
	fs.IntVar(&o.dumpDevices, "dump-devices", 100_000, "dump and live: device states Asterisk holds at start")
	fs.IntVar(&o.dumpMailboxes, "dump-mailboxes", 100_000, "dump and live: mailbox states Asterisk holds at start")
	fs.IntVar(&o.dumpPeers, "dump-peers", 3, "dump: receiving peers")
	fs.IntVar(&o.rate, "rate", 1000, "latency: changes per second")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "latency: how long the steady load lasts")
	fs.IntVar(&o.tpKeys, "throughput-keys", 20_000, "throughput: distinct devices changed at once")
	fs.DurationVar(&o.window, "window", 10*time.Second, "throughput: longest measuring window")
	fs.IntVar(&o.memKeys, "memory-keys", 50_000, "memory: keys of the smaller run (the larger has twice as many)")
	fs.IntVar(&o.fleetNodes, "fleet-nodes", 20, "fleet: nodes (fleet mode through one embedded NATS server, and a SIP full mesh of as many)")
	fs.IntVar(&o.fleetDevices, "fleet-devices", 2000, "fleet: devices per node, all changed at once on one node")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest wait for the companion to converge; beyond it the scenario fails")
	fs.DurationVar(&o.cap, "baseline-cap", time.Minute, "longest wait for the baseline; beyond it its figure is a lower bound")
	quick := fs.Bool("quick", false, "tiny sizes for a CI smoke run of a few seconds")
	asJSON := fs.Bool("json", false, "print the results as JSON instead of a table")
	cpuProfile := fs.String("cpuprofile", "", "") // hidden: write a CPU profile of the run to FILE
	memProfile := fs.String("memprofile", "", "") // hidden: heap profiles: the dump sender near its peak (FILE.sender-VARIANT), memory receivers (FILE.receiver-VARIANT-KEYS)
	child := fs.Bool("dump-child", false, "")     // hidden: the sender of dump and memory, in a child process
	childAMI := fs.String("child-ami", "", "")
	childPeers := fs.String("child-peers", "", "")
	childFIFO := fs.Bool("child-fifo", false, "")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: companion bench [flags]")
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage != "" {
				fmt.Fprintf(fs.Output(), "  --%s %s\n    \t%s (default %q)\n", f.Name, strings.TrimSpace(typeName(f)), f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	o.memProfile = *memProfile
	if *cpuProfile != "" {
		o.cpuProfile = *cpuProfile
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "companion bench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "companion bench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if *child {
		return benchChild(*childAMI, *childPeers, *childFIFO, *memProfile, os.Stdin, stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		o.quickSizes(set)
		if !set["rtt"] {
			*rtts = "0,2ms"
		}
	}
	var err error
	if o.scenarios, err = parseScenarios(*scenarios); err == nil {
		o.rtts, err = parseRTTs(*rtts)
	}
	if err == nil {
		err = o.check()
	}
	if err != nil {
		fmt.Fprintln(stderr, "companion bench:", err)
		return 2
	}
	log, _ := newLogger(stderr, "error", "text")
	o.log = log
	o.progress = func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	defer removeScratchState()
	report := runBench(o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(report)
	} else {
		report.table(stdout)
	}
	if len(report.Failures) > 0 {
		for _, f := range report.Failures {
			fmt.Fprintln(stderr, "companion bench: FAILED:", f)
		}
		return 1
	}
	return 0
}

func typeName(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	return name
}

var benchScenarios = []string{"burst", "dump", "live", "latency", "throughput", "memory", "fleet"}

type benchOptions struct {
	scenarios                []string
	rtts                     []time.Duration
	devices, changes         int
	dumpDevices              int
	dumpMailboxes, dumpPeers int
	rate                     int
	duration                 time.Duration
	tpKeys                   int
	window                   time.Duration
	memKeys                  int
	fleetNodes, fleetDevices int
	timeout, cap             time.Duration
	cpuProfile               string // the sender's child process writes FILE.sender-VARIANT
	memProfile               string // the sender's child process writes FILE.sender-VARIANT at its peak heap
	log                      *slog.Logger
	progress                 func(format string, args ...any)
}

// quickSizes shrinks every size the command line left unset.
func (o *benchOptions) quickSizes(set map[string]bool) {
	shrink := func(flag string, p *int, v int) {
		if !set[flag] {
			*p = v
		}
	}
	shrink("devices", &o.devices, 50)
	shrink("changes", &o.changes, 3)
	shrink("dump-devices", &o.dumpDevices, 200)
	shrink("dump-mailboxes", &o.dumpMailboxes, 200)
	shrink("rate", &o.rate, 400)
	shrink("throughput-keys", &o.tpKeys, 200)
	shrink("memory-keys", &o.memKeys, 400)
	shrink("fleet-nodes", &o.fleetNodes, 3)
	shrink("fleet-devices", &o.fleetDevices, 50)
	if !set["duration"] {
		o.duration = 500 * time.Millisecond
	}
	if !set["window"] {
		o.window = 5 * time.Second
	}
	if !set["timeout"] {
		o.timeout = time.Minute
	}
	if !set["baseline-cap"] {
		o.cap = 30 * time.Second
	}
}

func (o *benchOptions) check() error {
	for _, v := range []struct {
		name string
		n    int
	}{{"devices", o.devices}, {"changes", o.changes}, {"dump-devices", o.dumpDevices}, {"dump-mailboxes", o.dumpMailboxes},
		{"dump-peers", o.dumpPeers}, {"rate", o.rate}, {"throughput-keys", o.tpKeys}, {"memory-keys", o.memKeys},
		{"fleet-devices", o.fleetDevices}} {
		if v.n <= 0 {
			return fmt.Errorf("--%s must be positive", v.name)
		}
	}
	if o.dumpPeers > 9 {
		return errors.New("--dump-peers: at most 9")
	}
	if o.fleetNodes < 2 || o.fleetNodes > 200 {
		return errors.New("--fleet-nodes: from 2 to 200")
	}
	if o.duration <= 0 || o.window <= 0 || o.timeout <= 0 || o.cap <= 0 {
		return errors.New("--duration, --window, --timeout and --baseline-cap must be positive")
	}
	return nil
}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(benchScenarios, name) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(benchScenarios, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario")
	}
	return out, nil
}

func parseRTTs(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "0" {
			f = "0s"
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 || d > 10*time.Second {
			return nil, fmt.Errorf("--rtt: %q is not a duration between 0 and 10s", f)
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--rtt: no round-trip time")
	}
	return out, nil
}

// measure is one figure of one run of one variant.
type measure struct {
	metric string
	unit   string
	value  float64
	lower  bool   // the run hit its bound: the true figure is at least value (at most, for a rate)
	detail string // what was measured, briefly
}

// higherIsBetter tells rates and counts from times and sizes.
func higherIsBetter(unit string) bool { return unit == "changes/s" || unit == "PUBLISH/s" }

// BenchReport is what --json prints.
type BenchReport struct {
	Command  string      `json:"command"`
	Results  []BenchLine `json:"results"`
	Notes    []string    `json:"notes"` // what the columns compare
	Failures []string    `json:"failures,omitempty"`
}

// BenchLine is one figure, for both variants.
type BenchLine struct {
	Scenario  string     `json:"scenario"`
	RTT       string     `json:"rtt,omitempty"`
	Metric    string     `json:"metric"`
	Unit      string     `json:"unit"`
	Companion BenchValue `json:"companion"`
	Baseline  BenchValue `json:"baseline"`
	// Gain is how many times better the companion is: baseline/companion
	// for times and sizes, companion/baseline for rates. 0 when either
	// is missing.
	Gain float64 `json:"gain"`
}

// BenchValue is one variant's figure; Bound means the run hit its time
// bound and the figure is a bound of the true one, not the figure.
type BenchValue struct {
	Value  float64 `json:"value"`
	Bound  bool    `json:"bound,omitempty"`
	Detail string  `json:"detail,omitempty"`
	Failed string  `json:"failed,omitempty"`
}

// runBench runs every chosen scenario, each with both variants.
func runBench(o benchOptions) *BenchReport {
	r := &BenchReport{Command: "companion bench " + strings.Join(os.Args[min(2, len(os.Args)):], " ")}
	type run struct {
		scenario string
		rtt      time.Duration
		hasRTT   bool
	}
	var runs []run
	for _, s := range o.scenarios {
		switch s {
		case "burst", "live", "latency", "throughput":
			for _, rtt := range o.rtts {
				runs = append(runs, run{s, rtt, true})
			}
		default:
			runs = append(runs, run{scenario: s})
		}
	}
	for i, rn := range runs {
		byVariant := map[string][]measure{}
		for _, v := range []variant{variantCompanion, variantBaseline} {
			label := rn.scenario
			if rn.hasRTT {
				label += " rtt=" + rn.rtt.String()
			}
			o.progress("[%d/%d] %s, %s ...", i+1, len(runs), label, v.name)
			start := time.Now()
			ms, err := runScenario(o, rn.scenario, rn.rtt, v)
			if err != nil {
				r.Failures = append(r.Failures, fmt.Sprintf("%s (%s): %v", label, v.name, err))
				o.progress("[%d/%d] %s, %s: FAILED after %s: %v", i+1, len(runs), label, v.name, time.Since(start).Round(time.Millisecond), err)
			} else {
				o.progress("[%d/%d] %s, %s: done in %s", i+1, len(runs), label, v.name, time.Since(start).Round(time.Millisecond))
			}
			byVariant[v.name] = ms
		}
		r.add(rn.scenario, rn.rtt, rn.hasRTT, byVariant)
	}
	r.Notes = benchNotes(o.scenarios)
	return r
}

// benchNotes say what the companion and baseline columns are.
func benchNotes(scenarios []string) []string {
	var notes []string
	if slices.ContainsFunc(scenarios, func(s string) bool { return s != "fleet" }) {
		notes = append(notes, "baseline: one PUBLISH in flight per peer and event, plain FIFO, no coalescing (res_pjsip_outbound_publish's model)")
	}
	if slices.Contains(scenarios, "fleet") {
		notes = append(notes, "fleet: companion = fleet mode, every node through one embedded NATS JetStream server; baseline = the same fan-out over a SIP full mesh, "+
			"one sender publishing to N−1 SIP peers with the companion's pipelined publisher; both in-process on loopback, timed until every other node's remote table holds the burst (nothing written into an Asterisk)")
	}
	notes = append(notes, "gain: how many times better the companion is; ≥/≤: that run hit its time bound, so its figure is a bound")
	return notes
}

func runScenario(o benchOptions, scenario string, rtt time.Duration, v variant) ([]measure, error) {
	switch scenario {
	case "burst":
		return benchBurst(o, rtt, v)
	case "dump":
		return benchDump(o, v)
	case "live":
		return benchLive(o, rtt, v)
	case "latency":
		return benchLatency(o, rtt, v)
	case "throughput":
		return benchThroughput(o, rtt, v)
	case "memory":
		return benchMemory(o, v)
	case "fleet":
		return benchFleetScenario(o, v)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// add pairs the figures of both variants by metric, in the companion's
// order.
func (r *BenchReport) add(scenario string, rtt time.Duration, hasRTT bool, byVariant map[string][]measure) {
	var metrics []string
	for _, name := range []string{variantCompanion.name, variantBaseline.name} {
		for _, m := range byVariant[name] {
			if !slices.Contains(metrics, m.metric) {
				metrics = append(metrics, m.metric)
			}
		}
	}
	find := func(name, metric string) (measure, bool) {
		for _, m := range byVariant[name] {
			if m.metric == metric {
				return m, true
			}
		}
		return measure{}, false
	}
	for _, metric := range metrics {
		l := BenchLine{Scenario: scenario, Metric: metric}
		if hasRTT {
			l.RTT = rtt.String()
		}
		c, okC := find(variantCompanion.name, metric)
		b, okB := find(variantBaseline.name, metric)
		for _, x := range []struct {
			m  measure
			ok bool
			v  *BenchValue
		}{{c, okC, &l.Companion}, {b, okB, &l.Baseline}} {
			if !x.ok {
				x.v.Failed = "no figure"
				continue
			}
			l.Unit = x.m.unit
			*x.v = BenchValue{Value: x.m.value, Bound: x.m.lower, Detail: x.m.detail}
		}
		if okC && okB && c.value > 0 && b.value > 0 && l.Unit != "×" {
			if higherIsBetter(l.Unit) {
				l.Gain = c.value / b.value
			} else {
				l.Gain = b.value / c.value
			}
			l.Gain = math.Round(l.Gain*100) / 100
		}
		r.Results = append(r.Results, l)
	}
}

// table prints the report for people.
func (r *BenchReport) table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trtt\tmetric\tcompanion\tbaseline\tgain\tnotes")
	for _, l := range r.Results {
		gain := "-"
		if l.Gain > 0 {
			gain = fmt.Sprintf("%.2f×", l.Gain)
			if l.Baseline.Bound || l.Companion.Bound {
				gain = "≥" + gain
			}
		}
		rtt := l.RTT
		if rtt == "" {
			rtt = "-"
		}
		var notes []string
		for _, d := range []string{l.Companion.Detail, l.Baseline.Detail} {
			if d != "" && !slices.Contains(notes, d) {
				notes = append(notes, d)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Scenario, rtt, l.Metric,
			l.Companion.format(l.Unit), l.Baseline.format(l.Unit), gain, strings.Join(notes, "; "))
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, n+".")
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "%d FAILED\n", len(r.Failures))
	}
}

func (v BenchValue) format(unit string) string {
	if v.Failed != "" {
		return "FAILED"
	}
	var s string
	switch unit {
	case "s":
		s = fmt.Sprintf("%.3f s", v.Value)
	case "ms":
		s = fmt.Sprintf("%.1f ms", v.Value)
	case "MiB":
		s = fmt.Sprintf("%.1f MiB", v.Value)
	case "B":
		s = fmt.Sprintf("%.0f B", v.Value)
	case "×":
		s = fmt.Sprintf("%.2f×", v.Value)
	default:
		s = fmt.Sprintf("%.0f %s", v.Value, unit)
	}
	if v.Bound {
		if higherIsBetter(unit) {
			return "≤" + s
		}
		return "≥" + s
	}
	return s
}
