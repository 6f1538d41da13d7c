package sipstack

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// FuzzInbound feeds what sipgo's parser accepts to the edge's reading of
// a PUBLISH, its credential check and its answer: none may panic, since
// sipgo runs them on goroutines without recovery.
func FuzzInbound(f *testing.F) {
	// Seeds: the PUBLISHes a stock Asterisk sent, as recorded.
	if raw, err := os.ReadFile("../../fixtures/sip/02_exact_publish_examples.txt"); err == nil {
		for _, part := range strings.Split(string(raw), "#### ") {
			if i := strings.Index(part, "PUBLISH sip:"); i >= 0 {
				f.Add([]byte(part[i:]))
			}
		}
	}
	f.Add([]byte(publish("sip:ast%31@127.0.0.1", "127.0.0.1:5060", "UDP", []string{
		"Event: asterisk-devicestate;x=1", "SIP-If-Match: 7", "Expires: 60", "Content-Type: application/json",
		`Authorization: Digest username="ast1", realm="r", nonce="00", uri="sip:a@b", qop=auth, nc=00000001, cnonce="c", response="00"`,
		"Require: foo",
	}, devBody)))
	n, err := newNonces(time.Now)
	if err != nil {
		f.Fatal(err)
	}
	st := &Stack{realm: "r", nonces: n}
	secret := companion.NewSecret("s3cret", "test")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sip.ParseMessage(data)
		req, ok := m.(*sip.Request)
		if err != nil || !ok {
			return
		}
		req.SetSource("127.0.0.1:5060")
		req.SetTransport("UDP")
		in, status, _ := st.inbound(req)
		if status == 0 && in.Auth != nil {
			in.Auth.Verify("ast1", secret)
		}
		_ = requires(req)
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		_ = res.String()
	})
}
