package main

import (
	"errors"

	"fmt"
	"github.com/astcompanion/sidecar/cmd/companion/internal/faultnet"
	"sort"
	"time"
)

// burstStates are the states a burst cycles through; none is the
// NOT_INUSE every device starts in, so a device's last state always
// differs from its first.
var burstStates = []string{"INUSE", "RINGING", "ONHOLD", "BUSY", "RINGINUSE", "UNAVAILABLE"}

// wait is how long a variant may take to converge: the companion fails
// beyond it, the baseline's figure becomes a bound.
func (o benchOptions) wait(v variant) time.Duration {
	if v.fifo {
		return o.cap
	}
	return o.timeout
}

// errNotConverged ends a companion's run that hit its bound.
var errNotConverged = errors.New("did not converge")

// pair is A (beside simulated Asterisk src) publishing through a relay
// to B (beside the sink, or applying nothing).
type benchPair struct {
	src, dst *simAsterisk
	sink     *sink
	watch    *wireWatch
	relay    *faultnet.UDPRelay
	a, b     *benchNode
}

// startPair builds the pair; preload runs on A's Asterisk before A
// connects. withSink gives B a simulated Asterisk to write into.
func startPair(o benchOptions, v variant, rtt time.Duration, withSink bool, maxKeys int, preload func(*simAsterisk)) (*benchPair, error) {
	p := &benchPair{watch: newWireWatch()}
	var err error
	if p.src, err = startSimAsterisk("bench-src"); err != nil {
		return nil, err
	}
	if preload != nil {
		preload(p.src)
	}
	sinkAMI := ""
	if withSink {
		if p.dst, err = startSimAsterisk("bench-sink"); err != nil {
			p.close()
			return nil, err
		}
		p.sink = newSink(p.dst)
		sinkAMI = p.dst.addr()
	}
	port, err := freeUDPPort()
	if err != nil {
		p.close()
		return nil, err
	}
	if p.b, err = startBenchNode(receiverConfig(0, port, sinkAMI, maxKeys), v, o.log.With("node", "b")); err != nil {
		p.close()
		return nil, err
	}
	relay, err := newDelayRelay(port, rtt, p.watch)
	if err != nil {
		p.close()
		return nil, err
	}
	p.relay = relay
	if p.a, err = startBenchNode(senderConfig(p.src.addr(), []int{relay.Port()}), v, o.log.With("node", "a")); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// setRTT changes the relay's delay: rtt/2 each way.
func (p *benchPair) setRTT(rtt time.Duration) { setRelayRTT(p.relay, rtt, p.watch) }

func (p *benchPair) close() {
	p.a.close()
	p.b.close()
	if p.relay != nil {
		p.relay.Close()
	}
	for _, s := range []*simAsterisk{p.src, p.dst} {
		if s != nil {
			s.close()
		}
	}
}

// awaitSender waits for A to log in to its Asterisk, and for a first
// change to cross the relay: the pair is up.
func (p *benchPair) awaitSender(within time.Duration) error {
	if !awaitCond(within, p.src.loggedIn) {
		return errors.New("the sender never logged in to its simulated Asterisk")
	}
	p.src.SetDevice("bench/warmup", "INUSE")
	if !awaitCond(within, func() bool { _, ok := p.watch.at("bench/warmup=INUSE"); return ok }) {
		return errors.New("the sender's first PUBLISH never reached the relay")
	}
	return nil
}

// benchBurst: D devices × C changes as fast as AMI carries them; done
// when B's sink holds every device's last state.
func benchBurst(o benchOptions, rtt time.Duration, v variant) ([]measure, error) {
	names := make([]string, o.devices)
	initial := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("bench/burst/%05d", i)
		initial[names[i]] = "NOT_INUSE"
	}
	// The initial states cross at rtt 0: only the burst is timed.
	p, err := startPair(o, v, 0, true, o.devices+1000, func(s *simAsterisk) { s.preload(initial, nil) })
	if err != nil {
		return nil, err
	}
	defer p.close()
	p.sink.expect(initial)
	if !awaitCond(o.timeout, func() bool { n, _ := p.sink.matching(); return n == len(initial) }) {
		n, _ := p.sink.matching()
		return nil, fmt.Errorf("initial states: %d of %d reached the sink: %w", n, len(initial), errNotConverged)
	}
	p.setRTT(rtt)
	final := map[string]string{}
	for _, n := range names {
		final[n] = burstStates[(o.changes-1)%len(burstStates)]
	}
	p.sink.expect(final)
	start := time.Now()
	for c := range o.changes {
		st := burstStates[c%len(burstStates)]
		for _, n := range names {
			p.src.SetDevice(n, st)
		}
	}
	fed := time.Since(start)
	ok := awaitCond(o.wait(v), func() bool { n, _ := p.sink.matching(); return n == len(final) })
	n, last := p.sink.matching()
	detail := fmt.Sprintf("%d devices × %d changes (fed in %s)", o.devices, o.changes, fed.Round(time.Millisecond))
	if !ok {
		if !v.fifo {
			return nil, fmt.Errorf("%d of %d devices converged: %w", n, len(final), errNotConverged)
		}
		return []measure{{metric: "converged", unit: "s", value: time.Since(start).Seconds(), lower: true,
			detail: fmt.Sprintf("%s; %d of %d at the bound", detail, n, len(final))}}, nil
	}
	return []measure{{metric: "converged", unit: "s", value: last.Sub(start).Seconds(), detail: detail}}, nil
}

// benchLive: a change made while the startup dump is under way, from the
// AMI event to B's sink.
func benchLive(o benchOptions, rtt time.Duration, v variant) ([]measure, error) {
	total := o.dumpDevices + o.dumpMailboxes
	p, err := startPair(o, v, rtt, true, total+1000, func(s *simAsterisk) {
		s.preload(dumpStates(o.dumpDevices, o.dumpMailboxes))
	})
	if err != nil {
		return nil, err
	}
	defer p.close()
	under := min(100, max(total/10, 1))
	if !awaitCond(o.timeout, func() bool { return p.b.held() >= under }) {
		return nil, fmt.Errorf("the dump never started: %d states held: %w", p.b.held(), errNotConverged)
	}
	held := p.b.held()
	const dev = "bench/live"
	p.sink.expect(map[string]string{dev: "INUSE"})
	start := time.Now()
	p.src.SetDevice(dev, "INUSE")
	ok := awaitCond(o.wait(v), func() bool { n, _ := p.sink.matching(); return n == 1 })
	_, at := p.sink.matching()
	detail := fmt.Sprintf("made with %d of %d dump states delivered", held, total)
	if !ok && !v.fifo {
		return nil, fmt.Errorf("the live change never reached the sink: %w", errNotConverged)
	}
	wire := measure{metric: "AMI→wire", unit: "ms", value: ms(time.Since(start)), lower: true}
	if t, seen := p.watch.at(dev + "=INUSE"); seen {
		wire = measure{metric: "AMI→wire", unit: "ms", value: ms(t.Sub(start))}
	}
	sink := measure{metric: "AMI→sink", unit: "ms", value: ms(time.Since(start)), lower: true, detail: detail}
	if ok {
		sink = measure{metric: "AMI→sink", unit: "ms", value: ms(at.Sub(start)), detail: detail}
	}
	return []measure{wire, sink}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// dumpStates are the states the dump's Asterisk holds.
func dumpStates(devices, mailboxes int) (map[string]string, map[string][2]int) {
	ds := make(map[string]string, devices)
	for i := range devices {
		ds[fmt.Sprintf("bench/dump/%06d", i)] = burstStates[i%len(burstStates)]
	}
	bs := make(map[string][2]int, mailboxes)
	for i := range mailboxes {
		bs[fmt.Sprintf("%06d@bench", i)] = [2]int{i % 3, i%5 + 1}
	}
	return ds, bs
}

// benchLatency: a steady rate of changes of distinct devices; p50 and
// p99 of AMI event → PUBLISH seen by the relay.
func benchLatency(o benchOptions, rtt time.Duration, v variant) ([]measure, error) {
	p, err := startPair(o, v, rtt, false, o.rate*int(o.duration/time.Second+1)+1000, nil)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.awaitSender(o.timeout); err != nil {
		return nil, err
	}
	n := max(1, int(float64(o.rate)*o.duration.Seconds()))
	emitted := make([]time.Time, n)
	keys := make([]string, n)
	interval := time.Second / time.Duration(o.rate)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		name := fmt.Sprintf("bench/lat/%06d", i)
		keys[i] = name + "=INUSE"
		emitted[i] = time.Now()
		p.src.SetDevice(name, "INUSE")
	}
	fedIn := time.Since(start)
	seen := func() int {
		c := 0
		for _, k := range keys {
			if _, ok := p.watch.at(k); ok {
				c++
			}
		}
		return c
	}
	// Polled sparsely: counting takes the watch's lock n times.
	deadline := time.Now().Add(o.wait(v))
	for seen() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	end := time.Now()
	lat := make([]latency, n)
	missing := 0
	for i, k := range keys {
		if at, ok := p.watch.at(k); ok {
			lat[i] = latency{d: at.Sub(emitted[i])}
		} else {
			lat[i] = latency{d: end.Sub(emitted[i]), censored: true}
			missing++
		}
	}
	if missing > 0 && !v.fifo {
		return nil, fmt.Errorf("%d of %d changes never went on the wire: %w", missing, n, errNotConverged)
	}
	detail := fmt.Sprintf("%d changes at %d/s (fed in %s)", n, o.rate, fedIn.Round(time.Millisecond))
	if missing > 0 {
		detail += fmt.Sprintf("; %d not on the wire at the bound", missing)
	}
	p50, p50c := quantile(lat, 0.50)
	p99, p99c := quantile(lat, 0.99)
	return []measure{
		{metric: "p50 AMI→wire", unit: "ms", value: ms(p50), lower: p50c, detail: detail},
		{metric: "p99 AMI→wire", unit: "ms", value: ms(p99), lower: p99c},
	}, nil
}

// latency is one change's delay; censored when it had not arrived by the
// end, and d is then only a lower bound.
type latency struct {
	d        time.Duration
	censored bool
}

// quantile returns the q-quantile and whether it is only a lower bound.
func quantile(l []latency, q float64) (time.Duration, bool) {
	s := append([]latency(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i].d < s[j].d })
	i := min(len(s)-1, max(0, int(q*float64(len(s))+0.5)-1))
	// A censored value below rank i may in truth lie above it.
	for _, x := range s[:i+1] {
		if x.censored {
			return s[i].d, true
		}
	}
	return s[i].d, false
}

// benchThroughput: distinct devices changed at once; the rate at which
// their PUBLISHes reach the wire, within the window.
func benchThroughput(o benchOptions, rtt time.Duration, v variant) ([]measure, error) {
	p, err := startPair(o, v, rtt, false, o.tpKeys+1000, nil)
	if err != nil {
		return nil, err
	}
	defer p.close()
	if err := p.awaitSender(o.timeout); err != nil {
		return nil, err
	}
	base := p.watch.distinct()
	start := time.Now()
	for i := range o.tpKeys {
		p.src.SetDevice(fmt.Sprintf("bench/tp/%06d", i), "INUSE")
	}
	fedIn := time.Since(start)
	all := awaitCond(o.window, func() bool { return p.watch.distinct()-base >= o.tpKeys })
	got := p.watch.distinct() - base
	elapsed := time.Since(start)
	if all {
		elapsed = p.lastSeen().Sub(start)
	}
	if got == 0 {
		return nil, fmt.Errorf("no PUBLISH reached the wire within %s: %w", o.window, errNotConverged)
	}
	detail := fmt.Sprintf("%d of %d keys on the wire in %s (fed in %s)", got, o.tpKeys, elapsed.Round(time.Millisecond), fedIn.Round(time.Millisecond))
	return []measure{{metric: "AMI→wire", unit: "changes/s", value: float64(got) / elapsed.Seconds(), detail: detail}}, nil
}

// lastSeen is when the latest key was first seen on the wire.
func (p *benchPair) lastSeen() time.Time {
	p.watch.mu.Lock()
	defer p.watch.mu.Unlock()
	var last time.Time
	for _, t := range p.watch.first {
		if t.After(last) {
			last = t
		}
	}
	return last
}
