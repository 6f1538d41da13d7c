package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// The startup dump's sender runs in a child process (this executable,
// "bench --dump-child"), so that its peak RSS and heap are its own: the
// simulated Asterisk and the receivers stay in the bench process.
//
// The child speaks a line protocol: it prints "heap0 BYTES" (heap after
// GC, before the companion starts) and "started"; on a "measure" line
// from its stdin it prints "heap1 BYTES"; at EOF it stops the companion,
// prints "vmhwm KIB" and exits.

// benchChild is the child's side.
func benchChild(amiAddr, peerList string, fifo bool, memProfile string, in io.Reader, out, stderr io.Writer) int {
	defer removeScratchState()
	var ports []int
	for _, f := range strings.Split(peerList, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p <= 0 || p > 65535 {
			fmt.Fprintf(stderr, "companion bench: --child-peers: bad port %q\n", f)
			return 2
		}
		ports = append(ports, p)
	}
	v := variantCompanion
	if fifo {
		v = variantBaseline
	}
	log, _ := newLogger(stderr, "error", "text")
	fmt.Fprintf(out, "heap0 %d\n", heapAfterGC())
	n, err := startBenchNode(senderConfig(amiAddr, ports), v, log.With("node", "a"))
	if err != nil {
		fmt.Fprintln(stderr, "companion bench: sender:", err)
		return 1
	}
	fmt.Fprintln(out, "started")
	if memProfile != "" {
		stop := profilePeakHeap(memProfile)
		defer stop()
	}
	// Ends at EOF: the parent closed our stdin, or died.
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if sc.Text() == "measure" {
			fmt.Fprintf(out, "heap1 %d\n", heapAfterGC())
		}
	}
	n.close()
	fmt.Fprintf(out, "vmhwm %d\n", vmHWM())
	return 0
}

// profilePeakHeap writes a heap profile to file whenever the heap has
// grown a tenth past its largest so far, checked every 100 ms, so the
// file ends up showing the heap near its peak; for finding what to cut.
func profilePeakHeap(file string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var peak uint64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc < peak+peak/10 {
				continue
			}
			peak = m.HeapAlloc
			if f, err := os.Create(file); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}()
	return func() { close(done); <-finished }
}

func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// vmHWM is the process's peak resident set in KiB (Linux), 0 elsewhere.
func vmHWM() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

// dumpChild is the parent's handle on the child.
type dumpChild struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	heap0   uint64
	started time.Time
}

// childEnvForTests makes a test binary, re-executed, act as the command
// (its TestMain reads it); the command itself ignores it.
const childEnvForTests = "COMPANION_TEST_CHILD=1"

func startDumpChild(o benchOptions, amiAddr string, ports []int, v variant) (*dumpChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ps := make([]string, len(ports))
	for i, p := range ports {
		ps[i] = strconv.Itoa(p)
	}
	args := []string{"bench", "--dump-child", "--child-ami", amiAddr, "--child-peers", strings.Join(ps, ",")}
	if v.fifo {
		args = append(args, "--child-fifo")
	}
	if o.cpuProfile != "" {
		args = append(args, "--cpuprofile", o.cpuProfile+".sender-"+v.name)
	}
	if o.memProfile != "" {
		args = append(args, "--memprofile", o.memProfile+".sender-"+v.name)
	}
	c := &dumpChild{cmd: exec.Command(exe, args...), lines: make(chan string, 8)}
	c.cmd.Env = append(os.Environ(), childEnvForTests)
	c.cmd.Stderr = os.Stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	line, err := c.expect("heap0 ", 30*time.Second)
	if err == nil {
		c.heap0, err = strconv.ParseUint(line, 10, 64)
	}
	if err == nil {
		_, err = c.expect("started", 30*time.Second)
		c.started = time.Now()
	}
	if err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// expect waits for the child's next line, which must start with prefix,
// and returns the rest.
func (c *dumpChild) expect(prefix string, within time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("the sender's child process ended early")
		}
		rest, found := strings.CutPrefix(l, prefix)
		if !found {
			return "", fmt.Errorf("the sender's child process said %q, not %q", l, prefix)
		}
		return rest, nil
	case <-time.After(within):
		return "", fmt.Errorf("the sender's child process did not say %q within %s", prefix, within)
	}
}

// heap is the child's heap now, after GC.
func (c *dumpChild) heap() (uint64, error) {
	if _, err := io.WriteString(c.stdin, "measure\n"); err != nil {
		return 0, err
	}
	line, err := c.expect("heap1 ", 30*time.Second)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(line, 10, 64)
}

// finish stops the child and returns its peak RSS in KiB.
func (c *dumpChild) finish() (int, error) {
	c.stdin.Close()
	line, err := c.expect("vmhwm ", 30*time.Second)
	if err != nil {
		c.kill()
		return 0, err
	}
	waited := make(chan error, 1)
	go func() { waited <- c.cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(10 * time.Second):
		c.kill()
		err = errors.New("the sender's child process did not exit")
	}
	kib, _ := strconv.Atoi(line)
	return kib, err
}

func (c *dumpChild) kill() {
	c.stdin.Close()
	if c.cmd.Process != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// receivers are the dump's receiving companions, in this process.
type receivers []*benchNode

func startReceivers(o benchOptions, n, maxKeys int) (receivers, []int, error) {
	var rs receivers
	var ports []int
	for i := range n {
		port, err := freeUDPPort()
		if err == nil {
			var b *benchNode
			if b, err = startBenchNode(receiverConfig(i, port, "", maxKeys), variantCompanion, o.log.With("node", fmt.Sprintf("recv%d", i))); err == nil {
				rs, ports = append(rs, b), append(ports, port)
				continue
			}
		}
		rs.close()
		return nil, nil, err
	}
	return rs, ports, nil
}

func (rs receivers) close() {
	for _, r := range rs {
		r.close()
	}
}

// held is the fewest states any receiver holds.
func (rs receivers) held() int {
	least := -1
	for _, r := range rs {
		if h := r.held(); least < 0 || h < least {
			least = h
		}
	}
	return least
}

// awaitAll waits until every receiver holds total states and returns
// when that was seen, or false at the bound.
func (rs receivers) awaitAll(total int, within time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(within)
	for rs.held() < total {
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Now(), true
}

// benchDump: the sender starts beside an Asterisk holding every state;
// how long until every receiver holds them all, and the sender's peak
// RSS.
func benchDump(o benchOptions, v variant) ([]measure, error) {
	total := o.dumpDevices + o.dumpMailboxes
	src, err := startSimAsterisk("bench-src")
	if err != nil {
		return nil, err
	}
	defer src.close()
	src.preload(dumpStates(o.dumpDevices, o.dumpMailboxes))
	rs, ports, err := startReceivers(o, o.dumpPeers, total+1000)
	if err != nil {
		return nil, err
	}
	defer rs.close()
	child, err := startDumpChild(o, src.addr(), ports, v)
	if err != nil {
		return nil, err
	}
	defer child.kill()
	at, ok := rs.awaitAll(total, o.wait(v))
	detail := fmt.Sprintf("%d devices + %d mailboxes to %d peers (%d PUBLISHes)", o.dumpDevices, o.dumpMailboxes, o.dumpPeers, total*o.dumpPeers)
	var ms []measure
	switch {
	case ok:
		d := at.Sub(child.started)
		ms = append(ms,
			measure{metric: "all peers hold all", unit: "s", value: d.Seconds(), detail: detail},
			measure{metric: "PUBLISH rate", unit: "PUBLISH/s", value: float64(total*o.dumpPeers) / d.Seconds()})
	case v.fifo:
		d := time.Since(child.started)
		held := rs.held()
		ms = append(ms,
			measure{metric: "all peers hold all", unit: "s", value: d.Seconds(), lower: true, detail: fmt.Sprintf("%s; %d of %d at the bound", detail, held, total)},
			measure{metric: "PUBLISH rate", unit: "PUBLISH/s", value: float64(held*o.dumpPeers) / d.Seconds()})
	default:
		return nil, fmt.Errorf("the slowest receiver holds %d of %d states: %w", rs.held(), total, errNotConverged)
	}
	kib, err := child.finish()
	if err != nil {
		return nil, err
	}
	if kib > 0 {
		ms = append(ms, measure{metric: "sender peak RSS", unit: "MiB", value: float64(kib) / 1024, detail: "VmHWM of the sender's own process"})
	}
	return ms, nil
}

// benchMemory: the heap the sender and one receiver keep per state once
// a dump is delivered, at memKeys and twice as many keys.
func benchMemory(o benchOptions, v variant) ([]measure, error) {
	var ms []measure
	var senderDelta [2]float64
	for i, keys := range []int{o.memKeys, 2 * o.memKeys} {
		s, r, err := memoryRun(o, v, keys)
		if err != nil {
			return nil, err
		}
		senderDelta[i] = s
		tag := fmt.Sprintf(" @%d", keys)
		ms = append(ms,
			measure{metric: "sender heap/key" + tag, unit: "B", value: s / float64(keys), detail: "1 peer; heap after GC, sender in its own process"},
			measure{metric: "receiver heap/key" + tag, unit: "B", value: r / float64(keys)})
	}
	if senderDelta[0] > 0 {
		ms = append(ms, measure{metric: "sender heap ×2 keys", unit: "×", value: senderDelta[1] / senderDelta[0], detail: "at most 2 wanted"})
	}
	return ms, nil
}

// memoryRun returns the heap growth of the sender (its child process)
// and of the receiver (this process) with keys states delivered.
func memoryRun(o benchOptions, v variant, keys int) (sender, receiver float64, err error) {
	src, err := startSimAsterisk("bench-src")
	if err != nil {
		return 0, 0, err
	}
	defer src.close()
	src.preload(dumpStates(keys/2, keys-keys/2))
	rs, ports, err := startReceivers(o, 1, keys+1000)
	if err != nil {
		return 0, 0, err
	}
	defer rs.close()
	child, err := startDumpChild(o, src.addr(), ports, v)
	if err != nil {
		return 0, 0, err
	}
	defer child.kill()
	if _, ok := rs.awaitAll(keys, o.timeout); !ok {
		return 0, 0, fmt.Errorf("the receiver holds %d of %d states: %w", rs.held(), keys, errNotConverged)
	}
	h1, err := child.heap()
	if err != nil {
		return 0, 0, err
	}
	if _, err := child.finish(); err != nil {
		return 0, 0, err
	}
	// The receiver's share of this process's heap is what its close
	// frees: a heap measured before it started would count the garbage
	// of earlier scenarios collected since.
	with := heapAfterGC()
	if o.memProfile != "" {
		if f, err := os.Create(fmt.Sprintf("%s.receiver-%s-%d", o.memProfile, v.name, keys)); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	rs.close()
	clear(rs) // let the closed receiver go
	without := heapAfterGC()
	return float64(h1) - float64(child.heap0), float64(with) - float64(without), nil
}
