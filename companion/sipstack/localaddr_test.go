package sipstack

import (
	"net/netip"
	"testing"
	"time"
)

// The cache answers what the system answers, remembers at most
// maxLocalAddrs destinations, forgets on demand and after the TTL.
func TestLocalAddrsCache(t *testing.T) {
	var c localAddrs
	dst := netip.MustParseAddrPort("127.0.0.1:5060")
	a, err := c.get(dst)
	if err != nil || a != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("get: %v %v, want 127.0.0.1", a, err)
	}
	if _, ok := c.m[dst]; !ok {
		t.Fatal("not remembered")
	}
	// A stale entry is asked again: a wrong address planted in the past
	// must not come back.
	c.m[dst] = learnedAddr{addr: netip.MustParseAddr("192.0.2.1"), at: time.Now().Add(-2 * localAddrTTL)}
	if a, _ := c.get(dst); a != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("stale entry used: %v", a)
	}
	c.forget(dst)
	if _, ok := c.m[dst]; ok {
		t.Error("forget kept the entry")
	}
	for port := range 3 * maxLocalAddrs {
		if _, err := c.get(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(10000+port))); err != nil {
			t.Fatal(err)
		}
		if len(c.m) > maxLocalAddrs {
			t.Fatalf("%d destinations remembered, bound %d", len(c.m), maxLocalAddrs)
		}
	}
}
