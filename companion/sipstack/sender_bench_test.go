package sipstack

import (
	"context"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

// okHandler answers every PUBLISH 200 and keeps nothing.
type okHandler struct{}

func (okHandler) HandlePublish(_ context.Context, in companion.InboundPublish) companion.Answer {
	return companion.Answer{Status: 200, ETag: "1", Expires: max(in.Expires, 0)}
}

// One PUBLISH and its answer over loopback UDP, one in flight: the cost
// per request of the sending side (and of the receiving stack).
func BenchmarkSenderPublish(b *testing.B) {
	server := newStack(b, Options{}, "udp")
	client := newStack(b, Options{}, "udp")
	serve(b, server, okHandler{})
	snd := client.Sender(publishConfig(b, "sip:ast1@"+addr(b, server, "udp").String()), companion.EventDeviceState)
	req := companion.PublishRequest{Event: companion.EventDeviceState, Expires: 60, Body: []byte(devBody)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := snd.Publish(ctx, req)
		if err != nil || res.Status != 200 {
			b.Fatalf("%+v %v", res, err)
		}
		req.IfMatch = res.ETag
	}
}

// Deciding how one PUBLISH leaves over UDP: done for every request.
func BenchmarkHopToUDP(b *testing.B) {
	st := newStack(b, Options{}, "udp")
	u := mustURI(b, "sip:ast1@127.0.0.1:5999")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.hopTo(ctx, u, "udp"); err != nil {
			b.Fatal(err)
		}
	}
}
