package sipstack

import (
	"context"
	"log/slog"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// lineCounter is a slog handler counting the lines a daemon logging at
// info would write.
type lineCounter struct{ n *atomic.Int64 }

func (c lineCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (c lineCounter) Handle(context.Context, slog.Record) error    { c.n.Add(1); return nil }
func (c lineCounter) WithAttrs([]slog.Attr) slog.Handler           { return c }
func (c lineCounter) WithGroup(string) slog.Handler                { return c }

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A flood of PUBLISHes from a source no peer may use costs neither
// memory (no transaction is kept) nor log lines, and the peer is still
// served.
func TestRefusedFloodUDP(t *testing.T) {
	const flood, batch = 20000, 50
	lines := &atomic.Int64{}
	peerAddr := netip.MustParseAddr("127.0.0.1")
	st := newStack(t, Options{
		Logger: slog.New(lineCounter{lines}),
		Admit:  func(a netip.Addr) bool { return a == peerAddr },
	}, "udp")
	h := &script{}
	serve(t, st, h)
	to := addr(t, st, "udp")
	stranger := udpPeerAt(t, "127.0.0.2")
	// One request, sent again and again: only the branch and Call-ID
	// would differ in a real flood, and neither is kept.
	req := publish(ruri("r", to), "127.0.0.2:5060", "UDP", []string{"Event: asterisk-devicestate", "Expires: 3600"}, devBody)

	// Warm up: the first refusal allocates what later ones reuse (and
	// writes the one line about this source).
	linesBefore := lines.Load()
	stranger.send(to, req)
	until(t, "the first refusal", func() bool { return st.Stats().DatagramsRefused == 1 })
	heapBefore := heapInUse()

	sent := uint64(1)
	for sent < flood+1 {
		for range batch {
			stranger.send(to, req)
			sent++
		}
		// Paced so that the socket buffer never overflows: every
		// datagram is read and refused.
		until(t, "the batch refused", func() bool { return st.Stats().DatagramsRefused == sent })
	}

	heapAfter, linesAfter := heapInUse(), lines.Load()
	p := newUDPPeer(t)
	p.send(to, publish(ruri("r", to), p.addr().String(), "UDP", []string{"Event: asterisk-mwi"}, ""))
	if res := p.response(); res.StatusCode != 200 {
		t.Errorf("the peer's PUBLISH: %d", res.StatusCode)
	}
	if n := len(h.calls()); n != 1 {
		t.Errorf("%d PUBLISHes handed on", n)
	}

	s := st.Stats()
	growth := int64(heapAfter) - int64(heapBefore)
	t.Logf("%d refused PUBLISHes (and one before): heap in use %d KiB before, %d KiB after (%+d KiB); %d log lines; %d answered 403, %d dropped",
		flood, heapBefore>>10, heapAfter>>10, growth>>10, linesAfter-linesBefore, s.ForbiddenSent, s.DatagramsDropped)
	if growth > 4<<20 {
		t.Errorf("heap grew %d KiB", growth>>10)
	}
	if n := linesAfter - linesBefore; n >= 10 {
		t.Errorf("%d log lines", n)
	}
	if s.DatagramsRefused != flood+1 || s.ForbiddenSent+s.DatagramsDropped != flood+1 || s.ForbiddenSent < forbidBurst {
		t.Errorf("stats %+v", s)
	}
}

// lineRecorder keeps the messages of the lines logged at info and above.
type lineRecorder struct {
	mu    *sync.Mutex
	lines *[]string
}

func (c lineRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (c lineRecorder) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	*c.lines = append(*c.lines, r.Level.String()+" "+r.Message)
	c.mu.Unlock()
	return nil
}
func (c lineRecorder) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c lineRecorder) WithGroup(string) slog.Handler      { return c }

// A peer publishing from an address its match does not hold (a stock
// Asterisk behind another address than configured) gets one warning
// that names the setting to change, not one per PUBLISH.
func TestRefusedSourceLogsOnceNamingMatch(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	st := newStack(t, Options{
		Logger: slog.New(lineRecorder{&mu, &lines}),
		Admit:  func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") },
	}, "udp")
	serve(t, st, &script{})
	to := addr(t, st, "udp")
	stranger := udpPeerAt(t, "127.0.0.2")
	req := publish(ruri("r", to), "127.0.0.2:5060", "UDP", []string{"Event: asterisk-devicestate", "Expires: 3600"}, devBody)
	for range 13 {
		stranger.send(to, req)
	}
	until(t, "13 refusals", func() bool { return st.Stats().DatagramsRefused == 13 })
	mu.Lock()
	defer mu.Unlock()
	lines = slices.DeleteFunc(lines, func(l string) bool { return l == "INFO SIP listening" })
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "WARN ") || !strings.Contains(lines[0], "[peer.accept] match") {
		t.Errorf("logged %q, want one WARN naming [peer.accept] match", lines)
	}
}
