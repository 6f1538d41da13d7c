package sipstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// hop is where one request goes and what its Via says.
type hop struct {
	transport string         // "UDP", "TCP" or "TLS"
	dest      string         // host:port; an IP for UDP
	laddr     sip.Addr       // UDP listener to send from; zero: a socket of sipgo's
	viaHost   string         // "": sipgo writes the connection's local address
	viaPort   int            // 0: sipgo writes the connection's local port
	udpDst    netip.AddrPort // UDP: the resolved destination
}

// uriTransport is the transport a URI asks for: its transport parameter,
// TLS for sips:, UDP otherwise (RFC 3263 without NAPTR).
func uriTransport(u companion.SIPURI) (string, error) {
	tp := ""
	for _, p := range strings.Split(u.Params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "transport") {
			tp = strings.ToLower(strings.TrimSpace(v))
		}
	}
	if tp == "" {
		tp = "udp"
		if u.Scheme == "sips" {
			tp = "tls"
		}
	}
	switch tp {
	case "udp", "tcp", "tls":
	default:
		return "", fmt.Errorf("transport %q of %s is not supported (udp, tcp or tls)", tp, u)
	}
	if u.Scheme == "sips" {
		if tp == "udp" {
			return "", fmt.Errorf("%s: a sips: URI needs transport tcp or tls", u)
		}
		tp = "tls"
	}
	return tp, nil
}

// hopTo decides how a request to u over tp leaves. Over UDP it leaves from
// a UDP listener that can reach the peer, as Asterisk's requests leave
// from its transport, with the address the system routes from in Via
// (never 0.0.0.0). Over TCP and TLS sipgo dials and fills the Via host
// from the connection; the port is our listener's, where the peer could
// connect back.
func (s *Stack) hopTo(ctx context.Context, u companion.SIPURI, tp string) (hop, error) {
	h := hop{transport: strings.ToUpper(tp)}
	if tp != "udp" {
		port := u.Port
		if port == 0 {
			port = sip.DefaultPort(tp)
		}
		h.dest = net.JoinHostPort(u.Host, strconv.Itoa(port))
		for _, ln := range s.lns {
			if ln.addr.Transport == tp {
				h.viaPort = ln.addr.Port
				break
			}
		}
		return h, nil
	}
	dst, err := resolveUDP(ctx, u.Host, u.Port)
	if err != nil {
		return h, err
	}
	h.dest, h.udpDst = dst.String(), dst
	local, err := s.localAddrs.get(dst)
	if err != nil {
		return h, err
	}
	h.viaHost = local.String()
	for _, ln := range s.lns {
		la := ln.local.Addr().Unmap()
		if ln.addr.Transport != "udp" || la.Is4() != dst.Addr().Is4() {
			continue
		}
		if la.IsUnspecified() || la == local {
			// sipgo finds the listener's socket by its address string.
			host, port, err := sip.ParseAddr(ln.udpKey)
			if err != nil {
				continue
			}
			h.laddr = sip.Addr{IP: net.ParseIP(host), Port: port, Hostname: host}
			h.viaPort = port
			break
		}
	}
	return h, nil
}

// resolveUDP resolves host as sipgo does for TCP and TLS: an address as
// is, else A/AAAA (IPv4 first), else SRV _sip._udp when no port is given.
func resolveUDP(ctx context.Context, host string, port int) (netip.AddrPort, error) {
	withPort := func(a netip.Addr, p int) netip.AddrPort {
		if p == 0 {
			p = sip.DefaultPort("udp")
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(p))
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return withPort(a, port), nil
	}
	if a, err := lookupIP(ctx, host); err == nil {
		return withPort(a, port), nil
	} else if port != 0 {
		return netip.AddrPort{}, err
	}
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "sip", "udp", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(srvs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %s", host)
	}
	a, err := lookupIP(ctx, strings.TrimSuffix(srvs[0].Target, "."))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return withPort(a, int(srvs[0].Port)), nil
}

func lookupIP(ctx context.Context, host string) (netip.Addr, error) {
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range ips {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, errors.New("no address for " + host)
	}
	return ips[0], nil
}
