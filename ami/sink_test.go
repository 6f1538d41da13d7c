package ami

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

func TestApplyDeviceSetvar(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript")
	c := startClient(t, srv, newRecorder(), clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)
	if err := c.ApplyDevice(context.Background(), "Custom:foo", companion.InUse); err != nil {
		t.Fatalf("ApplyDevice = %v", err)
	}
	a := sess.AwaitAction(t, "Setvar")
	if a.Get("Variable") != "DEVICE_STATE(Custom:foo)" || a.Get("Value") != "INUSE" {
		t.Errorf("Setvar sent %v", a)
	}
}

// A refused Setvar (01: "Variable not set" for a non-Custom device) is
// reported with Asterisk's words and as permanent.
func TestApplyDeviceRefused(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript")
	c := startClient(t, srv, newRecorder(), clientOptions{})
	srv.Session(t, 1)
	awaitConnected(t, c.Client)
	err := c.ApplyDevice(context.Background(), "PJSIP/static100", companion.InUse)
	var ae *ActionError
	if !errors.As(err, &ae) || ae.Message != "Variable not set" || !errors.Is(err, companion.ErrUnsupported) {
		t.Fatalf("ApplyDevice = %v, want a permanent refusal", err)
	}
	if !strings.Contains(err.Error(), "Custom:") {
		t.Errorf("error does not say what Asterisk accepts: %v", err)
	}
}

// A user without write permission (05e) cannot apply anything; that is
// permanent too and says what to change.
func TestApplyPermissionDenied(t *testing.T) {
	t.Parallel()
	srv := serve(t, "05e_permission_denied_readonly_user.transcript")
	c := startClient(t, srv, newRecorder(), clientOptions{})
	srv.Session(t, 1)
	awaitConnected(t, c.Client)
	mb, _ := companion.ParseMailboxID("100@default")
	for _, err := range []error{
		c.ApplyDevice(context.Background(), "Custom:foo", companion.InUse),
		c.ApplyMailbox(context.Background(), mb, 1, 2),
	} {
		if !errors.Is(err, companion.ErrUnsupported) || !strings.Contains(err.Error(), "Permission denied") ||
			!strings.Contains(err.Error(), "manager.conf") {
			t.Errorf("err = %v", err)
		}
	}
}

func TestApplyMailboxMWIUpdate(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript", "03_inst1_mwi.transcript")
	c := startClient(t, srv, newRecorder(), clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)
	mb, _ := companion.ParseMailboxID("100@default")
	if err := c.ApplyMailbox(context.Background(), mb, 1, 2); err != nil {
		t.Fatalf("ApplyMailbox = %v", err)
	}
	a := sess.AwaitAction(t, "MWIUpdate")
	if a.Get("Mailbox") != "100@default" || a.Get("OldMessages") != "1" || a.Get("NewMessages") != "2" {
		t.Errorf("MWIUpdate sent %v", a)
	}
}

// Beside app_voicemail there is no MWIUpdate: a permanent error naming
// the module, why it is missing and the alternatives.
func TestApplyMailboxWithoutResMWIExternal(t *testing.T) {
	t.Parallel()
	srv := serve(t, "handmade_app_voicemail.transcript", "01_inst1_local_devstate.transcript")
	c := startClient(t, srv, newRecorder(), clientOptions{})
	srv.Session(t, 1)
	awaitConnected(t, c.Client)
	mb, _ := companion.ParseMailboxID("100@default")
	err := c.ApplyMailbox(context.Background(), mb, 1, 2)
	if !errors.Is(err, companion.ErrUnsupported) {
		t.Fatalf("ApplyMailbox = %v, want ErrUnsupported", err)
	}
	for _, s := range []string{"res_mwi_external", "app_voicemail", `mailbox_state = "none"`, `"ari"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

// amigo reports an unanswered action as a map with a nil error; the
// client turns it into a transient ErrTimeout.
func TestApplyTimeout(t *testing.T) {
	t.Parallel()
	srv := amitest.Start(t, amitest.Config{
		Transcripts: []*amitest.Transcript{transcript(t, "01_inst1_local_devstate.transcript")},
		Answer:      func(_ *amitest.Session, a amitest.Message) bool { return a.Action() == "Setvar" }, // swallowed
	})
	c := startClient(t, srv, newRecorder(), clientOptions{actionTimeout: 200 * time.Millisecond})
	srv.Session(t, 1)
	awaitConnected(t, c.Client)
	err := c.ApplyDevice(context.Background(), "Custom:foo", companion.InUse)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, companion.ErrUnsupported) {
		t.Fatalf("ApplyDevice = %v, want a transient ErrTimeout", err)
	}
}

// amigo runs one action at a time, behind a lock that knows no context. A
// caller waiting behind a slow action leaves when its ctx ends, and what
// it gave up is never sent.
func TestApplyWaitingForSlotHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := amitest.Start(t, amitest.Config{
		Transcripts: []*amitest.Transcript{transcript(t, "01_inst1_local_devstate.transcript")},
		Answer: func(s *amitest.Session, a amitest.Message) bool {
			if a.Action() != "Setvar" || a.Get("Variable") != "DEVICE_STATE(Custom:slow)" {
				return false
			}
			go func() { // hold the answer, keep reading
				<-release
				_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Variable Set\r\n\r\n")
			}()
			return true
		},
	})
	c := startClient(t, srv, newRecorder(), clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)

	slow := make(chan error, 1)
	go func() { slow <- c.ApplyDevice(context.Background(), "Custom:slow", companion.InUse) }()
	sess.Await(t, "the slow Setvar", func(a amitest.Message) bool { return a.Get("Variable") == "DEVICE_STATE(Custom:slow)" })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.ApplyDevice(ctx, "Custom:given-up", companion.InUse); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second ApplyDevice = %v, want its context's error", err)
	}
	close(release)
	if err := <-slow; err != nil {
		t.Fatalf("slow ApplyDevice = %v", err)
	}
	if err := c.ApplyDevice(context.Background(), "Custom:foo", companion.InUse); err != nil {
		t.Fatalf("third ApplyDevice = %v", err)
	}
	for _, a := range sess.Actions() {
		if strings.Contains(a.Get("Variable"), "given-up") {
			t.Errorf("the abandoned action was sent: %v", a)
		}
	}
}
