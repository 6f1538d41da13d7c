package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/astcompanion/sidecar/cmd/companion/internal/faultnet"
)

// The reliability harness: whole companions as child processes (this
// test binary, re-executed), each beside a simulated Asterisk hosted by
// the test process, peered over loopback through a faultnet.Link.

// childEnv makes the test binary the companion CLI: TestMain hands its
// arguments to run.
const childEnv = "COMPANION_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	removeScratchState() // the state folders of the tests' companions
	os.Exit(code)
}

// logDirEnv names a folder where each child's whole log is written when
// its test ends, for a look after a failure.
const logDirEnv = "COMPANION_HARNESS_LOGDIR"

// childStopWait bounds how long a child takes to exit once signalled: a
// graceful stop waits up to 3 s for a PUBLISH in flight, then up to 3 s
// for each removal.
const childStopWait = 20 * time.Second

// child is "companion run --config FILE" as a child process. Its output
// (all incarnations) is kept in memory.
type child struct {
	t      *testing.T
	name   string
	config string // file path

	log  syncBuffer
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	runs int
}

// startChild writes src to a file and runs a companion on it.
func startChild(t *testing.T, name, src string) *child {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, name: name, config: path}
	c.start()
	t.Cleanup(func() {
		if c.running() {
			c.kill()
		}
		if dir := os.Getenv(logDirEnv); dir != "" {
			file := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+name+".log")
			if err := os.WriteFile(file, []byte(c.log.String()), 0o644); err != nil {
				t.Log(err)
			}
		}
		if strings.Contains(c.log.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: the race detector reported a data race in the child:\n%s", name, c.log.String())
		} else if t.Failed() {
			t.Logf("%s's log (last lines):\n%s", name, tail(c.log.String(), 60))
		}
	})
	return c
}

// start runs the companion (again) with the same file.
func (c *child) start() {
	c.t.Helper()
	if c.running() {
		c.t.Fatalf("%s is already running", c.name)
	}
	exe, err := os.Executable()
	if err != nil {
		c.t.Fatal(err)
	}
	c.runs++
	fmt.Fprintf(&c.log, "=== harness: start #%d of %s\n", c.runs, c.name)
	cmd := exec.Command(exe, "run", "--config", c.config, "--log-level", "info")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = &c.log, &c.log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.cmd, c.done = cmd, make(chan struct{})
	done := c.done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
}

func (c *child) running() bool {
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the exit; it returns the exit status
// (-1 when a signal ended the process).
func (c *child) signal(sig syscall.Signal) int {
	c.t.Helper()
	if !c.running() {
		c.t.Fatalf("%s is not running", c.name)
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(childStopWait):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.t.Fatalf("%s did not exit within %v of %v", c.name, childStopWait, sig)
	}
	fmt.Fprintf(&c.log, "=== harness: %s exited (%v): %d\n", c.name, sig, c.cmd.ProcessState.ExitCode())
	return c.cmd.ProcessState.ExitCode()
}

// term stops the companion gracefully (SIGTERM) and wants exit 0.
func (c *child) term() {
	c.t.Helper()
	if code := c.signal(syscall.SIGTERM); code != 0 {
		c.t.Errorf("%s exited %d after SIGTERM, want 0", c.name, code)
	}
}

// termAll stops companions gracefully at once: each removes its
// publications while the others still answer (one after the other, the
// last would wait out its removals to peers already gone).
func termAll(t *testing.T, cs ...*child) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = c.signalOnly(syscall.SIGTERM)
		}()
	}
	wg.Wait()
	for i, c := range cs {
		switch codes[i] {
		case 0:
		case -2:
			t.Errorf("%s did not exit within %v of SIGTERM", c.name, childStopWait)
		default:
			t.Errorf("%s exited %d after SIGTERM, want 0", c.name, codes[i])
		}
	}
}

// signalOnly is signal for termAll's goroutines: no t.Fatal; -2 when the
// child did not exit in time (it is killed then).
func (c *child) signalOnly(sig syscall.Signal) int {
	if !c.running() {
		return -3
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(childStopWait):
		_ = c.cmd.Process.Kill()
		<-c.done
		return -2
	}
	fmt.Fprintf(&c.log, "=== harness: %s exited (%v): %d\n", c.name, sig, c.cmd.ProcessState.ExitCode())
	return c.cmd.ProcessState.ExitCode()
}

// kill ends the companion at once (SIGKILL): it removes nothing.
func (c *child) kill() {
	c.t.Helper()
	c.signal(syscall.SIGKILL)
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// amiHost is a simulated Asterisk whose manager interface the test can
// take down and bring back.
type amiHost struct {
	*simAsterisk
	address string

	mu sync.Mutex
	ln net.Listener // the listener since listenAgain; nil before and while down
	wg sync.WaitGroup
}

func newAMIHost(t *testing.T, name string) *amiHost {
	t.Helper()
	s, err := startSimAsterisk(name)
	if err != nil {
		t.Fatal(err)
	}
	h := &amiHost{simAsterisk: s, address: s.addr()}
	t.Cleanup(h.close)
	return h
}

// dropSessions ends every manager session at once (a crash: bare EOF).
func (h *amiHost) dropSessions() { h.restart() }

// shutdown is what 'core stop gracefully' does to manager sessions: a
// Shutdown event (as fixtures/ami/11_inst2_core_stop_gracefully), then
// the connection closes. It reports how many sessions got it.
func (h *amiHost) shutdown() int {
	h.simAsterisk.mu.Lock()
	conns := h.connsLocked()
	h.simAsterisk.mu.Unlock()
	for _, c := range conns {
		c.send("Event: Shutdown", "Privilege: system,all", "Shutdown: Cleanly", "Restart: False")
		c.c.Close()
	}
	return len(conns)
}

// stopListening closes the manager port: connecting is refused until
// listenAgain. Open sessions stay (end them with shutdown or
// dropSessions).
func (h *amiHost) stopListening() {
	h.simAsterisk.ln.Close() // only read, never replaced: its accept loop ends
	h.mu.Lock()
	ln := h.ln
	h.ln = nil
	h.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// listenAgain listens on the same port again.
func (h *amiHost) listenAgain() error {
	ln, err := net.Listen("tcp", h.address)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go h.serve(c)
		}
	}()
	return nil
}

func (h *amiHost) close() {
	h.stopListening()
	h.wg.Wait()
	h.simAsterisk.close()
}

// workload is one side's own keys, changed on its simulated Asterisk:
// devices PJSIP/<side>-NNNN and mailboxes <side>NNN@default (whose
// res_mwi_devstate twins MWI:<mailbox> are local devices too).
type workload struct {
	side    string
	ast     *amiHost
	devices []string
	boxes   []string

	mu  sync.Mutex // churn and the test change keys at once
	rng *rand.Rand

	stop chan struct{}
	done chan struct{}
}

// Own states are never UNAVAILABLE (what a departed peer's devices are
// cleared to) and no mailbox is 0/0 (what its mailboxes are cleared to).
var liveStates = []string{"NOT_INUSE", "INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"}

func newWorkload(ast *amiHost, side string, devices, boxes int, seed uint64) *workload {
	w := &workload{side: side, ast: ast, rng: rand.New(rand.NewPCG(seed, 1))}
	for i := range devices {
		w.devices = append(w.devices, fmt.Sprintf("PJSIP/%s-%04d", side, i))
	}
	for i := range boxes {
		w.boxes = append(w.boxes, fmt.Sprintf("%s%03d@default", side, i))
	}
	for _, d := range w.devices {
		w.changeDevice(d)
	}
	for _, b := range w.boxes {
		w.changeBox(b)
	}
	return w
}

// changeDevice and changeBox give a key a new random value; w.mu held.
func (w *workload) changeDevice(d string) {
	w.ast.SetDevice(d, liveStates[w.rng.IntN(len(liveStates))])
}

func (w *workload) changeBox(b string) {
	w.ast.SetMailbox(b, w.rng.IntN(6), 1+w.rng.IntN(9))
}

// churnTick is how often churn changes keys; each tick changes
// churnDevices devices and, every churnBoxEvery ticks, one mailbox.
const (
	churnTick     = 10 * time.Millisecond
	churnDevices  = 2
	churnBoxEvery = 5
)

// churn changes keys in the background until stopChurn: about 200
// devices and 20 mailboxes a second.
func (w *workload) churn() {
	w.stop, w.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(churnTick)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
			w.mu.Lock()
			for range churnDevices {
				w.changeDevice(w.devices[w.rng.IntN(len(w.devices))])
			}
			if i%churnBoxEvery == 0 && len(w.boxes) > 0 {
				w.changeBox(w.boxes[w.rng.IntN(len(w.boxes))])
			}
			w.mu.Unlock()
		}
	}()
}

func (w *workload) stopChurn() {
	if w.stop == nil {
		return
	}
	close(w.stop)
	<-w.done
	w.stop = nil
}

// burst changes n devices and n/10 mailboxes at once.
func (w *workload) burst(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range n {
		w.changeDevice(w.devices[w.rng.IntN(len(w.devices))])
	}
	for range n / 10 {
		if len(w.boxes) > 0 {
			w.changeBox(w.boxes[w.rng.IntN(len(w.boxes))])
		}
	}
}

// mismatches compares, key by key, the newest value w's Asterisk holds
// with what the peer's Asterisk was told (Setvar DEVICE_STATE(Custom:…),
// MWIUpdate), or, when cleared is set, with what a departed peer's keys
// are cleared to. It returns how many keys differ and the first few.
func (w *workload) mismatches(peer *amiHost, cleared bool) (int, string) {
	return w.compare(peer, cleared)
}

func (w *workload) compare(peer *amiHost, cleared bool) (int, string) {
	w.ast.simAsterisk.mu.Lock()
	devs := make(map[string]string, len(w.devices)+len(w.boxes))
	boxes := make(map[string][2]int, len(w.boxes))
	for _, b := range w.boxes {
		boxes[b] = w.ast.mailboxes[b]
	}
	for _, d := range w.devices {
		devs[d] = w.ast.devices[d]
	}
	for _, b := range w.boxes {
		devs["MWI:"+b] = w.ast.devices["MWI:"+b]
	}
	own := w.ast.writes[:len(w.ast.writes):len(w.ast.writes)] // appended to, never changed
	w.ast.simAsterisk.mu.Unlock()

	var n int
	var ex []string
	first := ""
	note := func(key, format string, args ...any) {
		n++
		if len(ex) < 3 {
			ex = append(ex, fmt.Sprintf(format, args...))
		}
		if first == "" || key < first {
			first = key
		}
	}
	peer.simAsterisk.mu.Lock()
	defer peer.simAsterisk.mu.Unlock()
	for d, want := range devs {
		if cleared {
			want = "UNAVAILABLE"
		}
		if got := peer.devices["Custom:"+d]; got != want {
			note(d, "Custom:%s is %q, want %q", d, got, want)
		}
	}
	for b, want := range boxes {
		if cleared {
			want = [2]int{}
		}
		if got, ok := peer.mailboxes[b]; !ok || got != want {
			note(b, "mailbox %s is %v, want %v", b, got, want)
		}
	}
	if n == 0 {
		return 0, ""
	}
	// What became of the first key on either side, to tell why.
	return n, fmt.Sprintf("%s; writes naming %s: on %s %q, on %s %q", strings.Join(ex, "; "), first,
		w.ast.name, lastWrites(own, first, 6), peer.name, lastWrites(peer.writes, first, 6))
}

// lastWrites is the last n of writes naming key (both locks held or
// writes copied).
func lastWrites(writes []string, key string, n int) []string {
	var out []string
	for i := len(writes) - 1; i >= 0 && len(out) < n; i-- {
		if strings.Contains(writes[i], key) {
			out = append(out, writes[i])
		}
	}
	slices.Reverse(out)
	return out
}

// echoes lists writes w's own Asterisk got for w's own keys: states that
// went to the peer and came back.
func (w *workload) echoes() []string {
	var out []string
	own := []string{"Custom:Custom:", "(Custom:PJSIP/" + w.side + "-", "(Custom:MWI:" + w.side, "MWIUpdate " + w.side}
	for _, wr := range w.ast.allWrites() {
		for _, o := range own {
			if strings.Contains(wr, o) {
				out = append(out, wr)
				break
			}
		}
	}
	return out
}

// converge polls cond until it holds, within bound (a generous bound for
// a slow machine, not a performance target); it fails the test with
// cond's last detail otherwise. It logs and returns the time it took.
func converge(t *testing.T, what string, bound time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, detail := cond()
		if ok {
			took := time.Since(start)
			t.Logf("%s: converged in %v", what, took.Round(time.Millisecond))
			return took
		}
		if time.Since(start) > bound {
			t.Fatalf("%s: not converged within %v: %s", what, bound, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// side is one companion with its simulated Asterisk and workload.
type side struct {
	name, eid string
	ast       *amiHost
	port      int // its SIP port
	work      *workload
	proc      *child
}

// pair is two sides, A and B, whose companions reach each other only
// through link.
type pair struct {
	a, b *side
	link *faultnet.Link
}

type pairOptions struct {
	// reconnect is [ami] reconnect_interval; "" keeps pairConfig's 1h
	// (nothing reconnects: amigo races with itself on reconnect).
	reconnect string
	// expiration is [peer.publish] expiration in seconds.
	expiration int
	seed       uint64
	// accept is extra lines of both sides' [peer.accept].
	accept string
	// publish is extra lines of both sides' [peer.publish].
	publish string
}

// Sizes of every scenario. A, the side whose companion the scenarios
// hurt, owns 2,000 devices and 200 mailboxes; B owns a tenth of that, so
// that the other direction is exercised too without doubling the initial
// sync, which is one PUBLISH per key (about 3 ms each under -race on two
// cores).
const (
	scenarioDevices   = 2000
	scenarioMailboxes = 200
	peerDevices       = scenarioDevices / 10
	peerMailboxes     = scenarioMailboxes / 10
)

// configFor is s's file, peered with peer through port (the link's
// address for reaching peer).
func configFor(t *testing.T, s, peer *side, port int, o pairOptions) string {
	t.Helper()
	publish := fmt.Sprintf("expiration = %d", o.expiration)
	if o.publish != "" {
		publish += "\n  " + o.publish
	}
	src := pairConfig(s.name, s.eid, s.port, s.ast.address, peer.name, port,
		publish,
		// The MWI: twins are carried as devices of their own (they are
		// dropped by default), so that they converge like any device.
		"device_state = true\nmailbox_state = true\nignore_mwi_devices = false\n"+o.accept)
	if o.reconnect != "" {
		const def = `reconnect_interval = "1h"`
		if !strings.Contains(src, def) {
			t.Fatalf("pairConfig no longer holds %s", def)
		}
		src = strings.Replace(src, def, fmt.Sprintf("reconnect_interval = %q", o.reconnect), 1)
	}
	return src
}

// newPair starts two simulated Asterisks holding their workloads, the
// link between two free SIP ports, and a companion beside each.
func newPair(t *testing.T, o pairOptions) *pair {
	t.Helper()
	p := &pair{
		a: &side{name: "ast1", eid: "02:00:00:00:00:01"},
		b: &side{name: "ast2", eid: "02:00:00:00:00:02"},
	}
	for i, s := range []*side{p.a, p.b} {
		s.ast = newAMIHost(t, s.name)
		var err error
		if s.port, err = freeUDPPort(); err != nil {
			t.Fatal(err)
		}
		devices, boxes := scenarioDevices, scenarioMailboxes
		if s == p.b {
			devices, boxes = peerDevices, peerMailboxes
		}
		s.work = newWorkload(s.ast, string(rune('a'+i)), devices, boxes, o.seed+uint64(i))
	}
	var err error
	p.link, err = faultnet.NewLink(fmt.Sprintf("127.0.0.1:%d", p.a.port), fmt.Sprintf("127.0.0.1:%d", p.b.port), o.seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.link.Close() })
	p.a.proc = startChild(t, p.a.name, configFor(t, p.a, p.b, p.link.ToBPort(), o))
	p.b.proc = startChild(t, p.b.name, configFor(t, p.b, p.a, p.link.ToAPort(), o))
	t.Cleanup(func() {
		for _, s := range []*side{p.a, p.b} {
			s.work.stopChurn()
		}
	})
	return p
}

func (p *pair) churn() {
	p.a.work.churn()
	p.b.work.churn()
}

func (p *pair) stopChurn() {
	p.a.work.stopChurn()
	p.b.work.stopChurn()
}

// converged holds when each side's Asterisk holds the newest value of
// every key of the other side.
func (p *pair) converged() (bool, string) {
	na, da := p.a.work.mismatches(p.b.ast, false)
	nb, db := p.b.work.mismatches(p.a.ast, false)
	detail := fmt.Sprintf("%d of ast1's keys differ on ast2 (%s); %d of ast2's keys differ on ast1 (%s)", na, da, nb, db)
	for _, s := range []*side{p.a, p.b} {
		if e := s.work.echoes(); len(e) > 0 {
			detail += fmt.Sprintf("; %s's own keys were written to its Asterisk %d times, first %q", s.name, len(e), e[0])
		}
	}
	return na+nb == 0, detail
}

// noEchoes fails the test if a side's own states came back to it.
func (p *pair) noEchoes(t *testing.T) {
	t.Helper()
	for _, s := range []*side{p.a, p.b} {
		if e := s.work.echoes(); len(e) > 0 {
			t.Errorf("%s's own states came back to its Asterisk: %d writes, e.g. %q", s.name, len(e), e[0])
		}
	}
}

// leakCheck registers, first, the goroutine check that runs last: after
// every child, relay and simulated Asterisk of the test has stopped.
func leakCheck(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}
