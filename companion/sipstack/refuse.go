package sipstack

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Rates of the stateless 403s answered to sources Admit refuses: a
// refused peer learns why, and a flood (whose source addresses may be
// forged) cannot turn the stack into a reflector. Past the rates refused
// datagrams are dropped silently.
const (
	forbidPerSecond  = 5   // per source address
	forbidBurst      = 10  //
	forbidAllPerSec  = 100 // all sources together
	forbidAllBurst   = 200 //
	forbidMaxSources = 4096
)

// msgNotAdmitted is the refusal of a source no peer's [peer.accept]
// match holds (nor a peer accepted by digest alone), naming the fix.
const msgNotAdmitted = "SIP request from an address that no peer's [peer.accept] match allows; " +
	"if it is a peer, add its address to that peer's match"

// admitConn is a UDP listener's socket as sipgo reads it: datagrams from
// sources Options.Admit refuses never reach sipgo (no parsing, no
// transaction); requests among them get a stateless 403. Temporary read
// errors are waited out, where sipgo's loop would end.
type admitPacketConn struct {
	*net.UDPConn
	st *Stack
	b  *listener
}

func (c admitPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.b.once.Do(func() { close(c.b.reading) })
	var delay time.Duration
	for {
		n, from, err := c.UDPConn.ReadFrom(p)
		if err != nil {
			if !temporary(err) {
				return n, from, err
			}
			c.st.count.readErrors.Add(1)
			c.st.refusals.Warn(c.b.addr.String(), "read error", "reading a SIP datagram failed; retrying", "error", err.Error())
			delay = nextDelay(delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-c.st.done:
				t.Stop()
				return 0, nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		ua, ok := from.(*net.UDPAddr)
		if !ok || c.st.admit == nil {
			return n, from, nil
		}
		src := ua.AddrPort()
		if c.st.admit(src.Addr().Unmap()) {
			return n, from, nil
		}
		c.st.refuseDatagram(c.UDPConn, p[:n], src)
	}
}

// refuseDatagram answers a datagram from a source not admitted: a
// stateless 403 for a request within the rates, nothing otherwise.
func (s *Stack) refuseDatagram(conn *net.UDPConn, data []byte, src netip.AddrPort) {
	s.count.datagramsRefused.Add(1)
	ip := src.Addr().Unmap()
	s.refusals.Warn(ip.String(), "source not admitted", msgNotAdmitted+"; datagram refused")
	res := forbidden(data)
	// Never answer more bytes than were sent: no amplification.
	if res == nil || len(res) > len(data) || !s.forbidRate.allow(ip, time.Now()) {
		s.count.dropped.Add(1)
		return
	}
	if _, err := conn.WriteToUDPAddrPort(res, src); err != nil {
		s.count.dropped.Add(1)
		return
	}
	s.count.forbiddenSent.Add(1)
}

// forbidden builds a 403 Forbidden for the request in data straight from
// its bytes (Via, From, To, Call-ID and CSeq copied, a tag added to To),
// as RFC 3261 8.2.6 wants it, without parsing it into a message or
// keeping a transaction. It returns nil for a response, an ACK (never
// answered) or a request it cannot answer.
func forbidden(data []byte) []byte {
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i]
	}
	lines := strings.Split(string(head), "\r\n")
	method, ok := requestMethod(lines[0])
	if !ok || method == "ACK" {
		return nil
	}
	type field struct{ name, value string }
	var fields []field
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			// A folded line continues the header above.
			if len(fields) > 0 {
				fields[len(fields)-1].value += " " + strings.TrimSpace(l)
			}
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name := ""
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "via", "v":
			name = "Via"
		case "from", "f":
			name = "From"
		case "to", "t":
			name = "To"
		case "call-id", "i":
			name = "Call-ID"
		case "cseq":
			name = "CSeq"
		default:
			// A field we do not copy; a folded line below it is skipped too.
			fields = append(fields, field{})
			continue
		}
		fields = append(fields, field{name, strings.TrimSpace(v)})
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 403 Forbidden\r\n")
	seen := map[string]int{}
	for _, f := range fields {
		if f.name == "" {
			continue
		}
		if strings.ContainsAny(f.value, "\r\n\x00") || f.value == "" {
			return nil
		}
		seen[f.name]++
		if f.name != "Via" && seen[f.name] > 1 {
			return nil
		}
		v := f.value
		if f.name == "To" && !hasTag(v) {
			v += ";tag=" + newTag()
		}
		b.WriteString(f.name + ": " + v + "\r\n")
	}
	for _, n := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if seen[n] == 0 {
			return nil
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(b.String())
}

// requestMethod reads a request line: Method SP Request-URI SP SIP/2.0.
func requestMethod(line string) (string, bool) {
	parts := strings.Split(line, " ")
	if len(parts) != 3 || parts[1] == "" || !strings.EqualFold(parts[2], "SIP/2.0") {
		return "", false
	}
	m := parts[0]
	if m == "" {
		return "", false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-.!%*_+`'~", c) >= 0) {
			return "", false
		}
	}
	return m, true
}

// hasTag reports whether a To value carries a tag parameter: one after
// the name-addr's '>', or after the first ';' of a bare addr-spec.
func hasTag(v string) bool {
	params := v
	if i := strings.LastIndexByte(v, '>'); i >= 0 {
		params = v[i+1:]
	} else if i := strings.IndexByte(v, ';'); i >= 0 {
		params = v[i:]
	} else {
		return false
	}
	for _, p := range strings.Split(params, ";") {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "tag") {
			return true
		}
	}
	return false
}

func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// rateLimiter is a token bucket per source address, in a bounded map
// (past its bound a random entry makes room), under one bucket for all.
type rateLimiter struct {
	rate, burst       float64
	allRate, allBurst float64
	maxSources        int

	mu  sync.Mutex
	all bucket
	by  map[netip.Addr]bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{
		rate: forbidPerSecond, burst: forbidBurst,
		allRate: forbidAllPerSec, allBurst: forbidAllBurst,
		maxSources: forbidMaxSources,
		all:        bucket{tokens: forbidAllBurst},
		by:         make(map[netip.Addr]bucket),
	}
}

// refill adds the tokens earned since b.last, up to burst.
func (b *bucket) refill(now time.Time, rate, burst float64) {
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(burst, b.tokens+d.Seconds()*rate)
		}
	}
	b.last = now
}

// allow takes a token from a's bucket and the shared one, if both have
// one.
func (r *rateLimiter) allow(a netip.Addr, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.by[a]
	if !ok {
		if len(r.by) >= r.maxSources {
			for k := range r.by {
				delete(r.by, k)
				break
			}
		}
		b = bucket{tokens: r.burst, last: now}
	}
	b.refill(now, r.rate, r.burst)
	r.all.refill(now, r.allRate, r.allBurst)
	allowed := b.tokens >= 1 && r.all.tokens >= 1
	if allowed {
		b.tokens--
		r.all.tokens--
	}
	r.by[a] = b
	return allowed
}
