package ami

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// unsafeBytes are the bytes the rule refuses in a value, one per case.
var unsafeBytes = []string{"\r\n", "\n", "\r", "\x00", "\x01", "\x1b", "\x1f", "\x7f"}

// The choke point by itself: which names and values pass, and which
// header the error names.
func TestCheckAction(t *testing.T) {
	ok := map[string]string{
		"Action":   "Setvar",
		"ActionID": "companion-1",
		"Variable": `DEVICE_STATE(Custom:ünï/cødé:x@y,z|a;b=c#d*e%f"g'h[i]{j} k	tab)`,
		"Value":    "INUSE",
		"Empty":    "",
	}
	if err := checkAction(ok); err != nil {
		t.Fatalf("checkAction(%q) = %v", ok, err)
	}
	for _, c := range []struct {
		name   string
		fields map[string]string
		header string
		inName bool
		offset int
	}{
		{"CRLF in a value", map[string]string{"Action": "Setvar", "Variable": "DEVICE_STATE(Custom:a\r\n\r\nAction: Originate)"}, "Variable", false, 21},
		{"LF", map[string]string{"Action": "Setvar", "Value": "IN\nUSE"}, "Value", false, 2},
		{"CR", map[string]string{"Action": "Setvar", "Value": "\rINUSE"}, "Value", false, 0},
		{"NUL", map[string]string{"Action": "MWIUpdate", "Mailbox": "100\x00@default"}, "Mailbox", false, 3},
		{"SOH", map[string]string{"Action": "MWIUpdate", "Mailbox": "100\x01"}, "Mailbox", false, 3},
		{"ESC", map[string]string{"Action": "MWIUpdate", "Mailbox": "\x1b[2J"}, "Mailbox", false, 0},
		{"DEL", map[string]string{"Action": "MWIUpdate", "Mailbox": "1\x7f"}, "Mailbox", false, 1},
		{"ActionID", map[string]string{"Action": "DeviceStateList", "ActionID": "x\r\n\r\nAction: Originate"}, "ActionID", false, 1},
		{"Action itself", map[string]string{"Action": "Logoff\r\n"}, "Action", false, 6},
		{"CRLF in a name", map[string]string{"Action": "Setvar", "X\r\nAction: Originate": "1"}, "X\r\nAction: Originate", true, 1},
		{"colon in a name", map[string]string{"Action": "Setvar", "Variable: x": "1"}, "Variable: x", true, 8},
		{"space in a name", map[string]string{"Action": "Setvar", "A B": "1"}, "A B", true, 1},
		{"empty name", map[string]string{"Action": "Setvar", "": "1"}, "", true, 0},
		{"UTF-8 in a name", map[string]string{"Action": "Setvar", "Väriable": "1"}, "Väriable", true, 1},
	} {
		err := checkAction(c.fields)
		var ue *UnsafeHeaderError
		if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafeHeader) {
			t.Errorf("%s: checkAction = %v, want an *UnsafeHeaderError", c.name, err)
			continue
		}
		if ue.Header != c.header || ue.InName != c.inName || ue.Offset != c.offset {
			t.Errorf("%s: header %q inName %v offset %d, want %q %v %d", c.name, ue.Header, ue.InName, ue.Offset, c.header, c.inName, c.offset)
		}
		if errors.Is(err, companion.ErrUnsupported) {
			t.Errorf("%s: wraps ErrUnsupported, which would stop Apply for the whole kind", c.name)
		}
		assertQuoted(t, c.name, err)
	}
}

// assertQuoted checks that err's text holds no control byte: values are
// quoted, never echoed raw.
func assertQuoted(t *testing.T, what string, err error) {
	t.Helper()
	msg := err.Error()
	if i := badHeaderValue(msg); i >= 0 {
		t.Errorf("%s: the error echoes byte 0x%02x raw: %q", what, msg[i], msg)
	}
}

// okAnswers answers Setvar and MWIUpdate with Success, whatever they name,
// so that a test sees whether an action went through, not whether the
// transcript knows it.
func okAnswers(s *amitest.Session, a amitest.Message) bool {
	switch a.Action() {
	case "Setvar":
		_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Variable Set\r\n\r\n")
	case "MWIUpdate":
		_ = s.SendString("Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Mailbox updated\r\n\r\n")
	default:
		return false
	}
	return true
}

// Through the public API, against the fake server: a device name or
// mailbox holding a refused byte is refused before anything is written,
// and the server receives nothing of that action. The marker "inj" is in
// every refused name and in nothing sent, so its absence from the bytes
// the server read after the login shows that no part went out; the good
// writes after them are the barrier (one connection, written in order).
func TestApplyRefusesUnsafeNamesBeforeSending(t *testing.T) {
	t.Parallel()
	srv := amitest.Start(t, amitest.Config{
		Transcripts: []*amitest.Transcript{transcript(t, "01_inst1_local_devstate.transcript")},
		Answer:      okAnswers,
	})
	rec := newRecorder()
	c := startClient(t, srv, rec, clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)
	rec.awaitSnapshots(t, companion.KindDevice, 1)
	ctx := context.Background()

	for _, b := range unsafeBytes {
		name := "Custom:inj" + b + "\r\nAction: Originate\r\nChannel: Local/1@x"
		err := c.ApplyDevice(ctx, name, companion.InUse)
		var ue *UnsafeHeaderError
		if !errors.As(err, &ue) || ue.Header != "Variable" || ue.Action != "Setvar" {
			t.Errorf("ApplyDevice(%q) = %v, want an *UnsafeHeaderError on Variable", name, err)
			continue
		}
		if errors.Is(err, companion.ErrUnsupported) {
			t.Errorf("ApplyDevice(%q): wraps ErrUnsupported", name)
		}
		assertQuoted(t, "ApplyDevice", err)

		for _, id := range []companion.MailboxID{{Box: "inj" + b + "1", Context: "default"}, {Box: "100", Context: "inj" + b}} {
			err := c.ApplyMailbox(ctx, id, 1, 2)
			if !errors.As(err, &ue) || ue.Header != "Mailbox" || ue.Action != "MWIUpdate" {
				t.Errorf("ApplyMailbox(%q) = %v, want an *UnsafeHeaderError on Mailbox", id.String(), err)
				continue
			}
			assertQuoted(t, "ApplyMailbox", err)
		}
	}

	// Names the recordings show Asterisk takes go through unchanged.
	good := `Custom:ünï/cødé:x@y,z|a;b=c#d*e%f"g'h	tab`
	if err := c.ApplyDevice(ctx, good, companion.InUse); err != nil {
		t.Fatalf("ApplyDevice(%q) = %v", good, err)
	}
	goodBox := companion.MailboxID{Box: `1/0:0,"ü"`, Context: "default"}
	if err := c.ApplyMailbox(ctx, goodBox, 1, 2); err != nil {
		t.Fatalf("ApplyMailbox(%q) = %v", goodBox.String(), err)
	}
	setvar := sess.AwaitAction(t, "Setvar")
	if got := setvar.Get("Variable"); got != "DEVICE_STATE("+good+")" {
		t.Errorf("Setvar sent Variable %q", got)
	}
	if got := sess.AwaitAction(t, "MWIUpdate").Get("Mailbox"); got != goodBox.String() {
		t.Errorf("MWIUpdate sent Mailbox %q", got)
	}

	raw := sess.Received()
	if bytes.Contains(raw, []byte("inj")) || bytes.Contains(raw, []byte("Originate")) {
		t.Errorf("part of a refused action reached the server:\n%q", raw)
	}
	for _, a := range amitest.SplitMessages(raw) {
		switch a.Action() {
		case "DeviceStateList", "VoicemailUsersList", "MWIGet", "Ping", "Setvar", "MWIUpdate":
		default:
			t.Errorf("unexpected message read by the server: %q", a)
		}
	}
	if n := bytes.Count(raw, []byte("Action: Setvar")); n != 1 {
		t.Errorf("%d Setvar actions read by the server, want only the good one", n)
	}
	if n := bytes.Count(raw, []byte("Action: MWIUpdate")); n != 1 {
		t.Errorf("%d MWIUpdate actions read by the server, want only the good one", n)
	}
}

// amigo writes the Login itself: credentials that would break it are
// refused by Run before it dials; the secret is not quoted.
func TestRunRefusesUnsafeCredentials(t *testing.T) {
	t.Parallel()
	srv := serve(t, "01_inst1_local_devstate.transcript")
	for _, c := range []struct{ user, secret string }{
		{"companion\r\nAction: Originate", srv.Secret()},
		{srv.Username(), "s3cret\r\n\r\nAction: Originate"},
		{srv.Username(), "s3cret\x00"},
	} {
		cl := New(companion.AMIConfig{Address: srv.Addr(), Username: c.user, Secret: companion.NewSecret(c.secret, "test")},
			slog.New(slog.DiscardHandler), newRecorder())
		err := cl.Run(context.Background()) // returns at once: the settings are unusable
		if !errors.Is(err, ErrUnsafeHeader) {
			t.Errorf("Run(%q) = %v, want ErrUnsafeHeader", c.user, err)
			continue
		}
		assertQuoted(t, "Run", err)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	if n := srv.Logins(); n != 0 {
		t.Errorf("%d logins reached the server", n)
	}
}
