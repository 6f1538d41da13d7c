package migrate

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// identifyMatch converts one entry of an identify section's match list
// into the CIDR form of [peer.accept] match. Asterisk takes an address, a
// network written as addr/bits or addr/netmask, an optional source port
// (1.2.3.4:5061, [2001:db8::1]:5061) and host names, which it resolves; the
// companion takes addresses and networks only. note explains what was
// changed; err what could not be carried.
func identifyMatch(entry string) (prefix, note string, err error) {
	addrPart, mask, hasMask := strings.Cut(entry, "/")
	if strings.HasPrefix(addrPart, "!") {
		return "", "", fmt.Errorf("%q: a negated match is not supported: the companion only allows", entry)
	}
	host, port := addrPart, ""
	switch {
	case strings.HasPrefix(addrPart, "["):
		end := strings.IndexByte(addrPart, ']')
		if end < 0 {
			return "", "", fmt.Errorf("%q: missing ']'", entry)
		}
		host, port = addrPart[1:end], strings.TrimPrefix(addrPart[end+1:], ":")
	case strings.Count(addrPart, ":") == 1:
		host, port, _ = strings.Cut(addrPart, ":")
	}
	addr, perr := netip.ParseAddr(host)
	if perr != nil || addr.Zone() != "" {
		return "", "", fmt.Errorf("%q: host names are not resolved by the companion: write the peer's address", entry)
	}
	addr = addr.Unmap()
	bits := addr.BitLen()
	if hasMask {
		if n, e := strconv.Atoi(mask); e == nil {
			if n < 0 || n > addr.BitLen() {
				return "", "", fmt.Errorf("%q: prefix length out of range", entry)
			}
			bits = n
		} else {
			m, e := netip.ParseAddr(mask)
			if e != nil || m.BitLen() != addr.BitLen() {
				return "", "", fmt.Errorf("%q: bad netmask", entry)
			}
			ones, size := net.IPMask(m.AsSlice()).Size()
			if size == 0 {
				return "", "", fmt.Errorf("%q: netmask is not contiguous", entry)
			}
			bits = ones
		}
	}
	p := netip.PrefixFrom(addr, bits).Masked()
	if port != "" {
		note = fmt.Sprintf("not carried over: source port %s of match %s: the companion matches addresses only", port, entry)
	}
	return p.String(), note, nil
}
