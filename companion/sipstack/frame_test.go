package sipstack

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// feedAll feeds chunks in order and returns the messages completed and
// whether one is in progress at the end.
func feedAll(chunks ...string) (int, bool) {
	var f framer
	total := 0
	for _, c := range chunks {
		n, _ := f.feed([]byte(c))
		total += n
	}
	return total, f.inMessage()
}

// bytewise splits s into one-byte chunks.
func bytewise(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

func TestFramer(t *testing.T) {
	pub := publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate"}, devBody)
	empty := publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, "")
	head := "PUBLISH sip:r@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\n"
	cases := []struct {
		name   string
		chunks []string
		done   int
		open   bool // a message is in progress at the end
	}{
		{"nothing", nil, 0, false},
		{"keep-alives only", []string{"\r\n\r\n", "\r\n", "\n\r"}, 0, false},
		{"one message", []string{pub}, 1, false},
		{"one message, byte by byte", bytewise(pub), 1, false},
		{"no body", []string{empty}, 1, false},
		{"two in one read", []string{pub + empty}, 2, false},
		{"keep-alives around", []string{"\r\n\r\n" + pub + "\r\n", "\r\n" + empty + "\r\n\r\n"}, 2, false},
		{"split at the empty line", []string{strings.TrimSuffix(empty, "\r\n"), "\r\n"}, 1, false},
		{"split in the final CRLF", []string{strings.TrimSuffix(empty, "\n"), "\n"}, 1, false},
		{"headers not ended", []string{strings.TrimSuffix(empty, "\r\n")}, 0, true},
		{"start line only", []string{"PUBLISH sip:r@h SIP/2.0"}, 0, true},
		{"body short by one", []string{pub[:len(pub)-1]}, 0, true},
		{"body then the next message's first byte", []string{pub + "P"}, 1, true},
		{"compact l", []string{head + "l: 3\r\n\r\nabc"}, 1, false},
		{"upper-case compact L", []string{head + "L:3\r\n\r\nabc"}, 1, false},
		{"lower-case name, padded value", []string{head + "content-length :   3   \r\n\r\nabc"}, 1, false},
		{"tab before the value", []string{head + "Content-Length:\t3\r\n\r\nabc"}, 1, false},
		{"folded value", []string{head + "Content-Length:\r\n 3\r\n\r\nabc"}, 1, false},
		{"last Content-Length counts", []string{head + "Content-Length: 9\r\nl: 2\r\n\r\nab"}, 1, false},
		{"body holding an empty line", []string{head + "Content-Length: 6\r\n\r\n\r\n\r\n\r\n" + empty}, 2, false},
		{"body split across reads", []string{head + "Content-Length: 6\r\n\r\nab", "cd", "ef" + empty}, 2, false},
		{"other headers ending in length", []string{head + "X-Content-Length: 5\r\nContent-Lengthy: 5\r\nl-: 5\r\nContent-Length: 0\r\n\r\n"}, 1, false},
		{"Content-Length in the start line", []string{"Content-Length: 5 sip:r@h SIP/2.0\r\nContent-Length: 0\r\n\r\n"}, 1, false},
		{"big body pending", []string{head + "Content-Length: 4294967295\r\n\r\n" + strings.Repeat("x", 1000)}, 0, true},

		// What sipgo refuses never completes: the message timeout or sipgo
		// ends the connection.
		{"no Content-Length", []string{head + "\r\n", empty}, 0, true},
		{"empty Content-Length", []string{head + "Content-Length: \r\n\r\n", empty}, 0, true},
		{"Content-Length not a number", []string{head + "Content-Length: 1x\r\n\r\nab", empty}, 0, true},
		{"negative Content-Length", []string{head + "Content-Length: -1\r\n\r\n", empty}, 0, true},
		{"two numbers", []string{head + "Content-Length: 1 2\r\n\r\nab", empty}, 0, true},
		{"past 32 bits", []string{head + "Content-Length: 4294967296\r\n\r\n", empty}, 0, true},
		{"huge", []string{head + "Content-Length: " + strings.Repeat("9", 100) + "\r\n\r\n", empty}, 0, true},
		{"bare CR in a line", []string{"PUBLISH sip:r@h\rSIP/2.0\r\nContent-Length: 0\r\n\r\n", empty}, 0, true},
		{"one after a good one", []string{empty + head + "\r\n", empty}, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			done, open := feedAll(c.chunks...)
			if done != c.done || open != c.open {
				t.Errorf("completed %d, in a message %v; want %d, %v", done, open, c.done, c.open)
			}
			// The split of reads makes no difference.
			all := strings.Join(c.chunks, "")
			if d, o := feedAll(bytewise(all)...); d != done || o != open {
				t.Errorf("byte by byte: completed %d, in a message %v; in reads: %d, %v", d, o, done, open)
			}
		})
	}
}

// feed reports a start only for the message still in progress.
func TestFramerStarted(t *testing.T) {
	empty := publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", nil, "")
	var f framer
	if n, started := f.feed([]byte("\r\n\r\n")); n != 0 || started {
		t.Errorf("keep-alive: %d, %v", n, started)
	}
	if n, started := f.feed([]byte(empty + empty[:5])); n != 1 || !started {
		t.Errorf("one and a start: %d, %v", n, started)
	}
	if n, started := f.feed([]byte(empty[5:10])); n != 0 || started {
		t.Errorf("more of it: %d, %v", n, started)
	}
	if n, started := f.feed([]byte(empty[10:])); n != 1 || started {
		t.Errorf("its end: %d, %v", n, started)
	}
}

// FuzzFramer feeds arbitrary streams, cut into reads at arbitrary
// places, to the framer: it must not panic, must not depend on where
// reads end, and must count the messages sipgo's stream parser reads from
// the same bytes.
func FuzzFramer(f *testing.F) {
	head := "PUBLISH sip:r@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\n"
	f.Add([]byte(publish("sip:r@127.0.0.1", "127.0.0.1:1", "TCP", []string{"Event: asterisk-devicestate"}, devBody)), uint8(7))
	f.Add([]byte("\r\n\r\n"+head+"l: 3\r\n\r\nabc"+head+"Content-Length :  0 \r\n\r\n"), uint8(1))
	f.Add([]byte(head+"Content-Length:\r\n 2\r\n\r\nab"), uint8(3))
	f.Add([]byte(head+"Content-Length: 1 2\r\n\r\n"), uint8(0))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 PUBLISH\r\nContent-Length: 0\r\n\r\n"), uint8(2))
	parser := sip.NewParser()
	parser.MaxMessageLength = maxMessageSize
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole, wholeOpen := feedAll(string(data))
		var g framer
		cut := int(step%16) + 1
		split := 0
		for i := 0; i < len(data); i += cut {
			n, _ := g.feed(data[i:min(i+cut, len(data))])
			split += n
		}
		if split != whole || g.inMessage() != wholeOpen {
			t.Fatalf("reads of %d: %d messages, open %v; one read: %d, open %v", cut, split, g.inMessage(), whole, wholeOpen)
		}

		// sipgo, fed the same stream: the messages it reads before any
		// error are those the framer completes, and where it waits for
		// more bytes the framer is in a message too.
		stream := parser.NewSIPStream()
		defer stream.Close()
		parsed := 0
		err := stream.ParseSIPStream(data, func(sip.Message) { parsed++ })
		switch {
		case err == nil:
			if parsed != whole || wholeOpen {
				t.Fatalf("sipgo read %d messages and nothing is left; the framer completed %d, open %v", parsed, whole, wholeOpen)
			}
		case err == sip.ErrParseSipPartial:
			if parsed != whole || !wholeOpen && stream.Buffer().Len() > 0 && !onlyCRLF(stream.Buffer().Bytes()) {
				t.Fatalf("sipgo read %d messages and waits for more; the framer completed %d, open %v", parsed, whole, wholeOpen)
			}
		default:
			if whole < parsed {
				t.Fatalf("sipgo read %d messages before %v; the framer completed %d", parsed, err, whole)
			}
		}
	})
}

func onlyCRLF(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
