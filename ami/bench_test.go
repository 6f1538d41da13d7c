package ami

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// markerObserver counts Observe calls and signals the marker device.
type markerObserver struct {
	marker   string
	observed atomic.Int64
	once     sync.Once
	seen     chan struct{}
}

func newMarkerObserver(marker string) *markerObserver {
	return &markerObserver{marker: marker, seen: make(chan struct{})}
}

func (o *markerObserver) Observe(s companion.State) {
	o.observed.Add(1)
	if s.Key.Name == o.marker {
		o.once.Do(func() { close(o.seen) })
	}
}
func (o *markerObserver) Snapshot(companion.Kind, []companion.State) {}

// BenchmarkDispatch measures the client's own share per event: amigo's
// map in, parsed, queued, handed to the Observer (100 devices through the
// nine states and 100 mailboxes, as amigo delivers them).
func BenchmarkDispatch(b *testing.B) {
	var events []map[string]string
	for k := range 100 {
		for _, s := range allStates {
			events = append(events, map[string]string{
				"Event": "DeviceStateChange", "Privilege": "call,all", "Device": fmt.Sprintf("PJSIP/%04d", k),
				"State": s.String(), "#": "1", "TimeReceived": "2026-11-26T12:43:59.443Z",
			})
		}
		events = append(events, map[string]string{
			"Event": "MessageWaiting", "Privilege": "call,all", "Mailbox": fmt.Sprintf("%d@default", 1000+k),
			"Waiting": "1", "New": fmt.Sprint(k % 7), "Old": "1", "#": "1", "TimeReceived": "2026-11-26T12:43:59.443Z",
		})
	}
	c := New(companion.AMIConfig{}, nil, nil)
	c.running = true // as Run sets it; amigo itself is not needed to call the handler
	obs := newMarkerObserver("")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.queue.run(ctx, obs); close(done) }()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		c.onMessage(events[n%len(events)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	cancel()
	<-done
}

// BenchmarkEventsOverAMI measures the whole path per event: bytes on a
// loopback socket, amigo's parsing and dispatch (which allocate a map and
// its strings per event, and format a receive time), the client's
// handler, the queue and the Observer. One op is one DeviceStateChange.
func BenchmarkEventsOverAMI(b *testing.B) {
	srv := serve(b, "01_inst1_local_devstate.transcript")
	obs := newMarkerObserver("Custom:zz-end")
	c := startClient(b, srv, obs, clientOptions{})
	sess := srv.Session(b, 1)
	awaitConnected(b, c.Client)

	const keys = 100
	chunks := make([][]byte, 0, b.N/keys+2)
	var sb strings.Builder
	for i := range b.N {
		fmt.Fprintf(&sb, "Event: DeviceStateChange\r\nPrivilege: call,all\r\nSystemName: ast1\r\nDevice: PJSIP/%04d\r\nState: %s\r\n\r\n",
			i%keys, allStates[(i/keys)%len(allStates)])
		if (i+1)%keys == 0 {
			chunks = append(chunks, []byte(sb.String()))
			sb.Reset()
		}
	}
	sb.WriteString("Event: DeviceStateChange\r\nDevice: Custom:zz-end\r\nState: BUSY\r\n\r\n")
	chunks = append(chunks, []byte(sb.String()))

	b.ReportAllocs()
	b.ResetTimer()
	if err := sess.Send(chunks...); err != nil {
		b.Fatal(err)
	}
	select {
	case <-obs.seen:
	case <-time.After(time.Minute):
		b.Fatalf("%d events not through within a minute", b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(obs.observed.Load())/float64(b.N), "observed/event")
}

// setvarAnswerer answers every Setvar at once with Asterisk's recorded
// success, so that a benchmark measures the client and the socket rather
// than the fake server's transcript search.
func setvarAnswerer(s *amitest.Session, a amitest.Message) bool {
	if a.Action() != "Setvar" {
		return false
	}
	_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Variable Set\r\n\r\n")
	return true
}

// BenchmarkApplyOverAMI measures applied states per second through the
// client: ApplyDevice from several callers at once (as companion.Apply
// issues them), Setvar over a loopback socket to the fake server, its
// answer matched back to the caller. One op is one applied state.
func BenchmarkApplyOverAMI(b *testing.B) {
	for _, callers := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			srv := amitest.Start(b, amitest.Config{
				Transcripts: []*amitest.Transcript{transcript(b, "01_inst1_local_devstate.transcript")},
				Answer:      setvarAnswerer,
			})
			c := startClient(b, srv, newRecorder(), clientOptions{})
			srv.Session(b, 1)
			awaitConnected(b, c.Client)
			names := make([]string, 1000)
			for i := range names {
				names[i] = fmt.Sprintf("Custom:bench-%04d", i)
			}
			var next atomic.Int64
			var failed atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						err := c.ApplyDevice(context.Background(), names[i%int64(len(names))], allStates[i%int64(len(allStates))])
						if err != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d writes failed", n, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "states/s")
		})
	}
}

// BenchmarkApplyThroughAMI measures the whole apply side: a peer's
// changes in the remote table, companion.Apply, the client, Setvar over
// loopback to the fake server. Bursts of 500 devices; the next burst
// comes once the last is written (the server has answered every Setvar),
// so each op is one applied state.
func BenchmarkApplyThroughAMI(b *testing.B) {
	var answered atomic.Int64
	srv := amitest.Start(b, amitest.Config{
		Transcripts: []*amitest.Transcript{transcript(b, "01_inst1_local_devstate.transcript")},
		Answer: func(s *amitest.Session, a amitest.Message) bool {
			if setvarAnswerer(s, a) {
				answered.Add(1)
				return true
			}
			return false
		},
	})
	c := startClient(b, srv, newRecorder(), clientOptions{})
	srv.Session(b, 1)
	awaitConnected(b, c.Client)

	cfg := companion.ApplyConfig{DeviceState: companion.ApplyAMI, DeviceName: "Custom:{device}", MailboxState: companion.ApplyNone, ClearDeviceState: companion.Unavailable}
	remote := companion.NewTable()
	a := companion.NewApply(cfg, remote, c, c, companion.NewEchoes(cfg.DeviceName), func(companion.EntityID) string { return "p" }, companion.ApplyOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	const keys = 500
	peer := companion.EntityID{2, 0, 0, 0, 0, 2}
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("PJSIP/%04d", i)
	}
	states := []companion.DeviceState{companion.NotInUse, companion.InUse, companion.Busy, companion.Ringing, companion.OnHold}
	b.ReportAllocs()
	b.ResetTimer()
	for done, round := 0, 0; done < b.N; round++ {
		n := min(keys, b.N-done)
		for i := range n {
			remote.Set(peer, companion.Device(names[i], states[(round+i)%len(states)], true))
		}
		goal := int64(done + n)
		deadline := time.Now().Add(time.Minute)
		for answered.Load() < goal {
			if time.Now().After(deadline) {
				b.Fatalf("%d Setvars answered, want %d", answered.Load(), goal)
			}
			time.Sleep(50 * time.Microsecond)
		}
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "states/s")
}
