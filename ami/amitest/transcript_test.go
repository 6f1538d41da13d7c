package amitest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../fixtures/ami"

func load(t *testing.T, name string) *Transcript {
	t.Helper()
	tr, err := Load(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Every recorded transcript must give back, byte for byte, the stream the
// recorder kept as *.server.raw: the parser loses and invents nothing.
func TestTranscriptServerBytesMatchRaw(t *testing.T) {
	raws, _ := filepath.Glob(filepath.Join(fixtures, "*.server.raw"))
	if len(raws) == 0 {
		t.Fatal("no *.server.raw in " + fixtures)
	}
	for _, raw := range raws {
		want, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(raw), ".server.raw") + ".transcript"
		if got := load(t, name).ServerBytes(); !bytes.Equal(got, want) {
			t.Errorf("%s: server bytes differ from %s (%d vs %d bytes)", name, filepath.Base(raw), len(got), len(want))
		}
	}
}

// Hand-written transcripts must parse too (their byte counts are exact).
func TestHandWrittenTranscriptsParse(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(fixtures, "handmade_*.transcript"))
	if len(names) == 0 {
		t.Fatal("no hand-written transcripts")
	}
	for _, n := range names {
		tr := load(t, filepath.Base(n))
		if _, ok := tr.LoginAnswer(); !ok {
			t.Errorf("%s: no accepted login", tr.Name)
		}
		data, _ := os.ReadFile(n)
		if !bytes.HasPrefix(data, []byte("# HAND-WRITTEN")) {
			t.Errorf("%s: header comment must say it is hand-written", tr.Name)
		}
	}
}

func TestTranscriptExchangesAndUnsolicited(t *testing.T) {
	tr := load(t, "01_inst1_local_devstate.transcript")
	var setvar *Exchange
	for _, ex := range tr.Exchanges() {
		if ex.Action.Get("ActionID") == "setvar-3" {
			setvar = &ex
			break
		}
	}
	if setvar == nil {
		t.Fatal("setvar-3 not found")
	}
	// The answer is the response and the event the Setvar caused.
	if len(setvar.Answer) != 2 || !bytes.HasPrefix(setvar.Answer[0], []byte("Response: Success")) ||
		ParseMessage(setvar.Answer[1]).Get("Device") != "Custom:foo" {
		t.Errorf("setvar-3 answer = %q", setvar.Answer)
	}
	un := tr.Unsolicited()
	var devs []string
	for _, b := range un {
		for _, m := range SplitMessages(b) {
			if m.Get("Event") == "DeviceStateChange" {
				devs = append(devs, m.Get("State"))
			}
		}
	}
	want := "INUSE NOT_INUSE BUSY RINGING RINGINUSE ONHOLD NOT_INUSE INUSE NOT_INUSE"
	if got := strings.Join(devs, " "); got != want {
		t.Errorf("unsolicited states = %s, want %s", got, want)
	}
	for _, b := range un {
		if bytes.HasPrefix(b, []byte(bannerPrefix)) || bytes.Contains(b, []byte("Response:")) {
			t.Errorf("banner or response among unsolicited blocks: %q", b)
		}
	}
}

// A recording where the client logged in before reading the banner holds
// both in one packet; the login answer must come without the banner.
func TestLoginAnswerStripsBanner(t *testing.T) {
	ans, ok := load(t, "14_inst1_early_connect_after_start.transcript").LoginAnswer()
	if !ok || !bytes.HasPrefix(ans[0], []byte("Response: Success\r\n")) {
		t.Fatalf("login answer = %q, %v", ans, ok)
	}
}

// The built-in answers are what Asterisk sent in the recordings.
func TestBuiltinAnswersAreRecorded(t *testing.T) {
	recorded := func(file, actionID string) []byte {
		t.Helper()
		for _, ex := range load(t, file).Exchanges() {
			if ex.Action.Get("ActionID") == actionID {
				return bytes.Join(ex.Answer, nil)
			}
		}
		t.Fatalf("%s: no action %s", file, actionID)
		return nil
	}
	a := func(id string) Message { return Message{{"ActionID", id}} }
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"login failed", answer(loginFailed, a("login-1")), recorded("05a_wrong_password.transcript", "login-1")},
		{"before login", answer(beforeLogin, a("ping-1")), recorded("05c_action_before_login.transcript", "ping-1")},
		{"pong", answer(pong, a("ping-3")), recorded("05d_bad_action_and_misc.transcript", "ping-3")},
		{"goodbye", answer(goodbye, a("logoff-14")), recorded("01_inst1_local_devstate.transcript", "logoff-14")},
		{"unknown action", UnknownAction("nosuchaction-2", "NoSuchAction"),
			// The security event after it goes only to users reading "security".
			firstMessage(recorded("05d_bad_action_and_misc.transcript", "nosuchaction-2"))},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, c.got, c.want)
		}
	}
}

func firstMessage(b []byte) []byte {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	return b[:i+4]
}

func TestRewriteActionIDAcrossPackets(t *testing.T) {
	// 01 splits the first list item after its Event line; 12 (not kept)
	// even splits before ActionID. Boundaries must survive the rewrite.
	in := [][]byte{
		[]byte("Event: DeviceStateChange\r\n"),
		[]byte("ActionID: dsl-2\r\n"),
		[]byte("Device: Custom:a\r\nState: INUSE\r\n\r\nEvent: DeviceStateChange\r\nActionID: ds"),
		[]byte("l-2\r\nDevice: Custom:b\r\n\r\n"),
	}
	got := rewriteActionID(in, "dsl-2", "companion-17", true)
	want := "Event: DeviceStateChange\r\nActionID: companion-17\r\nDevice: Custom:a\r\nState: INUSE\r\n\r\n" +
		"Event: DeviceStateChange\r\nActionID: companion-17\r\nDevice: Custom:b\r\n\r\n"
	if s := string(bytes.Join(got, nil)); s != want {
		t.Fatalf("rewritten = %q", s)
	}
	if len(got) != 4 || string(got[0]) != "Event: DeviceStateChange\r\n" || string(got[1]) != "ActionID: companion-17\r\n" {
		t.Errorf("boundaries = %q", got)
	}
	dropped := bytes.Join(rewriteActionID(in[:3], "dsl-2", "", false), nil)
	if bytes.Contains(dropped, []byte("ActionID: dsl-2\r\n")) || !bytes.HasPrefix(dropped, []byte("Event: DeviceStateChange\r\nDevice: Custom:a")) {
		t.Errorf("without an ActionID the header must go: %q", dropped)
	}
}
