package companion

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzDecodeMessage(f *testing.F) {
	for _, body := range codecRecordedBodies(f) {
		for _, ev := range []Event{EventDeviceState, EventMWI} {
			f.Add(string(ev), []byte(body))
		}
	}
	for _, c := range codecHandmadeCases(f) {
		f.Add(string(c.ev), []byte(c.body))
	}
	for _, body := range []string{
		`{"type":"mailboxstate","uniqueid":"300@","old":-0,"new":2147483647,"eid":"0A:0B:0C:0D:0E:FF"}`,
		`{"\u0074ype":"devicestate","device":"\ud83d\ude00\u0001\"\\\/","state":"ringinuse","cachable":1,"cachable":true,"eid":"02:00:00:00:00:01"}`,
		`{"type":"refresh","eid":"02:00:00:00:00:01","x":[{"y":[1e308,-0.0,null]}]}`,
		"{\"type\":\"devicestate\",\"device\":\"a\u2028</>&\x7f\",\"state\":\"x\",\"eid\":\"02:00:00:00:00:01\"}",
	} {
		f.Add(string(EventDeviceState), []byte(body))
		f.Add(string(EventMWI), []byte(body))
	}

	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ev := Event(event)
		m, err := DecodeMessage(ev, body)
		code := BodyErrorCodeOf(err)
		if err != nil && code == BodyNone {
			t.Fatalf("error without a body error code: %v", err)
		}
		if code != BodyNone && code != BodyBadEID && m != (Message{}) {
			t.Fatalf("%s returned a message: %+v", code, m)
		}
		switch code {
		case BodyTooLarge, BodyBadEvent, BodyNotJSON:
			return
		}
		// What passed the syntax check must be JSON for encoding/json too,
		// and it must read the same keys (it too is case-sensitive with a
		// map, and keeps the last duplicate).
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("decoded to %s, but encoding/json refuses %q: %v", code, body, err)
		}
		if len(body) > MaxBodySize {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		if code != BodyNone && code != BodyBadEID {
			return
		}
		if v["type"] != m.Type.String() {
			t.Fatalf("type %q, encoding/json reads %v", m.Type, v["type"])
		}
		if code == BodyNone && !strings.EqualFold(v["eid"].(string), m.EID.String()) {
			t.Fatalf("EID %s, encoding/json reads %v", m.EID, v["eid"])
		}
		switch m.Type {
		case MessageDeviceState:
			if v["device"] != m.State.Key.Name {
				t.Fatalf("device %q, encoding/json reads %q", m.State.Key.Name, v["device"])
			}
		case MessageMailboxState:
			id, _ := ParseMailboxID(v["uniqueid"].(string))
			if MailboxKey(id) != m.State.Key {
				t.Fatalf("mailbox %q, encoding/json reads %q", m.State.Key.Name, v["uniqueid"])
			}
		}
		if code == BodyBadEID {
			if !m.EID.IsZero() {
				t.Fatalf("bad_eid with EID %s", m.EID)
			}
			return
		}

		// Accepted: it encodes, and the encoding decodes to the same.
		out, err := EncodeMessage(m)
		if err != nil {
			t.Fatalf("EncodeMessage(%+v) of an accepted body: %v", m, err)
		}
		if !json.Valid(out) {
			t.Fatalf("EncodeMessage wrote invalid JSON %q", out)
		}
		back, err := DecodeMessage(ev, out)
		if err != nil {
			t.Fatalf("DecodeMessage(%q) of our own encoding: %v", out, err)
		}
		if back != m {
			t.Fatalf("re-decoded %+v, want %+v", back, m)
		}
		again, err := EncodeMessage(back)
		if err != nil || string(again) != string(out) {
			t.Fatalf("encoding is not stable: %q then %q (%v)", out, again, err)
		}
	})
}
