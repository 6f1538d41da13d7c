package sipstack

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// recordedOptionsAnswers returns the responses a stock Asterisk gave to
// OPTIONS (fixtures/sip/31_options_liveness.txt), by status line.
func recordedOptionsAnswers(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("../../fixtures/sip/31_options_liveness.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, part := range strings.Split(string(raw), "<<< received\n")[1:] {
		res, _, _ := strings.Cut(part, "\r\n\r\n") // exact bytes, CRLF
		status, _, _ := strings.Cut(res, "\r\n")
		out[status] = res
	}
	return out
}

// answerAsRecorded sends the recorded response res to req: the recording's
// status line and headers, with req's Via, From, To, Call-ID and CSeq.
func (p *udpPeer) answerAsRecorded(req *sip.Request, from netip.AddrPort, res string) {
	p.t.Helper()
	var lines []string
	for _, l := range strings.Split(res, "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		switch name {
		case "Via", "From", "Call-ID", "CSeq":
			l = name + ": " + header(req, name)
		case "To":
			l = "To: " + header(req, "To") + ";tag=z9hG4bKrecorded"
		}
		lines = append(lines, l)
	}
	p.send(from, strings.Join(lines, "\r\n")+"\r\n\r\n")
}

// The probe is the request of the recording's case 2 (no user part, From
// the publication's from_uri), and every final answer a stock Asterisk
// gives counts: 200, 404, 401 (not answered with credentials). No answer
// is an error.
func TestProberOptionsAsRecorded(t *testing.T) {
	answers := recordedOptionsAnswers(t)
	st := newStack(t, Options{UserAgent: "companion-test"}, "udp")
	local := addr(t, st, "udp")
	peer := newUDPPeer(t)
	port := peer.addr().Port()
	pc := publishConfig(t, fmt.Sprintf("sip:nodeA@127.0.0.1:%d", port))
	pc.Username, pc.Password = "nodeA", companion.NewSecret("pw", "inline") // never used by a probe
	pr := st.Prober(pc)

	type result struct {
		status int
		err    error
	}
	probe := func(ctx context.Context) <-chan result {
		c := make(chan result, 1)
		go func() {
			s, err := pr.Probe(ctx)
			c <- result{s, err}
		}()
		return c
	}
	lastCallID := ""
	for _, status := range []string{"SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK", "SIP/2.0 404 Not Found"} {
		res, ok := answers[status]
		if !ok {
			t.Fatalf("no %q in the recording", status)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		done := probe(ctx)
		req, raw, from := peer.request()
		if from != local {
			t.Errorf("sent from %s, want the UDP listener %s", from, local)
		}
		if got, want := strings.SplitN(raw, "\r\n", 2)[0], fmt.Sprintf("OPTIONS sip:127.0.0.1:%d SIP/2.0", port); got != want {
			t.Errorf("request line %q, want %q", got, want)
		}
		if got, want := strings.Join(headerNames(req), " "), "Via Max-Forwards From To Call-ID CSeq Accept User-Agent Content-Length"; got != want {
			t.Errorf("headers\n got %s\nwant %s", got, want)
		}
		if !regexp.MustCompile(`^<sip:nodeA@127\.0\.0\.1>;tag=\S+$`).MatchString(header(req, "From")) {
			t.Errorf("From %q, want the publication's from_uri with a tag", header(req, "From"))
		}
		if got, want := header(req, "To"), fmt.Sprintf("<sip:127.0.0.1:%d>", port); got != want {
			t.Errorf("To %q, want %q", got, want)
		}
		if req.CSeq().MethodName != sip.OPTIONS || header(req, "Max-Forwards") != "70" || header(req, "Accept") != "application/sdp" {
			t.Errorf("CSeq %q, Max-Forwards %q, Accept %q", header(req, "CSeq"), header(req, "Max-Forwards"), header(req, "Accept"))
		}
		if header(req, "Authorization") != "" || req.CallID().Value() == lastCallID {
			t.Errorf("probe after a 401 answered the challenge or reused its Call-ID")
		}
		lastCallID = req.CallID().Value()
		peer.answerAsRecorded(req, from, res)
		r := <-done
		cancel()
		if want := status[8:11]; r.err != nil || fmt.Sprint(r.status) != want {
			t.Errorf("probe answered %q: %d, %v; want %s and no error (the peer is alive)", status, r.status, r.err, want)
		}
	}

	// No answer: an error, once ctx (or the stack's timeout) ends it.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := probe(ctx)
	peer.request() // read and ignored
	if r := <-done; r.err == nil {
		t.Errorf("unanswered probe: status %d and no error, want an error (a miss)", r.status)
	}
}

// A probe to a closed port is a miss, and a closed stack probes nothing.
func TestProberNoPeer(t *testing.T) {
	st := newStack(t, Options{}, "udp")
	gone := newUDPPeer(t)
	port := gone.addr().Port()
	_ = gone.c.Close()
	pr := st.Prober(publishConfig(t, fmt.Sprintf("sip:nodeA@127.0.0.1:%d", port)))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if s, err := pr.Probe(ctx); err == nil {
		t.Errorf("probe to a closed port: %d and no error", s)
	}
	_ = st.Close()
	if _, err := pr.Probe(context.Background()); err != ErrClosed {
		t.Errorf("probe on a closed stack: %v, want ErrClosed", err)
	}
}
