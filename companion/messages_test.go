package companion

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// A peer publishing from an address outside its match (admitted by the
// SIP edge because another peer's match holds it) is warned about once,
// naming the setting, not once per PUBLISH.
func TestReceiverAddressRefusalOnceNamingMatch(t *testing.T) {
	g := newReceiverRig(t)
	var logs bytes.Buffer
	g.r.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	in := pub("deaf", "asterisk-devicestate", "", 60, devAlice)
	in.Source = netip.MustParseAddrPort("127.0.0.9:5060")
	for range 13 {
		if a := g.do(in); a.Status != 403 {
			t.Fatalf("answer %+v, want 403", a)
		}
	}
	out := logs.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "[peer.accept] match") ||
		!strings.Contains(out, "source=127.0.0.9") {
		t.Errorf("logged:\n%s\nwant one WARN naming [peer.accept] match and the source", out)
	}
	if n := g.r.Refusals()[RefusedAddress]; n != 13 {
		t.Errorf("%d refusals counted, want 13", n)
	}
}
