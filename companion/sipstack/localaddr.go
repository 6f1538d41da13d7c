package sipstack

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// localAddrTTL is how long a learned source address is trusted: a route
// or an interface address that changes is picked up within it.
const localAddrTTL = 30 * time.Second

// maxLocalAddrs bounds the destinations remembered; past it the cache
// starts over (a node has a handful of peers, not hundreds).
const maxLocalAddrs = 256

// localAddrs remembers, per UDP destination, the address the system sends
// from: asking the system opens and closes a socket, which cost a quarter
// of a dump's CPU when done for every PUBLISH. The zero value is ready.
type localAddrs struct {
	mu sync.Mutex
	m  map[netip.AddrPort]learnedAddr
}

type learnedAddr struct {
	addr netip.Addr
	at   time.Time
}

// get returns the address the system sends to dst from, learned within
// localAddrTTL or asked now.
func (c *localAddrs) get(dst netip.AddrPort) (netip.Addr, error) {
	now := time.Now()
	c.mu.Lock()
	l, ok := c.m[dst]
	c.mu.Unlock()
	if ok && now.Sub(l.at) < localAddrTTL && now.Sub(l.at) >= 0 {
		return l.addr, nil
	}
	a, err := localAddrFor(dst)
	if err != nil {
		c.forget(dst)
		return a, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxLocalAddrs {
		c.m = make(map[netip.AddrPort]learnedAddr)
	}
	c.m[dst] = learnedAddr{addr: a, at: now}
	c.mu.Unlock()
	return a, nil
}

// forget drops what was learned for dst: a request to it failed, perhaps
// because the route changed.
func (c *localAddrs) forget(dst netip.AddrPort) {
	c.mu.Lock()
	delete(c.m, dst)
	c.mu.Unlock()
}

// localAddrFor returns the address the system sends to dst from. A
// connected UDP socket learns it without sending anything.
func localAddrFor(dst netip.AddrPort) (netip.Addr, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
