package faultnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait of these tests; nothing is asserted about how
// fast things happen, only that they happen within it.
const wait = 10 * time.Second

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sink is a UDP endpoint recording what it receives; with echo it
// answers every datagram but an answer with "re:" and the same bytes.
type sink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func newSink(t *testing.T, echo bool) *sink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{conn: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, string(buf[:n]))
			s.mu.Unlock()
			if echo && !bytes.HasPrefix(buf[:n], []byte("re:")) {
				_, _ = c.WriteToUDPAddrPort(append([]byte("re:"), buf[:n]...), from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

func (s *sink) addr() string { return s.conn.LocalAddr().String() }

func (s *sink) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func relay(t *testing.T, target string, seed uint64) *UDPRelay {
	t.Helper()
	r, err := NewUDPRelay("", target, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func dialUDP(t *testing.T, to string) *net.UDPConn {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendN sends "0".."n-1" through r in batches, each batch read by the
// relay before the next goes, so that no socket buffer overflows.
func sendN(t *testing.T, c *net.UDPConn, r *UDPRelay, n int) {
	t.Helper()
	base := r.Counters(Forward).Received
	for i := range n {
		if _, err := c.Write([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 || i == n-1 {
			want := base + uint64(i+1)
			eventually(t, "the relay reading the batch", func() bool { return r.Counters(Forward).Received >= want })
		}
	}
}

// settled waits until every datagram read in direction d was dealt with.
func settled(t *testing.T, r *UDPRelay, d Dir) Counters {
	t.Helper()
	var c Counters
	eventually(t, "the relay settling", func() bool {
		c = r.Counters(d)
		sent := c.Forwarded - c.Duplicated // a duplicate is one read, two writes
		return c.Received == sent+c.Dropped+c.Filtered+c.Overflow+c.SendErrors
	})
	return c
}

func TestUDPRelayForwardsAndAnswers(t *testing.T) {
	echo := newSink(t, true)
	r := relay(t, echo.addr(), 1)
	c := dialUDP(t, r.Addr())
	sendN(t, c, r, 100)
	buf := make([]byte, 64)
	for i := range 100 {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != "re:"+strconv.Itoa(i) {
			t.Fatalf("answer %d is %q: a relay without faults keeps the order", i, got)
		}
	}
	for _, d := range []Dir{Forward, Back} {
		if got := r.Counters(d); got.Received != 100 || got.Forwarded != 100 {
			t.Errorf("%s counters %+v, want 100 received and forwarded", d, got)
		}
	}
}

// delivered runs n datagrams through a relay seeded with seed and faults
// f (forward only) and returns what reached the target.
func delivered(t *testing.T, seed uint64, f Faults, n int) ([]string, Counters) {
	t.Helper()
	dst := newSink(t, false)
	r := relay(t, dst.addr(), seed)
	r.Set(Forward, f)
	c := dialUDP(t, r.Addr())
	sendN(t, c, r, n)
	cnt := settled(t, r, Forward)
	eventually(t, "the sink reading", func() bool { return uint64(len(dst.received())) == cnt.Forwarded })
	return dst.received(), cnt
}

func TestUDPRelayLossIsSeeded(t *testing.T) {
	const n = 1000
	got1, c1 := delivered(t, 42, Faults{Loss: 0.3}, n)
	got2, _ := delivered(t, 42, Faults{Loss: 0.3}, n)
	got3, _ := delivered(t, 43, Faults{Loss: 0.3}, n)
	if c1.Dropped < 200 || c1.Dropped > 400 {
		t.Errorf("dropped %d of %d at 30%% loss", c1.Dropped, n)
	}
	if uint64(len(got1)) != n-c1.Dropped {
		t.Errorf("%d delivered, %d dropped, of %d", len(got1), c1.Dropped, n)
	}
	if !slices.Equal(got1, got2) {
		t.Error("the same seed dropped different datagrams")
	}
	if slices.Equal(got1, got3) {
		t.Error("another seed dropped the same datagrams")
	}
}

func TestUDPRelayDuplicatesReordersDelays(t *testing.T) {
	const n = 200
	got, c := delivered(t, 7, Faults{Duplicate: 1}, n)
	if len(got) != 2*n || c.Duplicated != n {
		t.Errorf("duplicate 1: %d delivered, %+v; want each twice", len(got), c)
	}

	got, c = delivered(t, 7, Faults{Reorder: 0.5, ReorderBy: 20 * time.Millisecond}, n)
	if len(got) != n || c.Reordered == 0 || c.Reordered == n {
		t.Errorf("reorder 0.5: %d delivered, %+v", len(got), c)
	}
	nums := make([]int, len(got))
	for i, s := range got {
		nums[i], _ = strconv.Atoi(s)
	}
	if slices.IsSorted(nums) {
		t.Error("reorder 0.5 kept every datagram in order")
	}
	slices.Sort(nums)
	for i, v := range nums {
		if v != i {
			t.Fatalf("reordering lost or invented datagram %d", i)
		}
	}

	// Delay: nothing arrives earlier than it (a lower bound only).
	dst := newSink(t, false)
	r := relay(t, dst.addr(), 7)
	const delay = 50 * time.Millisecond
	r.Set(Forward, Faults{Delay: delay, Jitter: 10 * time.Millisecond})
	cl := dialUDP(t, r.Addr())
	start := time.Now()
	sendN(t, cl, r, 1)
	eventually(t, "the delayed datagram", func() bool { return len(dst.received()) == 1 })
	if el := time.Since(start); el < delay {
		t.Errorf("a datagram delayed by %v arrived after %v", delay, el)
	}
	if c := r.Counters(Forward); c.Delayed != 1 {
		t.Errorf("counters %+v, want 1 delayed", c)
	}
}

func TestUDPRelayDropPredicateAndHeal(t *testing.T) {
	dst := newSink(t, false)
	r := relay(t, dst.addr(), 3)
	r.Set(Forward, Faults{Drop: func(p []byte) bool { return bytes.HasSuffix(p, []byte("7")) }})
	c := dialUDP(t, r.Addr())
	sendN(t, c, r, 100)
	cnt := settled(t, r, Forward)
	if cnt.Filtered != 10 || cnt.Forwarded != 90 {
		t.Errorf("counters %+v, want the 10 numbers ending in 7 filtered", cnt)
	}
	eventually(t, "90 datagrams", func() bool { return len(dst.received()) == 90 })

	r.Set(Forward, Faults{Loss: 1})
	sendN(t, c, r, 10)
	r.Heal()
	sendN(t, c, r, 10)
	cnt = settled(t, r, Forward)
	if cnt.Dropped != 10 || cnt.Forwarded != 100 {
		t.Errorf("counters %+v: loss 1 drops all, Heal lets all through", cnt)
	}
}

func TestLinkFaultsByDirection(t *testing.T) {
	a, b := newSink(t, true), newSink(t, true)
	l, err := NewLink(a.addr(), b.addr(), 11)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// a and b send from their own sockets, as peers do: a to ToB, b to
	// ToA. Each answers, so each request comes back as an answer through
	// the relay it went by.
	send := func(from *sink, to, msg string) {
		t.Helper()
		ra, _ := net.ResolveUDPAddr("udp", to)
		if _, err := from.conn.WriteToUDP([]byte(msg), ra); err != nil {
			t.Fatal(err)
		}
	}
	count := func(s *sink, msg string) int {
		return len(slices.DeleteFunc(s.received(), func(x string) bool { return x != msg }))
	}
	send(a, l.ToB(), "a1")
	eventually(t, "a1 at b and its answer at a", func() bool { return count(b, "a1") == 1 && count(a, "re:a1") == 1 })
	send(b, l.ToA(), "b1")
	eventually(t, "b1 at a and its answer at b", func() bool { return count(a, "b1") == 1 && count(b, "re:b1") == 1 })

	// A→B lost: a's requests never reach b; b's reach a, but a's answers
	// do not come back.
	l.Set(AtoB, Faults{Loss: 1})
	send(a, l.ToB(), "a2")
	send(b, l.ToA(), "b2")
	eventually(t, "b2 at a", func() bool { return count(a, "b2") == 1 })
	eventually(t, "a2 and a's answer to b2 dropped", func() bool { return l.Counters(AtoB).Dropped == 2 })
	if count(b, "a2") != 0 || count(b, "re:b2") != 0 {
		t.Error("A→B traffic got through a link losing all of it")
	}
	if c := l.Counters(BtoA); c.Dropped != 0 || c.Forwarded != 3 {
		t.Errorf("B→A counters %+v, want b's answer to a1, b1 and b2 forwarded", c)
	}
	l.Heal()
	send(a, l.ToB(), "a3")
	eventually(t, "a3 at b after Heal", func() bool { return count(b, "a3") == 1 && count(a, "re:a3") == 1 })
	l.Close()
}

// echoTCP is a TCP echo server.
func echoTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string, within time.Duration) (string, error) {
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func TestTCPProxyStallDelayCutRefuse(t *testing.T) {
	p, err := NewTCPProxy("", echoTCP(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.DialTimeout("tcp", p.Addr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := roundTrip(c, "hello", wait); err != nil || got != "hello" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	// Stalled: nothing comes back, however long one waits; resumed: it
	// does. (The short window only bounds the test; a stall never ends
	// on its own.)
	p.Stall()
	if got, err := roundTrip(c, "stall", 100*time.Millisecond); !isTimeout(err) {
		t.Fatalf("while stalled: %q, %v; want a read timeout", got, err)
	}
	p.Resume()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "stall" {
		t.Fatalf("after Resume: %q, %v", buf, err)
	}

	// Delay: both ways, so a round trip takes at least twice it.
	const delay = 30 * time.Millisecond
	p.SetDelay(delay)
	start := time.Now()
	if got, err := roundTrip(c, "slow", wait); err != nil || got != "slow" {
		t.Fatalf("delayed: %q, %v", got, err)
	}
	if el := time.Since(start); el < 2*delay {
		t.Errorf("a round trip delayed by %v each way took %v", delay, el)
	}
	p.SetDelay(0)

	// Cut: the client sees its connection end.
	if n := p.Cut(); n != 1 {
		t.Errorf("cut %d connections, want 1", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	if _, err := c.Read(buf); err == nil || isTimeout(err) {
		t.Errorf("read after Cut: %v, want the connection closed", err)
	}

	// Refuse, then listen again on the same address.
	p.Refuse()
	if c2, err := net.DialTimeout("tcp", p.Addr(), wait); err == nil {
		c2.Close()
		t.Fatal("connected while the proxy refuses")
	}
	if err := p.Heal(); err != nil {
		t.Fatal(err)
	}
	c3, err := net.DialTimeout("tcp", p.Addr(), wait)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, "again", wait); err != nil || got != "again" {
		t.Fatalf("after Listen: %q, %v", got, err)
	}
	// A chunk is counted just after it is written.
	eventually(t, "the last bytes counted", func() bool { c := p.Counters(); return c.BytesBack == 19 && c.BytesForward == 19 })
	if cnt := p.Counters(); cnt.Accepted != 2 || cnt.Cut != 1 {
		t.Errorf("counters %+v", cnt)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ExampleLink() {
	// Two endpoints A and B (here: two sockets) talk through a link that
	// loses a third of what goes either way, reorders and duplicates.
	a, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	b, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer a.Close()
	defer b.Close()
	l, err := NewLink(a.LocalAddr().String(), b.LocalAddr().String(), 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	l.SetBoth(Faults{Loss: 0.3, Reorder: 0.2, Duplicate: 0.1, Jitter: 5 * time.Millisecond})
	// ... A sends to l.ToB(), B to l.ToA() ...
	l.Heal()
	fmt.Println("healed")
	// Output: healed
}
