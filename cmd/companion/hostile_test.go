package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
)

// A whole companion beside a simulated Asterisk takes hostile PUBLISHes
// over UDP and TCP: each gets the expected answer, nothing is applied,
// and the Asterisk's manager interface receives no action for them.

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rawPublish sends one PUBLISH as bytes and returns the final status.
func rawPublish(t *testing.T, transport string, port int, event, body string) int {
	t.Helper()
	conn, err := net.DialTimeout(transport, fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	branch := "z9hG4bK" + strconv.FormatInt(time.Now().UnixNano(), 36)
	req := fmt.Sprintf("PUBLISH sip:evil@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/%s %s;rport;branch=%s\r\n"+
		"From: <sip:evil@127.0.0.1>;tag=1\r\n"+
		"To: <sip:evil@127.0.0.1>\r\n"+
		"Call-ID: %s@127.0.0.1\r\n"+
		"CSeq: 1 PUBLISH\r\n"+
		"Max-Forwards: 70\r\n"+
		"Event: %s\r\n"+
		"Expires: 60\r\n"+
		"Content-Type: application/json\r\n"+
		"Content-Length: %d\r\n\r\n%s",
		port, strings.ToUpper(transport), local, branch, branch, event, len(body), body)
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	for {
		var tp *textproto.Reader
		if transport == "udp" {
			buf := make([]byte, 65535)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no answer over udp: %v", err)
			}
			tp = textproto.NewReader(bufio.NewReader(strings.NewReader(string(buf[:n]))))
		} else {
			tp = textproto.NewReader(r)
		}
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatalf("no answer over %s: %v", transport, err)
		}
		h, err := tp.ReadMIMEHeader()
		if err != nil {
			t.Fatalf("answer headers: %v", err)
		}
		if n, _ := strconv.Atoi(h.Get("Content-Length")); n > 0 && transport != "udp" {
			_, _ = io.CopyN(io.Discard, r, int64(n))
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("status line %q", line)
		}
		status, _ := strconv.Atoi(f[1])
		if status >= 200 {
			return status
		}
	}
}

func TestHostilePublishesReachNoAMI(t *testing.T) {
	ast, err := startSimAsterisk("victim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ast.close)
	udpPort, err := freeUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	tcpPort := freeTCPPort(t)
	src := fmt.Sprintf(`
[companion]
name = "victim"
eid = "02:00:00:00:00:01"
http_listen = ""
sip_listen = ["udp://127.0.0.1:%d", "tcp://127.0.0.1:%d"]

[ami]
address = %q
username = "companion"
secret = "demo"
reconnect_interval = "1h"

[[peer]]
name = "evil"
  [peer.accept]
  match = ["127.0.0.1/32"]
  device_state = true
  mailbox_state = true
`, udpPort, tcpPort, ast.addr())
	cfg, err := config.Parse("victim.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := newNode(ctx, cfg, slog.New(slog.NewTextHandler(testLogWriter{t, "victim"}, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.run(ctx, "", nil) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the companion did not stop")
		}
	})

	const ds, mwi, eid = "asterisk-devicestate", "asterisk-mwi", "02:00:00:00:00:66"
	dev := func(name string) string {
		return `{"type":"devicestate","device":"` + name + `","state":"INUSE","cachable":1,"eid":"` + eid + `"}`
	}
	box := func(id string) string {
		return `{"type":"mailboxstate","uniqueid":"` + id + `","old":0,"new":1,"eid":"` + eid + `"}`
	}
	long := strings.Repeat("x", 300)
	rows := []struct {
		name   string
		event  string
		body   string
		status int
	}{
		{"CRLF in device, JSON escapes", ds, dev(`PJSIP/inj\r\n\r\nAction: Originate\r\nChannel: Local/666@default\r\nApplication: Hangup`), 500},
		{"LF in device, JSON escape", ds, dev(`PJSIP/inj\nAction: Originate`), 500},
		{"CR in device", ds, dev(`PJSIP/inj\r`), 500},
		{"bare CR LF bytes in device", ds, dev("PJSIP/inj\r\n\r\nAction: Originate"), 500},
		{"NUL in device", ds, dev(`PJSIP/inj\u0000`), 500},
		{"ESC in device", ds, dev(`PJSIP/\u001b[2J`), 500},
		{"DEL in device", ds, dev("PJSIP/a\x7f"), 500},
		{"over-long device", ds, dev("PJSIP/" + long), 500},
		{"CRLF in uniqueid", mwi, box(`1000@default\r\n\r\nAction: Originate`), 500},
		{"LF in uniqueid", mwi, box(`1000\n@default`), 500},
		{"TAB in uniqueid", mwi, box(`1000\t@default`), 500},
		{"over-long uniqueid", mwi, box(long + "@default"), 500},
		{"CRLF in eid, answered 200 and dropped", ds, `{"type":"devicestate","device":"PJSIP/a","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:66\r\nAction: Originate"}`, 200},
		{"over-long eid, answered 200 and dropped", ds, `{"type":"devicestate","device":"PJSIP/a","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:66` + strings.Repeat(":66", 200) + `"}`, 200},
	}
	for _, transport := range []string{"udp", "tcp"} {
		port := map[string]int{"udp": udpPort, "tcp": tcpPort}[transport]
		for _, row := range rows {
			t.Run(transport+"/"+row.name, func(t *testing.T) {
				if got := rawPublish(t, transport, port, row.event, row.body); got != row.status {
					t.Errorf("answered %d, want %d", got, row.status)
				}
			})
		}
		// A good state through the same door after them: once it is
		// written, every hostile one before it was dealt with.
		sentinel := "PJSIP/sentinel-" + transport
		if got := rawPublish(t, transport, port, ds, dev(sentinel)); got != 200 {
			t.Fatalf("sentinel over %s answered %d", transport, got)
		}
		if err := ast.awaitWrite("Setvar DEVICE_STATE(Custom:"+sentinel+")=INUSE", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range ast.allWrites() {
		if !strings.Contains(w, "sentinel") {
			t.Errorf("the Asterisk's manager received %q", w)
		}
	}
	for _, e := range n.x.RemoteTable.Entries(mustParseEID(t, eid)) {
		if !strings.Contains(e.State.Key.Name, "sentinel") {
			t.Errorf("applied from a hostile body: %v", e.State)
		}
	}
}

func mustParseEID(t *testing.T, s string) companion.EntityID {
	t.Helper()
	e, err := companion.ParseEntityID(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
