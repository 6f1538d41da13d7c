package companion

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Fixture files, copied from the Asterisk 22.10.1 recordings.
const (
	fixtureBodies   = "bodies-asterisk-22.10.1.txt"
	fixtureHandmade = "handmade-responses-asterisk-22.10.1.txt"
	fixtureExact    = "02_exact_publish_examples.txt"
	fixtureHandRaw  = "20_handmade_publish_to_inst2.txt"
)

func readSIPFixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "fixtures", "sip", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// codecRecordedBodies returns the bodies Asterisk itself wrote, in file order.
func codecRecordedBodies(t testing.TB) []string {
	t.Helper()
	var bodies []string
	for _, line := range strings.Split(readSIPFixture(t, fixtureBodies), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			bodies = append(bodies, line)
		}
	}
	if len(bodies) < 100 {
		t.Fatalf("%s: %d bodies, want the 102 recorded", fixtureBodies, len(bodies))
	}
	return bodies
}

type codecHandmadeCase struct {
	title  string
	status int
	ev     Event
	body   string
}

// codecHandmadeCases returns the hand-made bodies and what Asterisk answered.
func codecHandmadeCases(t testing.TB) []codecHandmadeCase {
	t.Helper()
	var cases []codecHandmadeCase
	title := ""
	for _, line := range strings.Split(readSIPFixture(t, fixtureHandmade), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			title = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			t.Fatalf("%s: bad line %q", fixtureHandmade, line)
		}
		status, err := strconv.Atoi(f[0])
		if err != nil {
			t.Fatalf("%s: bad status in %q", fixtureHandmade, line)
		}
		ev := Event(f[1])
		if ev == "-" {
			ev = ""
		}
		cases = append(cases, codecHandmadeCase{title: title, status: status, ev: ev, body: f[2]})
	}
	if len(cases) < 20 {
		t.Fatalf("%s: %d cases, want the 25 recorded", fixtureHandmade, len(cases))
	}
	return cases
}

// codecEventsFor returns the events a recorded body travels on.
func codecEventsFor(body string) []Event {
	switch {
	case strings.Contains(body, `"type":"devicestate"`):
		return []Event{EventDeviceState}
	case strings.Contains(body, `"type":"mailboxstate"`):
		return []Event{EventMWI}
	}
	return []Event{EventDeviceState, EventMWI}
}

// codecAsteriskStatus is the status a stock Asterisk answers for a decoding
// result, as documented on the codes (413 is the companion's own; no
// recorded case reaches it).
func codecAsteriskStatus(code BodyErrorCode) int {
	switch code {
	case BodyNone, BodyBadEID:
		return 200
	case BodyTooLarge:
		return 413
	case BodyBadEvent:
		return 489
	}
	return 500
}

var (
	codecEID1 = EntityID{0x02, 0, 0, 0, 0, 0x01}
	codecEID2 = EntityID{0x02, 0, 0, 0, 0, 0x02}
)

func TestDecodeMessageRecordedBodiesRoundTrip(t *testing.T) {
	names := map[string]bool{}
	for _, body := range codecRecordedBodies(t) {
		for _, ev := range codecEventsFor(body) {
			m, err := DecodeMessage(ev, []byte(body))
			if err != nil {
				t.Errorf("DecodeMessage(%s, %s): %v", ev, body, err)
				continue
			}
			if m.EID != codecEID1 && m.EID != codecEID2 {
				t.Errorf("DecodeMessage(%s): EID %s, want one of the two instances", body, m.EID)
			}
			got, err := EncodeMessage(m)
			if err != nil {
				t.Errorf("EncodeMessage(%+v): %v", m, err)
				continue
			}
			if string(got) != body {
				t.Errorf("round trip changed the bytes:\n got %s\nwant %s", got, body)
			}
			names[m.State.Key.Name] = true
		}
	}
	// The recording must keep covering the names that stress the escaping.
	for _, name := range []string{
		`Custom:a"b`, `Custom:a\b`, "Custom:äöü-漢", "Custom:a<b>", "Custom:a{b}", "Custom:a b",
		"Custom:sip:a@b:5060", "Custom:" + strings.Repeat("x", 72), "300", "100@default",
	} {
		if !names[name] {
			t.Errorf("no recorded body names %q", name)
		}
	}
}

// Every body in the exact-bytes excerpts is one of the extracted bodies:
// guards the extraction from the one-line summary.
func TestCodecFixtureBodiesMatchExactExcerpts(t *testing.T) {
	known := map[string]bool{}
	for _, b := range codecRecordedBodies(t) {
		known[b] = true
	}
	n := 0
	for _, line := range strings.Split(readSIPFixture(t, fixtureExact), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, "{") {
			n++
			if !known[line] {
				t.Errorf("%s has body %s, missing from %s", fixtureExact, line, fixtureBodies)
			}
		}
	}
	if n < 10 {
		t.Fatalf("%s: found %d bodies", fixtureExact, n)
	}
}

func TestEncodeMessageFromValues(t *testing.T) {
	tests := []struct {
		name string
		m    Message
		want string
		// recorded: want is a body Asterisk wrote (checked against the
		// fixture, so the expectation is not typed by hand).
		recorded bool
	}{
		{"devicestate", Message{MessageDeviceState, codecEID1, Device("Custom:alice", InUse, true)},
			`{"type":"devicestate","device":"Custom:alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"devicestate inst2", Message{MessageDeviceState, codecEID2, Device("PJSIP/static100", Unavailable, true)},
			`{"type":"devicestate","device":"PJSIP/static100","state":"UNAVAILABLE","cachable":1,"eid":"02:00:00:00:00:02"}`, true},
		{"quote", Message{MessageDeviceState, codecEID1, Device(`Custom:a"b`, NotInUse, true)},
			`{"type":"devicestate","device":"Custom:a\"b","state":"NOT_INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"backslash", Message{MessageDeviceState, codecEID1, Device(`Custom:a\b`, NotInUse, true)},
			`{"type":"devicestate","device":"Custom:a\\b","state":"NOT_INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"utf-8", Message{MessageDeviceState, codecEID1, Device("Custom:äöü-漢", InUse, true)},
			`{"type":"devicestate","device":"Custom:äöü-漢","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"brackets", Message{MessageDeviceState, codecEID1, Device("Custom:a<b>", InUse, true)},
			`{"type":"devicestate","device":"Custom:a<b>","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"79 characters", Message{MessageDeviceState, codecEID1, Device("Custom:"+strings.Repeat("x", 72), NotInUse, true)},
			`{"type":"devicestate","device":"Custom:` + strings.Repeat("x", 72) + `","state":"NOT_INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, true},
		{"mailbox", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{"100", "default"}, 1, 2)},
			`{"type":"mailboxstate","uniqueid":"100@default","old":1,"new":2,"eid":"02:00:00:00:00:01"}`, true},
		{"mailbox without context", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Box: "300"}, 0, 5)},
			`{"type":"mailboxstate","uniqueid":"300","old":0,"new":5,"eid":"02:00:00:00:00:01"}`, true},
		{"refresh", Message{Type: MessageRefresh, EID: codecEID2},
			`{"type":"refresh","eid":"02:00:00:00:00:02"}`, true},
		// Not recorded from Asterisk: the examples of DESIGN.md and a
		// hand-made body with cachable 0 that Asterisk accepted.
		{"not cachable", Message{MessageDeviceState, EntityID{2, 0, 0, 0, 0, 0x99}, Device("Custom:sidecar2", Busy, false)},
			`{"type":"devicestate","device":"Custom:sidecar2","state":"BUSY","cachable":0,"eid":"02:00:00:00:00:99"}`, false},
		{"design devicestate", Message{MessageDeviceState, EntityID{2, 0x42, 0xac, 0x11, 0, 2}, Device("PJSIP/alice", InUse, true)},
			`{"type":"devicestate","device":"PJSIP/alice","state":"INUSE","cachable":1,"eid":"02:42:ac:11:00:02"}`, false},
		{"design mailbox", Message{MessageMailboxState, EntityID{2, 0x42, 0xac, 0x11, 0, 2}, Mailbox(MailboxID{"1000", "default"}, 0, 2)},
			`{"type":"mailboxstate","uniqueid":"1000@default","old":0,"new":2,"eid":"02:42:ac:11:00:02"}`, false},
		{"big counts", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Box: "1"}, math.MaxInt32, 10)},
			`{"type":"mailboxstate","uniqueid":"1","old":2147483647,"new":10,"eid":"02:00:00:00:00:01"}`, false},
	}
	recorded := map[string]bool{}
	for _, b := range codecRecordedBodies(t) {
		recorded[b] = true
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.recorded && !recorded[tt.want] {
				t.Fatalf("expected body is not in %s: %s", fixtureBodies, tt.want)
			}
			got, err := EncodeMessage(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("EncodeMessage:\n got %s\nwant %s", got, tt.want)
			}
			// AppendMessage appends after what dst holds.
			got2, err := AppendMessage([]byte("prefix"), tt.m)
			if err != nil || string(got2) != "prefix"+tt.want {
				t.Errorf("AppendMessage: %q, %v", got2, err)
			}
		})
	}
}

func TestEncodeMessageEscaping(t *testing.T) {
	tests := []struct {
		name string
		in   string // appended to "Custom:"
		want string // as it must appear between the quotes
	}{
		{"SOH", "a\x01b", `a\u0001b`},
		{"US upper-case hex", "\x1f", `\u001F`},
		{"ESC upper-case hex", "\x1b", `\u001B`},
		{"short escapes", "\b\f\n\r\t", `\b\f\n\r\t`},
		{"other controls", "\x0b\x0e\x10", `\u000B\u000E\u0010`},
		{"quote", `"q"`, `\"q\"`},
		{"backslash", `a\\b\`, `a\\\\b\\`},
		{"slash verbatim", "a/b", "a/b"},
		{"html verbatim", "</>&", "</>&"},
		{"DEL verbatim", "a\x7fb", "a\x7fb"},
		{"line separators verbatim", "a\u2028b\u2029c", "a\u2028b\u2029c"},
		{"non-ASCII verbatim", "äöü-漢-😀", "äöü-漢-😀"},
		{"U+FFFD verbatim", "\uFFFD", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "Custom:" + tt.in
			m := Message{MessageDeviceState, codecEID1, Device(name, Busy, false)}
			got, err := EncodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"type":"devicestate","device":"Custom:` + tt.want + `","state":"BUSY","cachable":0,"eid":"02:00:00:00:00:01"}`
			if string(got) != want {
				t.Errorf("EncodeMessage:\n got %q\nwant %q", got, want)
			}
			// Another JSON reader sees the same name.
			var v map[string]any
			if err := json.Unmarshal(got, &v); err != nil {
				t.Fatalf("encoding/json cannot read %q: %v", got, err)
			}
			if v["device"] != name {
				t.Errorf("encoding/json reads device %q, want %q", v["device"], name)
			}
			// The decoder reads it back, unless the name holds a control
			// character: the encoder writes those as jansson does, but a
			// receiver refuses them (CheckName).
			back, err := DecodeMessage(EventDeviceState, got)
			if CheckName(name) != nil {
				if BodyErrorCodeOf(err) != BodyBadName {
					t.Errorf("DecodeMessage = %v, want bad_name", err)
				}
			} else if err != nil || back != m {
				t.Errorf("DecodeMessage = %+v, %v; want %+v", back, err, m)
			}
		})
	}
}

func TestEncodeMessageRefusesInvalid(t *testing.T) {
	dev := func(name string) State { return Device(name, InUse, true) }
	tests := []struct {
		name string
		m    Message
	}{
		{"invalid UTF-8 byte", Message{MessageDeviceState, codecEID1, dev("Custom:\xff")}},
		{"truncated UTF-8", Message{MessageDeviceState, codecEID1, dev("Custom:\xe6\xbc")}},
		{"UTF-8 surrogate", Message{MessageDeviceState, codecEID1, dev("Custom:\xed\xa0\x80")}},
		{"overlong UTF-8", Message{MessageDeviceState, codecEID1, dev("Custom:\xc0\xaf")}},
		{"invalid UTF-8 uniqueid", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{"1\xff", "x"}, 0, 0)}},
		{"NUL in name", Message{MessageDeviceState, codecEID1, dev("Custom:a\x00b")}},
		{"empty device", Message{MessageDeviceState, codecEID1, dev("")}},
		{"device state out of range", Message{MessageDeviceState, codecEID1, Device("Custom:a", OnHold+1, true)}},
		{"mailbox state on devicestate", Message{MessageDeviceState, codecEID1, Mailbox(MailboxID{Box: "1"}, 0, 0)}},
		{"device state on mailboxstate", Message{MessageMailboxState, codecEID1, dev("Custom:a")}},
		{"zero state on devicestate", Message{Type: MessageDeviceState, EID: codecEID1}},
		{"empty box", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Context: "default"}, 0, 0)}},
		{"empty uniqueid", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{}, 0, 0)}},
		{"negative old", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Box: "1"}, -1, 0)}},
		{"negative new", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Box: "1"}, 0, -5)}},
		{"count above int32", Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{Box: "1"}, 0, math.MaxInt32+1)}},
		{"refresh with a state", Message{MessageRefresh, codecEID1, dev("Custom:a")}},
		{"zero type", Message{EID: codecEID1}},
		{"unknown type", Message{Type: 9, EID: codecEID1}},
		{"too large", Message{MessageDeviceState, codecEID1, dev("Custom:" + strings.Repeat("\x01", MaxBodySize/6+1))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := EncodeMessage(tt.m); err == nil {
				t.Fatalf("EncodeMessage = %q, want an error", b)
			}
			dst := []byte("keep")
			got, err := AppendMessage(dst, tt.m)
			if err == nil || string(got) != "keep" {
				t.Errorf("AppendMessage = %q, %v; want dst unchanged and an error", got, err)
			}
			if BodyErrorCodeOf(err) != BodyNone {
				t.Errorf("encoder error %v carries a body error code", err)
			}
		})
	}
}

func TestAppendMessageDoesNotAllocate(t *testing.T) {
	msgs := []Message{
		{MessageDeviceState, codecEID1, Device(`Custom:a"b\c`+"\x01äöü", RingInUse, true)},
		{MessageMailboxState, codecEID1, Mailbox(MailboxID{"100", "default"}, 3, 70000)},
		{Type: MessageRefresh, EID: codecEID2},
	}
	buf := make([]byte, 0, 512)
	for _, m := range msgs {
		allocs := testing.AllocsPerRun(100, func() {
			var err error
			buf, err = AppendMessage(buf[:0], m)
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("AppendMessage(%s) allocates %.1f times per call with room in dst", m.Type, allocs)
		}
	}
}

// codecNest returns depth arrays nested in each other.
func codecNest(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

const codecRefresh1 = `{"type":"refresh","eid":"02:00:00:00:00:01"}`

// codecWithKey adds a member to the start of a refresh body from inst1.
func codecWithKey(member string) string {
	return `{` + member + `,"type":"refresh","eid":"02:00:00:00:00:01"}`
}

func TestDecodeMessageErrors(t *testing.T) {
	const (
		ds  = EventDeviceState
		mwi = EventMWI
	)
	tooLarge := codecRefresh1 + strings.Repeat(" ", MaxBodySize-len(codecRefresh1)+1)
	tests := []struct {
		name string
		ev   Event
		body string
		code BodyErrorCode
		// recorded: sent to Asterisk 22.10.1 by hand; the case must be in
		// the handmade fixture with this event.
		recorded bool
	}{
		{"too large", ds, tooLarge, BodyTooLarge, false},
		{"too large before bad event", "presence", tooLarge, BodyTooLarge, false},
		{"too large before bad JSON", ds, "{" + strings.Repeat("x", MaxBodySize), BodyTooLarge, false},

		{"unsupported event", "presence", `{"type":"devicestate","device":"Custom:sidecar17","state":"BUSY","cachable":1,"eid":"02:00:00:00:00:99"}`, BodyBadEvent, true},
		{"no event", "", `{"type":"devicestate","device":"Custom:sidecar18","state":"BUSY","cachable":1,"eid":"02:00:00:00:00:99"}`, BodyBadEvent, true},
		{"event is case-sensitive", "Asterisk-MWI", codecRefresh1, BodyBadEvent, false},
		{"bad event before bad JSON", "dialog", "{not json", BodyBadEvent, false},

		{"malformed", ds, `{not json`, BodyNotJSON, true},
		{"empty", ds, ``, BodyNotJSON, false},
		{"only space", ds, " \r\n\t", BodyNotJSON, false},
		{"trailing garbage", ds, codecRefresh1 + `x`, BodyNotJSON, false},
		{"two objects", ds, codecRefresh1 + codecRefresh1, BodyNotJSON, false},
		{"top-level array", ds, `[` + codecRefresh1 + `]`, BodyNotJSON, false},
		{"top-level string", ds, `"refresh"`, BodyNotJSON, false},
		{"top-level null", ds, `null`, BodyNotJSON, false},
		{"unterminated object", ds, `{"type":"refresh","eid":"02:00:00:00:00:01"`, BodyNotJSON, false},
		{"unterminated string", ds, `{"type":"refresh","eid":"02:00:00:00:00:01`, BodyNotJSON, false},
		{"trailing comma", ds, `{"type":"refresh","eid":"02:00:00:00:00:01",}`, BodyNotJSON, false},
		{"trailing comma in array", ds, codecWithKey(`"x":[1,]`), BodyNotJSON, false},
		{"missing colon", ds, codecWithKey(`"x" 1`), BodyNotJSON, false},
		{"unquoted key", ds, codecWithKey(`x:1`), BodyNotJSON, false},
		{"single quotes", ds, codecWithKey(`'x':1`), BodyNotJSON, false},
		{"invalid UTF-8 in value", ds, `{"type":"devicestate","device":"Custom:a\xffb","state":"BUSY","eid":"02:00:00:00:00:01"}`, BodyNotJSON, false},
		{"invalid UTF-8 in unknown key", ds, codecWithKey("\"\xc3\":1"), BodyNotJSON, false},
		{"UTF-8 surrogate", ds, codecWithKey("\"x\":\"\xed\xa0\x80\""), BodyNotJSON, false},
		{"byte order mark", ds, "\xef\xbb\xbf" + codecRefresh1, BodyNotJSON, false},
		{"raw control character", ds, codecWithKey("\"x\":\"a\tb\""), BodyNotJSON, false},
		{"raw NUL", ds, codecRefresh1 + "\x00", BodyNotJSON, false},
		{"escaped NUL in value", ds, codecWithKey(`"x":"a\u0000b"`), BodyNotJSON, false},
		{"escaped NUL in key", ds, codecWithKey(`"a\u0000":1`), BodyNotJSON, false},
		{"lone high surrogate", ds, codecWithKey(`"x":"\ud800"`), BodyNotJSON, false},
		{"high surrogate then letter", ds, codecWithKey(`"x":"\ud800x"`), BodyNotJSON, false},
		{"high surrogate then high", ds, codecWithKey(`"x":"\ud800\ud800"`), BodyNotJSON, false},
		{"lone low surrogate", ds, codecWithKey(`"x":"\udc00"`), BodyNotJSON, false},
		{"low surrogate first", ds, codecWithKey(`"x":"\udc00\udc00"`), BodyNotJSON, false},
		{"invalid escape", ds, codecWithKey(`"x":"\x41"`), BodyNotJSON, false},
		{"short unicode escape", ds, codecWithKey(`"x":"\u12"`), BodyNotJSON, false},
		{"integer above int64", ds, codecWithKey(`"x":9223372036854775808`), BodyNotJSON, false},
		{"integer below int64", ds, codecWithKey(`"x":-9223372036854775809`), BodyNotJSON, false},
		{"real overflow", ds, codecWithKey(`"x":1e400`), BodyNotJSON, false},
		{"leading zero", ds, codecWithKey(`"x":01`), BodyNotJSON, false},
		{"bare minus", ds, codecWithKey(`"x":-`), BodyNotJSON, false},
		{"dot without digits", ds, codecWithKey(`"x":1.`), BodyNotJSON, false},
		{"exponent without digits", ds, codecWithKey(`"x":1e+`), BodyNotJSON, false},
		{"plus sign", ds, codecWithKey(`"x":+1`), BodyNotJSON, false},
		{"NaN", ds, codecWithKey(`"x":NaN`), BodyNotJSON, false},
		{"truncated literal", ds, codecWithKey(`"x":tru`), BodyNotJSON, false},
		{"too deep", ds, codecWithKey(`"x":` + codecNest(2048)), BodyNotJSON, false},
		{"bad JSON before bad eid", ds, `{"eid":"x",}`, BodyNotJSON, false},

		{"missing eid", ds, `{"type":"devicestate","device":"Custom:sidecar7","state":"INUSE","cachable":1}`, BodyMissingEID, true},
		{"eid not a string", ds, `{"type":"refresh","eid":20000000001}`, BodyMissingEID, false},
		{"eid null", ds, `{"type":"refresh","eid":null}`, BodyMissingEID, false},
		{"eid key is case-sensitive", ds, `{"type":"refresh","EID":"02:00:00:00:00:01"}`, BodyMissingEID, false},
		{"missing eid before missing type", ds, `{}`, BodyMissingEID, false},

		{"missing type", ds, `{"device":"Custom:sidecar8","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:99"}`, BodyMissingType, true},
		{"type not a string", ds, `{"type":1,"eid":"02:00:00:00:00:01"}`, BodyMissingType, false},
		{"type key is case-sensitive", ds, `{"Type":"refresh","eid":"02:00:00:00:00:01"}`, BodyMissingType, false},
		{"missing type before bad eid", ds, `{"eid":"not-an-eid"}`, BodyMissingType, false},

		{"unknown type", ds, `{"type":"whatever","eid":"02:00:00:00:00:99"}`, BodyUnknownType, true},
		{"type is case-sensitive", ds, `{"type":"Refresh","eid":"02:00:00:00:00:01"}`, BodyUnknownType, false},
		{"empty type", mwi, `{"type":"","eid":"02:00:00:00:00:01"}`, BodyUnknownType, false},

		{"devicestate on asterisk-mwi", mwi, `{"type":"devicestate","device":"Custom:sidecar12","state":"BUSY","cachable":1,"eid":"02:00:00:00:00:99"}`, BodyWrongEvent, true},
		{"mailboxstate on asterisk-devicestate", ds, `{"type":"mailboxstate","uniqueid":"1@x","old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyWrongEvent, false},
		{"wrong event before missing device", mwi, `{"type":"devicestate","eid":"02:00:00:00:00:01"}`, BodyWrongEvent, false},

		{"missing device", ds, `{"type":"devicestate","state":"BUSY","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingDevice, false},
		{"empty device", ds, `{"type":"devicestate","device":"","state":"BUSY","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingDevice, false},
		{"device not a string", ds, `{"type":"devicestate","device":["a"],"state":"BUSY","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingDevice, false},
		{"missing device before missing state", ds, `{"type":"devicestate","eid":"02:00:00:00:00:01"}`, BodyMissingDevice, false},

		{"missing state", ds, `{"type":"devicestate","device":"Custom:a","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingState, false},
		{"empty state", ds, `{"type":"devicestate","device":"Custom:a","state":"","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingState, false},
		{"state not a string", ds, `{"type":"devicestate","device":"Custom:a","state":2,"cachable":1,"eid":"02:00:00:00:00:01"}`, BodyMissingState, false},
		{"missing state before bad eid", ds, `{"type":"devicestate","device":"Custom:a","eid":"x"}`, BodyMissingState, false},

		{"CRLF in device", ds, `{"type":"devicestate","device":"PJSIP/inj\r\n\r\nAction: Originate","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`, BodyBadName, false},
		{"LF in device", ds, `{"type":"devicestate","device":"PJSIP/inj\nAction: Originate","state":"INUSE","eid":"02:00:00:00:00:01"}`, BodyBadName, false},
		{"NUL in device (jansson cannot load it)", ds, `{"type":"devicestate","device":"PJSIP/inj\u0000x","state":"INUSE","eid":"02:00:00:00:00:01"}`, BodyNotJSON, false},
		{"ESC in device", ds, `{"type":"devicestate","device":"PJSIP/\u001b[31m","state":"INUSE","eid":"02:00:00:00:00:01"}`, BodyBadName, false},
		{"CR in uniqueid", mwi, `{"type":"mailboxstate","uniqueid":"1000@default\r\nAction: Originate","old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyBadName, false},
		{"DEL in uniqueid", mwi, "{\"type\":\"mailboxstate\",\"uniqueid\":\"1000\x7f@default\",\"old\":0,\"new\":1,\"eid\":\"02:00:00:00:00:01\"}", BodyBadName, false},
		{"missing uniqueid", mwi, `{"type":"mailboxstate","old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyMissingUniqueID, false},
		{"empty uniqueid", mwi, `{"type":"mailboxstate","uniqueid":"","old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyMissingUniqueID, false},
		{"empty box", mwi, `{"type":"mailboxstate","uniqueid":"@default","old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyMissingUniqueID, false},
		{"uniqueid not a string", mwi, `{"type":"mailboxstate","uniqueid":100,"old":0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyMissingUniqueID, false},

		{"negative count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":-1,"new":1,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"fractional count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":0,"new":1.5,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"real count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":1.0,"new":1,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"exponent count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":0,"new":1e2,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"string count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":"3","new":1,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"boolean count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":0,"new":true,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"null count", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":null,"new":1,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"count above int32", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":0,"new":2147483648,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"count at int64 max", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":9223372036854775807,"new":0,"eid":"02:00:00:00:00:01"}`, BodyBadCount, false},
		{"bad count before bad eid", mwi, `{"type":"mailboxstate","uniqueid":"1@x","old":-1,"eid":"x"}`, BodyBadCount, false},

		{"eid garbage", ds, `{"type":"devicestate","device":"Custom:sidecar14","state":"BUSY","cachable":1,"eid":"not-an-eid"}`, BodyBadEID, true},
		{"eid short", ds, `{"type":"refresh","eid":"02:00:00:00:00"}`, BodyBadEID, false},
		{"eid dashes", mwi, `{"type":"refresh","eid":"02-00-00-00-00-01"}`, BodyBadEID, false},
		{"eid trailing text", ds, `{"type":"refresh","eid":"02:00:00:00:00:01x"}`, BodyBadEID, false},
		{"eid empty", ds, `{"type":"refresh","eid":""}`, BodyBadEID, false},
	}

	recorded := map[string]bool{}
	for _, c := range codecHandmadeCases(t) {
		recorded[string(c.ev)+"\t"+c.body] = true
	}
	covered := map[BodyErrorCode]bool{}
	for _, tt := range tests {
		covered[tt.code] = true
		t.Run(tt.name, func(t *testing.T) {
			if tt.recorded && !recorded[string(tt.ev)+"\t"+tt.body] {
				t.Fatalf("not in %s: %s %s", fixtureHandmade, tt.ev, tt.body)
			}
			m, err := DecodeMessage(tt.ev, []byte(tt.body))
			if got := BodyErrorCodeOf(err); got != tt.code {
				t.Fatalf("DecodeMessage: code %s (%v), want %s", got, err, tt.code)
			}
			var be *BodyError
			if !errors.As(err, &be) || be.Detail == "" {
				t.Errorf("error %#v is not a *BodyError with a detail", err)
			}
			if tt.code == BodyBadEID {
				if m.Type == 0 || !m.EID.IsZero() {
					t.Errorf("BadEID: message %+v, want the decoded rest with a zero EID", m)
				}
			} else if m != (Message{}) {
				t.Errorf("message %+v returned with %s", m, tt.code)
			}
		})
	}
	for c := BodyTooLarge; c <= BodyBadCount; c++ {
		if !covered[c] {
			t.Errorf("no case for %s", c)
		}
	}
}

func TestDecodeMessageBadEIDKeepsMessage(t *testing.T) {
	body := `{"type":"devicestate","device":"Custom:sidecar14","state":"BUSY","cachable":1,"eid":"not-an-eid"}`
	m, err := DecodeMessage(EventDeviceState, []byte(body))
	want := Message{Type: MessageDeviceState, State: Device("Custom:sidecar14", Busy, true)}
	if BodyErrorCodeOf(err) != BodyBadEID || m != want {
		t.Fatalf("DecodeMessage = %+v, %v; want %+v with bad_eid", m, err, want)
	}
	if !strings.Contains(err.Error(), "not-an-eid") {
		t.Errorf("error %q does not name the EID it dropped", err)
	}
}

// The recorded answers of Asterisk to hand-made bodies agree with the codes.
func TestDecodeMessageHandmadeResponses(t *testing.T) {
	for _, c := range codecHandmadeCases(t) {
		t.Run(c.title, func(t *testing.T) {
			m, err := DecodeMessage(c.ev, []byte(c.body))
			code := BodyErrorCodeOf(err)
			if err != nil && code == BodyNone {
				t.Fatalf("error without a code: %v", err)
			}
			if got := codecAsteriskStatus(code); got != c.status {
				t.Errorf("decoded to %s (%v), which Asterisk answers %d; it answered %d", code, err, got, c.status)
			}
			if c.status == 200 && m.Type == 0 {
				t.Errorf("accepted body decoded to an empty message")
			}
		})
	}
}

// The hand-made fixture says what the raw recording says.
func TestCodecHandmadeFixtureMatchesRecording(t *testing.T) {
	raw := readSIPFixture(t, fixtureHandRaw)
	type exchange struct {
		ev     Event
		body   string
		status int
	}
	var recorded []exchange
	blocks := strings.Split(raw, "\n#### [")
	for i, b := range blocks {
		_, req, ok := strings.Cut(b, "] SEND ")
		if !ok || i+1 >= len(blocks) {
			continue
		}
		_, req, _ = strings.Cut(req, "\n")
		head, rest, _ := strings.Cut(req, "\r\n\r\n")
		var ex exchange
		length := 0
		for _, h := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(h, "Event: "); ok {
				ex.ev = Event(v)
			}
			if v, ok := strings.CutPrefix(h, "Content-Length: "); ok {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		if length > len(rest) {
			t.Fatalf("block %d: Content-Length %d, %d bytes", i, length, len(rest))
		}
		ex.body = rest[:length]
		_, resp, ok := strings.Cut(blocks[i+1], "] RECV ")
		if !ok {
			t.Fatalf("block %d: SEND not followed by RECV", i)
		}
		_, resp, _ = strings.Cut(resp, "\n")
		if _, err := fmt.Sscanf(resp, "SIP/2.0 %d", &ex.status); err != nil {
			t.Fatalf("block %d: status line %.40q: %v", i, resp, err)
		}
		recorded = append(recorded, ex)
	}
	if len(recorded) < 30 {
		t.Fatalf("%s: found %d exchanges", fixtureHandRaw, len(recorded))
	}
	for _, c := range codecHandmadeCases(t) {
		found := false
		for _, ex := range recorded {
			if ex == (exchange{c.ev, c.body, c.status}) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: %d %q %s is not in %s", c.title, c.status, c.ev, c.body, fixtureHandRaw)
		}
	}
}

func TestDecodeMessageAccepts(t *testing.T) {
	dev := func(name string, s DeviceState, cachable bool) Message {
		return Message{MessageDeviceState, codecEID1, Device(name, s, cachable)}
	}
	mbox := func(box, context string, old, new int) Message {
		return Message{MessageMailboxState, codecEID1, Mailbox(MailboxID{box, context}, old, new)}
	}
	const (
		ds  = EventDeviceState
		mwi = EventMWI
	)
	tests := []struct {
		name string
		ev   Event
		body string
		want Message
	}{
		{"reordered keys", ds, `{"eid":"02:00:00:00:00:01","cachable":1,"state":"INUSE","device":"Custom:a","type":"devicestate"}`,
			dev("Custom:a", InUse, true)},
		{"whitespace", ds, " \r\n\t{ \"type\" :\t\"devicestate\" ,\r\n\"device\": \"Custom:a\" , \"state\":\"BUSY\",\n\"cachable\" : 1 , \"eid\" : \"02:00:00:00:00:01\" }\r\n ",
			dev("Custom:a", Busy, true)},
		{"unknown keys ignored", ds, `{"x":{"y":[1,-2.5e-3,true,false,null,{"type":"refresh"}],"":""},"type":"devicestate","z":"\u00e4","device":"Custom:a","state":"RINGING","cachable":1,"eid":"02:00:00:00:00:01","extra":123}`,
			dev("Custom:a", Ringing, true)},
		{"duplicate key last wins", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","state":"ONHOLD","cachable":1,"device":"Custom:b","eid":"02:00:00:00:00:99","eid":"02:00:00:00:00:01"}`,
			dev("Custom:b", OnHold, true)},
		{"duplicate type last wins", mwi, `{"type":"devicestate","type":"refresh","eid":"02:00:00:00:00:01"}`,
			Message{Type: MessageRefresh, EID: codecEID1}},
		{"keys are case-sensitive", ds, `{"Type":"mailboxstate","type":"refresh","EID":"zz","eid":"02:00:00:00:00:01","Device":"x"}`,
			Message{Type: MessageRefresh, EID: codecEID1}},
		{"escaped key", ds, `{"\u0074ype":"refresh","e\u0069d":"02:00:00:00:00:01"}`,
			Message{Type: MessageRefresh, EID: codecEID1}},
		{"escapes in name", ds, `{"type":"devicestate","device":"Custom:\u00e4\/\"\\\ud83d\ude00\u2028","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:ä/\"\\😀\u2028", InUse, true)},
		{"unknown state reads as UNKNOWN", ds, `{"type":"devicestate","device":"Custom:sidecar9","state":"FOO","cachable":1,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:sidecar9", Unknown, true)},
		{"lower-case state", ds, `{"type":"devicestate","device":"Custom:a","state":"inuse","cachable":1,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", InUse, true)},
		{"no cachable", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"cachable 0", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","cachable":0,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"cachable 2", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","cachable":2,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"cachable true", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","cachable":true,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"cachable string", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","cachable":"1","eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"cachable real", ds, `{"type":"devicestate","device":"Custom:a","state":"BUSY","cachable":1.0,"eid":"02:00:00:00:00:01"}`,
			dev("Custom:a", Busy, false)},
		{"counts missing read as 0", mwi, `{"type":"mailboxstate","uniqueid":"100@default","eid":"02:00:00:00:00:01"}`,
			mbox("100", "default", 0, 0)},
		{"count int32 max", mwi, `{"type":"mailboxstate","uniqueid":"1","old":2147483647,"new":0,"eid":"02:00:00:00:00:01"}`,
			mbox("1", "", math.MaxInt32, 0)},
		{"count minus zero", mwi, `{"type":"mailboxstate","uniqueid":"1","old":-0,"new":7,"eid":"02:00:00:00:00:01"}`,
			mbox("1", "", 0, 7)},
		{"uniqueid split at first @", mwi, `{"type":"mailboxstate","uniqueid":"a@b@c","old":1,"new":2,"eid":"02:00:00:00:00:01"}`,
			mbox("a", "b@c", 1, 2)},
		{"uniqueid with empty context", mwi, `{"type":"mailboxstate","uniqueid":"300@","old":1,"new":2,"eid":"02:00:00:00:00:01"}`,
			mbox("300", "", 1, 2)},
		{"refresh on asterisk-mwi", mwi, codecRefresh1, Message{Type: MessageRefresh, EID: codecEID1}},
		{"refresh ignores state keys", ds, `{"type":"refresh","device":"","state":7,"eid":"02:00:00:00:00:01"}`,
			Message{Type: MessageRefresh, EID: codecEID1}},
		{"upper-case eid", ds, `{"type":"refresh","eid":"0A:0B:0C:0D:0E:FF"}`,
			Message{Type: MessageRefresh, EID: EntityID{10, 11, 12, 13, 14, 255}}},
		{"zero eid", ds, `{"type":"refresh","eid":"00:00:00:00:00:00"}`, Message{Type: MessageRefresh}},
		{"big numbers in other keys", ds, codecWithKey(`"x":[9223372036854775807,-9223372036854775808,1e308,1e-400]`),
			Message{Type: MessageRefresh, EID: codecEID1}},
		{"nesting at the limit", ds, codecWithKey(`"x":` + codecNest(2047)), Message{Type: MessageRefresh, EID: codecEID1}},
		{"exactly MaxBodySize", ds, codecRefresh1 + strings.Repeat(" ", MaxBodySize-len(codecRefresh1)),
			Message{Type: MessageRefresh, EID: codecEID1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeMessage(tt.ev, []byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeMessage: %v", err)
			}
			if got != tt.want {
				t.Errorf("DecodeMessage:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// Decoding copies what it keeps: the caller may reuse the body's buffer.
func TestDecodeMessageDoesNotAliasBody(t *testing.T) {
	body := []byte(`{"type":"devicestate","device":"Custom:alice","state":"INUSE","cachable":1,"eid":"02:00:00:00:00:01"}`)
	m, err := DecodeMessage(EventDeviceState, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 'x'
	}
	if m.State.Key.Name != "Custom:alice" {
		t.Errorf("device name changed with the body buffer: %q", m.State.Key.Name)
	}
}

// A name over MaxNameLen is refused, however much room the body has; a
// name of MaxNameLen is accepted and can always be encoded and forwarded.
func TestDecodeMessageRefusesOverLongNames(t *testing.T) {
	head := `{"type":"devicestate","state":"x","eid":"02:00:00:00:00:01","device":"`
	name := strings.Repeat("a", MaxBodySize-len(head)-2)
	body := head + name + `"}`
	if len(body) != MaxBodySize {
		t.Fatalf("body is %d bytes", len(body))
	}
	_, err := DecodeMessage(EventDeviceState, []byte(body))
	if BodyErrorCodeOf(err) != BodyBadName {
		t.Fatalf("DecodeMessage: %v, want bad_name", err)
	}
	body = head + name[:MaxNameLen+1] + `"}`
	if _, err := DecodeMessage(EventDeviceState, []byte(body)); BodyErrorCodeOf(err) != BodyBadName {
		t.Fatalf("DecodeMessage of %d bytes: %v, want bad_name", MaxNameLen+1, err)
	}
	body = head + name[:MaxNameLen] + `"}`
	m, err := DecodeMessage(EventDeviceState, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := EncodeMessage(m); err != nil || len(b) > MaxBodySize {
		t.Errorf("EncodeMessage: %d bytes, %v", len(b), err)
	}
}

func TestCodecBodyErrorCode(t *testing.T) {
	seen := map[string]BodyErrorCode{}
	for c := BodyNone; c <= BodyBadName; c++ {
		s := c.String()
		if s == "" || strings.HasPrefix(s, "BodyErrorCode(") {
			t.Errorf("code %d has no name", c)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("codes %d and %d share the name %q", prev, c, s)
		}
		seen[s] = c
	}
	if got := (BodyBadName + 1).String(); got != "BodyErrorCode(14)" {
		t.Errorf("out-of-range code prints %q", got)
	}
	if BodyNone.String() != "none" {
		t.Errorf("BodyNone prints %q", BodyNone)
	}

	bad := &BodyError{Code: BodyBadEID, Detail: `"x"`}
	for _, tt := range []struct {
		err  error
		want BodyErrorCode
	}{
		{nil, BodyNone},
		{errors.New("other"), BodyNone},
		{bad, BodyBadEID},
		{fmt.Errorf("peer ast1: %w", bad), BodyBadEID},
	} {
		if got := BodyErrorCodeOf(tt.err); got != tt.want {
			t.Errorf("BodyErrorCodeOf(%v) = %s, want %s", tt.err, got, tt.want)
		}
	}
	if msg := bad.Error(); !strings.Contains(msg, "bad_eid") || !strings.Contains(msg, `"x"`) {
		t.Errorf("Error() = %q, want code and detail", msg)
	}
}

func TestCodecMessageTypeString(t *testing.T) {
	for typ, want := range map[MessageType]string{
		MessageDeviceState:  "devicestate",
		MessageMailboxState: "mailboxstate",
		MessageRefresh:      "refresh",
		0:                   "MessageType(0)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("MessageType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

var codecBenchBody = []byte(`{"type":"devicestate","device":"PJSIP/alice","state":"INUSE","cachable":1,"eid":"02:42:ac:11:00:02"}`)

func BenchmarkEncodeDeviceState(b *testing.B) {
	m := Message{MessageDeviceState, EntityID{2, 0x42, 0xac, 0x11, 0, 2}, Device("PJSIP/alice", InUse, true)}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(codecBenchBody)))
	for b.Loop() {
		var err error
		buf, err = AppendMessage(buf[:0], m)
		if err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Equal(buf, codecBenchBody) {
		b.Fatalf("encoded %s", buf)
	}
}

func BenchmarkDecodeDeviceState(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(codecBenchBody)))
	for b.Loop() {
		if _, err := DecodeMessage(EventDeviceState, codecBenchBody); err != nil {
			b.Fatal(err)
		}
	}
}
