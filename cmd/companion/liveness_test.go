package main

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpRelay forwards datagrams between one client (who sends to its front
// port) and a target, both ways, unless paused: then it drops them all,
// as a cut link or a host that stopped would.
type udpRelay struct {
	front, back *net.UDPConn
	target      *net.UDPAddr

	mu     sync.Mutex
	client *net.UDPAddr
	paused bool
	wg     sync.WaitGroup
}

func newUDPRelay(t *testing.T, targetPort int) *udpRelay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", lo)
	if err != nil {
		front.Close()
		t.Fatal(err)
	}
	r := &udpRelay{front: front, back: back, target: &net.UDPAddr{IP: lo.IP, Port: targetPort}}
	r.wg.Add(2)
	go r.pump(front, func(from *net.UDPAddr) (*net.UDPConn, *net.UDPAddr) {
		r.client = from
		return back, r.target
	})
	go r.pump(back, func(*net.UDPAddr) (*net.UDPConn, *net.UDPAddr) { return front, r.client })
	t.Cleanup(func() {
		front.Close()
		back.Close()
		r.wg.Wait()
	})
	return r
}

func (r *udpRelay) port() int { return r.front.LocalAddr().(*net.UDPAddr).Port }

// pump reads from c until it is closed and forwards where route says.
func (r *udpRelay) pump(c *net.UDPConn, route func(from *net.UDPAddr) (*net.UDPConn, *net.UDPAddr)) {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		r.mu.Lock()
		out, to := route(from)
		paused := r.paused
		r.mu.Unlock()
		if !paused && to != nil {
			_, _ = out.WriteToUDP(buf[:n], to)
		}
	}
}

func (r *udpRelay) setPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

func (s *testSide) writes(write string) int {
	n := 0
	for _, w := range s.ast.allWrites() {
		if w == write {
			n++
		}
	}
	return n
}

// Peer a falls silent without removing its publications (a cut link, a
// crash): b's OPTIONS go unanswered, and b clears a's states within the
// qualify bound, not at the publications' expiry an hour later. When a
// answers again, b asks it for its state (refresh), a's next PUBLISH gets
// 412 (b dropped the publication) and a publishes everything anew.
func TestQualifyClearsASilentPeerAndRecovers(t *testing.T) {
	a, b := newTestSide(t, "ast1"), newTestSide(t, "ast2")
	relay := newUDPRelay(t, a.port) // b reaches a only through it
	a.ast.SetDevice("PJSIP/alice", "INUSE")
	a.ast.SetMailbox("100@default", 1, 2)
	a.start(t, b, "02:00:00:00:00:01", "", "device_state = true\nmailbox_state = true")
	b.startTo(t, a.name, relay.port(), "02:00:00:00:00:02", "",
		"device_state = true\nmailbox_state = true\nqualify_frequency = \"1s\"\nqualify_attempts = 2")
	if bound := b.cfg.Peer("ast1").QualifyBound(); bound != 3*time.Second {
		t.Fatalf("qualify bound %v, want 2 × 1 s + 1 s", bound)
	}
	const alice, mwi = "Setvar DEVICE_STATE(Custom:PJSIP/alice)=INUSE", "MWIUpdate 100@default 1/2"
	b.await(t, alice)
	b.await(t, mwi)

	relay.setPaused(true)
	// Bounded by the test helpers' 10 s; the qualify bound is 3 s.
	b.await(t, "Setvar DEVICE_STATE(Custom:PJSIP/alice)=UNAVAILABLE")
	b.await(t, "MWIUpdate 100@default 0/0")

	relay.setPaused(false)
	until(t, "a's states back on b", func() bool { return b.writes(alice) >= 2 && b.writes(mwi) >= 2 })
	for _, w := range b.ast.allWrites() {
		if strings.Contains(w, "Custom:Custom:") {
			t.Errorf("b wrote an echo: %q", w)
		}
	}
}
