package companion

import "net/netip"

// AdmitsSource reports whether a request from a may come from some peer
// this node takes PUBLISHes from, so that the SIP edge can refuse
// everyone else before any parsing or transaction. A peer whose
// [peer.accept] has no match list authenticates by digest alone: any
// address may be it, and every source is admitted. Otherwise a must fall
// in some peer's match. With no [peer.accept] at all nothing is admitted.
func (c *Config) AdmitsSource(a netip.Addr) bool {
	for i := range c.Peers {
		if acc := c.Peers[i].Accept; acc != nil && acc.Allows(a) {
			return true
		}
	}
	return false
}
