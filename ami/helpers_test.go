package ami

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

const (
	// wait bounds every wait on the client.
	wait = amitest.Wait
	// pingWait bounds waits on amigo's keepalive, which it sends 5 s after
	// a connect and then every 5 s (fixed in amigo), and gives up on 3 s
	// after sending.
	pingWait = 12 * time.Second // generous: a loaded CI machine under -race is slow

	// noReconnect is the reconnect interval of tests that do not
	// reconnect. amigo has a data race: the keepalive goroutine reads the
	// connection's id, which the reconnect loop rewrites; only after the
	// first keepalive does a lock order the two. A connection ending
	// before that (the Logoff at the end of a short test) trips the race
	// detector once amigo reconnects, so these tests keep amigo from
	// reconnecting at all while the binary runs.
	noReconnect = time.Hour
	// fastReconnect is for tests that reconnect; they end a connection
	// only after its first keepalive (awaitKeepalive).
	fastReconnect = 50 * time.Millisecond
)

var testEID = companion.EntityID{0x02, 0, 0, 0, 0, 0x01}

func transcript(t testing.TB, name string) *amitest.Transcript {
	t.Helper()
	tr, err := amitest.Load(filepath.Join("..", "fixtures", "ami", name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func serve(t testing.TB, names ...string) *amitest.Server {
	t.Helper()
	var trs []*amitest.Transcript
	for _, n := range names {
		trs = append(trs, transcript(t, n))
	}
	return amitest.Start(t, amitest.Config{Transcripts: trs})
}

type clientOptions struct {
	reconnect     time.Duration
	actionTimeout time.Duration
	secret        string // default: the server's
}

// runningClient is a Client whose Run runs on its own goroutine.
type runningClient struct {
	*Client
	logs *logBuffer
	stop func() // ends Run and checks it returned nil; idempotent
}

// startClient runs a client against srv; it is stopped when the test
// ends at the latest, and the secret must not appear in its log.
func startClient(t testing.TB, srv *amitest.Server, obs companion.Observer, o clientOptions) runningClient {
	t.Helper()
	if o.reconnect == 0 {
		o.reconnect = noReconnect
	}
	if o.actionTimeout == 0 {
		o.actionTimeout = 2 * time.Second
	}
	if o.secret == "" {
		o.secret = srv.Secret()
	}
	logs := newLogBuffer(t)
	c := New(companion.AMIConfig{
		Address:           srv.Addr(),
		Username:          srv.Username(),
		Secret:            companion.NewSecret(o.secret, "test"),
		ReconnectInterval: o.reconnect,
		ActionTimeout:     o.actionTimeout,
	}, slog.New(logs), obs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case <-time.After(3 * o.actionTimeout):
				t.Errorf("Run did not return within %v of its context ending", 3*o.actionTimeout)
			}
			if s := logs.String(); strings.Contains(s, o.secret) {
				t.Errorf("the secret appears in the log:\n%s", s)
			}
		})
	}
	t.Cleanup(stop)
	return runningClient{Client: c, logs: logs, stop: stop}
}

// awaitConnected waits until amigo counts the client connected, which it
// does a moment after the server accepted the login.
func awaitConnected(t testing.TB, c *Client) {
	t.Helper()
	eventually(t, "a connected client", c.Connected)
}

// awaitKeepalive waits for amigo's first keepalive Ping on sess; only then
// may the test end sess (see noReconnect).
func awaitKeepalive(t testing.TB, sess *amitest.Session) {
	t.Helper()
	sess.AwaitFor(t, pingWait, "keepalive Ping", func(a amitest.Message) bool {
		return a.Action() == "Ping" && a.Get("ActionID") == "AmigoPing"
	})
}

// recorder is an Observer that keeps every call.
type recorder struct {
	mu      sync.Mutex
	calls   []call
	changed chan struct{}
}

type call struct {
	snapshot bool
	kind     companion.Kind    // snapshot only
	states   []companion.State // one for Observe
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) Observe(s companion.State) { r.add(call{states: []companion.State{s}}) }
func (r *recorder) Snapshot(kind companion.Kind, states []companion.State) {
	r.add(call{snapshot: true, kind: kind, states: slices.Clone(states)})
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// await waits until cond, run on the calls so far, holds.
func (r *recorder) await(t testing.TB, what string, cond func([]call) bool) []call {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		calls, ch := slices.Clone(r.calls), r.changed
		r.mu.Unlock()
		if cond(calls) {
			return calls
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("observer: no %s within %v; calls:\n%s", what, wait, formatCalls(calls))
		}
	}
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) snapshots(kind companion.Kind) [][]companion.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return snapshotsOf(r.calls, kind)
}

func snapshotsOf(calls []call, kind companion.Kind) [][]companion.State {
	var out [][]companion.State
	for _, c := range calls {
		if c.snapshot && c.kind == kind {
			out = append(out, c.states)
		}
	}
	return out
}

// awaitSnapshots waits for n snapshots of kind and returns them.
func (r *recorder) awaitSnapshots(t testing.TB, kind companion.Kind, n int) [][]companion.State {
	t.Helper()
	calls := r.await(t, fmt.Sprintf("%d %s snapshots", n, kind), func(cs []call) bool {
		return len(snapshotsOf(cs, kind)) >= n
	})
	return snapshotsOf(calls, kind)
}

// observed lists the Observe calls, in order.
func observed(calls []call) []companion.State {
	var out []companion.State
	for _, c := range calls {
		if !c.snapshot {
			out = append(out, c.states[0])
		}
	}
	return out
}

// awaitObserved waits until s has been observed.
func (r *recorder) awaitObserved(t testing.TB, s companion.State) []call {
	t.Helper()
	return r.await(t, "Observe("+s.String()+")", func(cs []call) bool {
		return slices.Contains(observed(cs), s)
	})
}

func formatCalls(calls []call) string {
	var b strings.Builder
	for _, c := range calls {
		if c.snapshot {
			fmt.Fprintf(&b, "  Snapshot(%s, %v)\n", c.kind, c.states)
		} else {
			fmt.Fprintf(&b, "  Observe(%v)\n", c.states[0])
		}
	}
	return b.String()
}

func dev(name string, s companion.DeviceState) companion.State {
	return companion.Device(name, s, true)
}

func mbox(t testing.TB, id string, old, new int) companion.State {
	t.Helper()
	m, ok := companion.ParseMailboxID(id)
	if !ok {
		t.Fatalf("bad mailbox %q", id)
	}
	return companion.Mailbox(m, old, new)
}

// logBuffer is a slog handler that keeps lines for assertions and shows
// them when the test fails.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
	attrs   []slog.Attr
	root    *logBuffer
}

func newLogBuffer(t testing.TB) *logBuffer {
	l := &logBuffer{changed: make(chan struct{})}
	l.root = l
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", l.String())
		}
	})
	return l
}

func (l *logBuffer) Enabled(context.Context, slog.Level) bool { return true }
func (l *logBuffer) WithGroup(string) slog.Handler            { return l }
func (l *logBuffer) WithAttrs(as []slog.Attr) slog.Handler {
	return &logBuffer{attrs: append(slices.Clone(l.attrs), as...), root: l.root}
}

func (l *logBuffer) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range l.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.root.mu.Lock()
	l.root.buf.WriteString(b.String() + "\n")
	close(l.root.changed)
	l.root.changed = make(chan struct{})
	l.root.mu.Unlock()
	return nil
}

// await waits until a log line contains s.
func (l *logBuffer) await(t testing.TB, s string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.root.mu.Lock()
		found, ch := strings.Contains(l.root.buf.String(), s), l.root.changed
		l.root.mu.Unlock()
		if found {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no log line with %q within %v", s, wait)
		}
	}
}

func (l *logBuffer) String() string {
	l.root.mu.Lock()
	defer l.root.mu.Unlock()
	return l.root.buf.String()
}

// count is how many log lines contain s.
func (l *logBuffer) count(s string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}
