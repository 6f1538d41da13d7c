package sipstack

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestForbidden(t *testing.T) {
	req := func(start string, headers ...string) string {
		return start + "\r\n" + strings.Join(headers, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	}
	via := "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1;rport"
	from := "From: <sip:a@192.0.2.1>;tag=f1"
	to := "To: <sip:a@192.0.2.2>"
	cid := "Call-ID: c1@192.0.2.1"
	cseq := "CSeq: 7 PUBLISH"
	pub := "PUBLISH sip:r@192.0.2.2 SIP/2.0"
	cases := []struct {
		name string
		in   string
		want []string // headers of the 403, in order; nil: no answer
	}{
		{"publish", req(pub, via, "Max-Forwards: 70", from, to, cid, cseq, "Event: asterisk-mwi"),
			[]string{via[5:], from[6:], to[4:] + ";tag=*", cid[9:], cseq[6:]}},
		{"two Vias kept in order", req(pub, via, "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-2", from, to, cid, cseq),
			[]string{via[5:], "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK-2", from[6:], to[4:] + ";tag=*", cid[9:], cseq[6:]}},
		{"compact forms", req(pub, "v: SIP/2.0/UDP h;branch=z9hG4bK-3", "f: <sip:a@h>;tag=x", "t: sip:b@h", "i: cc", cseq),
			[]string{"SIP/2.0/UDP h;branch=z9hG4bK-3", "<sip:a@h>;tag=x", "sip:b@h;tag=*", "cc", cseq[6:]}},
		{"a To tag is kept", req(pub, via, from, "To: <sip:a@h>;tag=abc", cid, cseq),
			[]string{via[5:], from[6:], "<sip:a@h>;tag=abc", cid[9:], cseq[6:]}},
		{"a tag inside the URI is not one", req(pub, via, from, "To: <sip:a@h;tag=u>", cid, cseq),
			[]string{via[5:], from[6:], "<sip:a@h;tag=u>;tag=*", cid[9:], cseq[6:]}},
		{"folded Via", req(pub, "Via: SIP/2.0/UDP h", " ;branch=z9hG4bK-4", "X-Long: a", " b", from, to, cid, cseq),
			[]string{"SIP/2.0/UDP h ;branch=z9hG4bK-4", from[6:], to[4:] + ";tag=*", cid[9:], cseq[6:]}},
		{"no body separator", pub + "\r\n" + strings.Join([]string{via, from, to, cid, cseq}, "\r\n"),
			[]string{via[5:], from[6:], to[4:] + ";tag=*", cid[9:], cseq[6:]}},

		{"a response", req("SIP/2.0 200 OK", via, from, to, cid, cseq), nil},
		{"an ACK", req("ACK sip:r@h SIP/2.0", via, from, to, cid, "CSeq: 7 ACK"), nil},
		{"no Via", req(pub, from, to, cid, cseq), nil},
		{"no CSeq", req(pub, via, from, to, cid), nil},
		{"two Call-IDs", req(pub, via, from, to, cid, "Call-ID: other", cseq), nil},
		{"an empty To", req(pub, via, from, "To:", cid, cseq), nil},
		{"a bare LF in a value", req(pub, via, from, "To: <sip:a@h>\nX-Injected: 1", cid, cseq), nil},
		{"a bad request line", req("PUBLISH sip:r@h", via, from, to, cid, cseq), nil},
		{"a method that is no token", req("PU<BLISH sip:r@h SIP/2.0", via, from, to, cid, cseq), nil},
		{"garbage", "\x00\x01\xff", nil},
		{"empty", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := forbidden([]byte(c.in))
			if c.want == nil {
				if out != nil {
					t.Fatalf("answered:\n%s", out)
				}
				return
			}
			if out == nil {
				t.Fatal("no answer")
			}
			m, err := sip.ParseMessage(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			res, ok := m.(*sip.Response)
			if !ok || res.StatusCode != 403 || res.Reason != "Forbidden" {
				t.Fatalf("not a 403:\n%s", out)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\r\n\r\n"), "\r\n")[1:]
			if got := lines[len(lines)-1]; got != "Content-Length: 0" {
				t.Errorf("last line %q", got)
			}
			lines = lines[:len(lines)-1]
			if len(lines) != len(c.want) {
				t.Fatalf("headers %q, want %q", lines, c.want)
			}
			for i, l := range lines {
				_, v, _ := strings.Cut(l, ": ")
				w := c.want[i]
				if prefix, ok := strings.CutSuffix(w, "*"); ok {
					if !strings.HasPrefix(v, prefix) || len(v) != len(prefix)+16 {
						t.Errorf("header %d %q, want %q and a tag", i, v, prefix)
					}
				} else if v != w {
					t.Errorf("header %d %q, want %q", i, v, w)
				}
			}
		})
	}
}

func TestRateLimiter(t *testing.T) {
	r := newRateLimiter()
	now := time.Unix(1_800_000_000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	allowed := func(who netip.Addr, n int) int {
		k := 0
		for range n {
			if r.allow(who, now) {
				k++
			}
		}
		return k
	}
	if n := allowed(a, 100); n != forbidBurst {
		t.Errorf("burst: %d", n)
	}
	if n := allowed(b, 5); n != 5 {
		t.Errorf("another source: %d", n)
	}
	now = now.Add(time.Second)
	if n := allowed(a, 100); n != forbidPerSecond {
		t.Errorf("a second later: %d", n)
	}
	// The shared bucket caps all sources together.
	total := 0
	for i := range 1000 {
		total += allowed(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1)
	}
	if total > forbidAllBurst {
		t.Errorf("%d answers from many sources", total)
	}
	// The map stays bounded.
	for i := range 2 * forbidMaxSources {
		r.allow(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
	}
	if len(r.by) > forbidMaxSources {
		t.Errorf("%d sources tracked", len(r.by))
	}
}

// FuzzForbidden: the stateless 403 built from any datagram is nil or a
// response sipgo reads as a 403 with the request's Call-ID.
func FuzzForbidden(f *testing.F) {
	f.Add([]byte(publish("sip:r@127.0.0.1", "127.0.0.1:5060", "UDP", []string{"Event: asterisk-mwi"}, devBody)))
	f.Add([]byte("OPTIONS sip:h SIP/2.0\r\nv: SIP/2.0/UDP h\r\n ;branch=z9hG4bK1\r\nf: <sip:a@h>;tag=1\r\nt: sip:b@h\r\ni: x\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := forbidden(data)
		if out == nil {
			return
		}
		m, err := sip.ParseMessage(out)
		if err != nil {
			// sipgo may refuse what it would refuse in the request too;
			// only a request it reads must give a 403 it reads.
			if _, rerr := sip.ParseMessage(data); rerr == nil {
				t.Fatalf("unreadable 403 for a readable request: %v\n%q\n%q", err, data, out)
			}
			return
		}
		res, ok := m.(*sip.Response)
		if !ok || res.StatusCode != 403 || res.CallID() == nil {
			t.Fatalf("not a 403 with a Call-ID:\n%q", out)
		}
	})
}
