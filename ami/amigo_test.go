package ami

import (
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ivahaev/amigo"

	"github.com/astcompanion/sidecar/ami/amitest"
)

// These tests pin down the weak spots of amigo v0.1.10 that the client
// works around (DESIGN.md §8), with amigo alone against recorded answers.
// Should an amigo upgrade fix one, its test fails and the workaround can
// be reconsidered.

// rawAmigo connects a bare amigo to srv, without keepalive (its keepalive
// would trip amigo's own data race when the test's connection ends).
func rawAmigo(t *testing.T, srv *amitest.Server, actionTimeout time.Duration) *amigo.Amigo {
	t.Helper()
	host, port, _ := net.SplitHostPort(srv.Addr())
	a := amigo.New(&amigo.Settings{
		Username: srv.Username(), Password: srv.Secret(), Host: host, Port: port,
		ActionTimeout: actionTimeout, ReconnectInterval: noReconnect,
	})
	return a
}

// eventLog collects what amigo's default handler receives.
type eventLog struct {
	mu   sync.Mutex
	maps []map[string]string
}

func (l *eventLog) handle(m map[string]string) {
	l.mu.Lock()
	l.maps = append(l.maps, m)
	l.mu.Unlock()
}

func (l *eventLog) has(match func(map[string]string) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.maps, match)
}

func deviceIs(name, state string) func(map[string]string) bool {
	return func(m map[string]string) bool { return m["Device"] == name && m["State"] == state }
}

// Repeated keys collapse into the last one: of the twelve "Output:" lines
// of a Command answer (05g) one survives. The client uses no Command.
func TestAmigoCollapsesRepeatedKeys(t *testing.T) {
	t.Parallel()
	srv := serve(t, "05g_command_action.transcript")
	a := rawAmigo(t, srv, wait)
	a.Connect()
	eventually(t, "amigo connected", a.Connected)
	m, err := a.Action(map[string]string{"Action": "Command", "Command": "devstate list"})
	if err != nil || m["Response"] != "Success" {
		t.Fatalf("Command = %v, %v", m, err)
	}
	for k, v := range m {
		if strings.Contains(v, "Custom:alice") {
			t.Fatalf("amigo kept the device list (%s: %q): repeated keys survive now", k, v)
		}
	}
	if m["Output"] != "" { // the recording's last Output line is empty
		t.Errorf("Output = %q", m["Output"])
	}
}

// An action without answer comes back as {"Error": "Timeout"} and a nil
// error, not as an error.
func TestAmigoTimeoutIsAMapWithNilError(t *testing.T) {
	t.Parallel()
	srv := amitest.Start(t, amitest.Config{
		Answer: func(_ *amitest.Session, a amitest.Message) bool { return a.Action() == "Setvar" },
	})
	a := rawAmigo(t, srv, 100*time.Millisecond)
	a.Connect()
	eventually(t, "amigo connected", a.Connected)
	m, err := a.Action(map[string]string{"Action": "Setvar", "Variable": "DEVICE_STATE(Custom:x)", "Value": "INUSE"})
	if err != nil || m["Error"] != "Timeout" || m["Response"] != "" {
		t.Errorf("Action = %v, %v; want {Error: Timeout}, nil", m, err)
	}
}

// Bytes that arrive with the login response are lost: amigo reads the
// login through a buffered reader it throws away. The DeviceStateChange in
// that packet never reaches a handler, the next one does.
func TestAmigoLosesEventsInLoginPacket(t *testing.T) {
	t.Parallel()
	tr := transcript(t, "handmade_event_in_login_packet.transcript")
	srv := amitest.Start(t, amitest.Config{Transcripts: []*amitest.Transcript{tr}})
	a := rawAmigo(t, srv, wait)
	var log eventLog
	if err := a.RegisterDefaultHandler(log.handle); err != nil {
		t.Fatal(err)
	}
	a.Connect()
	sess := srv.Session(t, 1)
	eventually(t, "amigo connected", a.Connected)
	if err := sess.Send(tr.Unsolicited()...); err != nil { // Custom:alice NOT_INUSE
		t.Fatal(err)
	}
	eventually(t, "the event after login", func() bool { return log.has(deviceIs("Custom:alice", "NOT_INUSE")) })
	if log.has(deviceIs("Custom:bob", "BUSY")) {
		t.Error("the event in the login packet arrived: amigo no longer loses it")
	}
}

// Handlers see events only: a response (no Event header) goes to Action
// alone, so a list's response cannot mark its place among the events.
func TestAmigoHandlersNeverSeeResponses(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript")
	a := rawAmigo(t, srv, wait)
	var log eventLog
	if err := a.RegisterDefaultHandler(log.handle); err != nil {
		t.Fatal(err)
	}
	a.Connect()
	eventually(t, "amigo connected", a.Connected)
	m, err := a.Action(map[string]string{"Action": "DeviceStateList", "ActionID": "list-1"})
	if err != nil || m["EventList"] != "start" {
		t.Fatalf("DeviceStateList = %v, %v", m, err)
	}
	eventually(t, "the list's Complete event", func() bool {
		return log.has(func(m map[string]string) bool { return m["Event"] == "DeviceStateListComplete" })
	})
	if log.has(func(m map[string]string) bool { return m["Response"] != "" }) {
		t.Error("a response reached the handler")
	}
}

// One action at a time: while the first waits for its answer, a second
// one does not reach the wire. (Checked over a bounded hold: the first is
// answered once the second arrives, or after 200 ms.)
func TestAmigoRunsOneActionAtATime(t *testing.T) {
	t.Parallel()
	second := make(chan struct{})
	var secondOnce sync.Once
	heldWhenSecondArrived := make(chan bool, 1)
	srv := amitest.Start(t, amitest.Config{
		Answer: func(s *amitest.Session, a amitest.Message) bool {
			switch a.Get("Variable") {
			case "DEVICE_STATE(Custom:first)":
				go func() {
					select {
					case <-second:
						heldWhenSecondArrived <- true
					case <-time.After(200 * time.Millisecond):
						heldWhenSecondArrived <- false
					}
					_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Variable Set\r\n\r\n")
				}()
				return true
			case "DEVICE_STATE(Custom:second)":
				secondOnce.Do(func() { close(second) })
				_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Variable Set\r\n\r\n")
				return true
			}
			return false
		},
	})
	a := rawAmigo(t, srv, wait)
	a.Connect()
	sess := srv.Session(t, 1)
	eventually(t, "amigo connected", a.Connected)

	results := make(chan map[string]string, 2)
	setvar := func(dev string) {
		m, _ := a.Action(map[string]string{"Action": "Setvar", "Variable": "DEVICE_STATE(" + dev + ")", "Value": "INUSE"})
		results <- m
	}
	go setvar("Custom:first")
	sess.Await(t, "the first Setvar", func(m amitest.Message) bool { return m.Get("Variable") == "DEVICE_STATE(Custom:first)" })
	go setvar("Custom:second")
	for range 2 {
		if m := <-results; m["Response"] != "Success" {
			t.Errorf("Setvar = %v", m)
		}
	}
	if <-heldWhenSecondArrived {
		t.Error("the second action reached the wire while the first was in flight")
	}
}
