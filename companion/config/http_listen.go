package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// httpListen reads [companion] http_listen: host:port of the status
// listener, DefaultHTTPListen when absent, "" to turn it off. What it
// serves tells about the whole exchange, so an address other than
// loopback is warned about.
func (s *section) httpListen(n *companion.NodeConfig) {
	n.HTTPListen = companion.DefaultHTTPListen
	v, ok := s.str("http_listen")
	if !ok {
		return
	}
	n.HTTPListen = v
	if v == "" {
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		s.errorf("http_listen", "%q: want host:port such as %q ([::1]:9090 for IPv6), or \"\" to turn the listener off", v, companion.DefaultHTTPListen)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		s.errorf("http_listen", "%q: the port must be a number from 0 to 65535", v)
		return
	}
	if !loopbackHost(host) {
		s.warnf("http_listen", "%q is not a loopback address: /status lists every state and peer, and /metrics and /status carry no authentication; "+
			"keep it on 127.0.0.1 or [::1] and put a proxy with access control in front if it must be reached from elsewhere", v)
	}
}

// loopbackHost reports whether host names this machine only: a loopback
// address or "localhost". An empty host listens on every address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
