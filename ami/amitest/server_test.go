package amitest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// client is a minimal AMI client for testing the server.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(Wait))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if banner, _ := c.r.ReadString('\n'); banner != Banner {
		t.Fatalf("banner = %q", banner)
	}
	return c
}

func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, strings.Join(lines, "\r\n")+"\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() Message {
	c.t.Helper()
	m, err := readMessage(c.r, nil)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func TestServerLoginAndAnswers(t *testing.T) {
	tr := load(t, "01_inst1_local_devstate.transcript")
	s := Start(t, Config{Transcripts: []*Transcript{tr}})

	bad := dial(t, s)
	bad.send("Action: Ping", "ActionID: p1")
	if m := bad.read(); m.Get("Message") != "Permission denied" || m.Get("ActionID") != "p1" {
		t.Errorf("before login: %v", m)
	}
	bad.send("Action: Login", "Username: "+s.Username(), "Secret: nope")
	if m := bad.read(); m.Get("Message") != "Authentication failed" || m.Has("ActionID") {
		t.Errorf("wrong secret: %v", m)
	}
	if _, err := bad.r.ReadByte(); err == nil {
		t.Error("connection still open after a refused login")
	}

	c := dial(t, s)
	c.send("Action: Login", "Username: "+s.Username(), "Secret: "+s.Secret())
	if m := c.read(); m.Get("Message") != "Authentication accepted" || m.Has("ActionID") {
		t.Errorf("login: %v", m)
	}
	c.read() // FullyBooted and SuccessfulAuth, as recorded
	c.read()
	sess := s.Session(t, 1)

	c.send("Action: Setvar", "ActionID: x-9", "Variable: DEVICE_STATE(Custom:foo)", "Value: INUSE", "Extra: ignored")
	if m := c.read(); m.Get("Response") != "Success" || m.Get("ActionID") != "x-9" {
		t.Errorf("Setvar answer: %v", m)
	}
	if m := c.read(); m.Get("Device") != "Custom:foo" || m.Get("State") != "INUSE" {
		t.Errorf("Setvar's event: %v", m)
	}
	c.send("Action: Nope", "ActionID: n-1")
	if m := c.read(); !strings.HasPrefix(m.Get("Message"), "Invalid/unknown command: Nope.") {
		t.Errorf("unknown action: %v", m)
	}
	c.send("Action: Logoff", "ActionID: bye")
	if m := c.read(); m.Get("Response") != "Goodbye" {
		t.Errorf("Logoff: %v", m)
	}
	sess.AwaitClosed(t)
	if n := len(sess.Actions()); n != 3 || s.Logins() != 2 {
		t.Errorf("%d actions in the session, %d logins", n, s.Logins())
	}
}

// 03 holds two answers to MWIGet of every mailbox (before and after an
// MWIDelete): they are used in turn, then the last one again.
func TestServerUsesRecordedAnswersInOrder(t *testing.T) {
	s := Start(t, Config{Transcripts: []*Transcript{load(t, "03_inst1_mwi.transcript")}})
	c := dial(t, s)
	c.send("Action: Login", "Username: "+s.Username(), "Secret: "+s.Secret())
	c.read() // the response; FullyBooted and SuccessfulAuth follow
	c.read()
	c.read()
	var got []string
	for _, id := range []string{"a", "b", "c"} {
		c.send("Action: MWIGet", "ActionID: "+id, "Mailbox: /.*/")
		var boxes []string
		for {
			m := c.read()
			if m.Get("ActionID") != id {
				t.Fatalf("answer carries %q, want %q", m.Get("ActionID"), id)
			}
			if m.Get("Event") == "MWIGet" {
				boxes = append(boxes, m.Get("Mailbox"))
			}
			if m.Get("Event") == "MWIGetComplete" {
				break
			}
		}
		got = append(got, strings.Join(boxes, ","))
	}
	if want := []string{"100@default,300", "300", "300"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("MWIGet answers = %q, want %q", got, want)
	}
}
