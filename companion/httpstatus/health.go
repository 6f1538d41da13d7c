package httpstatus

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Problems lists what makes the node unhealthy, one line each: the AMI
// link down (when [ami] is configured) and SIP listeners not bound.
// None: healthy.
func (s *Source) Problems() []string {
	var out []string
	if s.AMI != nil {
		if a := s.AMI(); !a.Connected {
			line := "ami: not connected (" + a.State
			if a.Reason != "" {
				line += ": " + a.Reason
			}
			out = append(out, line+")")
		}
	}
	for _, l := range s.listeners() {
		if !l.Up {
			out = append(out, fmt.Sprintf("sip listener %s: not bound", l.Listener))
		}
	}
	return out
}

// NotReady lists why the node is not ready yet: the Problems, and, with
// [ami], no snapshot of the local state taken yet (until then nothing
// local is published).
func (s *Source) NotReady() []string {
	out := s.Problems()
	if s.AMI != nil && s.local().Snapshots[companion.KindDevice] == 0 {
		out = append(out, "ami: no snapshot of the local device states yet")
	}
	return out
}

// Degraded lists what is wrong without making the node unhealthy or
// unready: the fleet link down (with [fleet]). While NATS is away the SIP
// peers carry on and the fleet's states stay as they were; the link
// reconnects by itself, so a supervisor restarting the node, or a load
// balancer taking it out, would not help.
func (s *Source) Degraded() []string {
	f, ok := s.fleet()
	if !ok || f.Connected {
		return nil
	}
	reason := f.LastError
	if reason == "" {
		reason = "not in sync yet"
	}
	return []string{"fleet link down: " + reason}
}

func (s *Source) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	report(w, s.Problems(), s.Degraded(), "ok")
}

func (s *Source) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	report(w, s.NotReady(), s.Degraded(), "ready")
}

// report writes 200 and fine, or 503 and the problems, one a line; then
// each degradation on a line of its own, "degraded: ...", which does not
// change the status code. The lines hold states and reasons the adapters
// wrote, which may quote Asterisk or the network: control characters are
// escaped.
func report(w http.ResponseWriter, problems, degraded []string, fine string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) == 0 {
		w.WriteHeader(http.StatusOK)
		fmt.Fprintln(w, fine)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, Printable(p))
		}
	}
	for _, d := range degraded {
		fmt.Fprintln(w, "degraded: "+Printable(d))
	}
}

// Printable returns s unchanged when every rune prints, else s quoted
// with Go escapes (without the quotes): names and reasons that came from
// a peer or from Asterisk must not drive a terminal.
func Printable(s string) string {
	for _, r := range s {
		if !isPrint(r) {
			q := fmt.Sprintf("%+q", s)
			return strings.TrimSuffix(strings.TrimPrefix(q, `"`), `"`)
		}
	}
	return s
}
