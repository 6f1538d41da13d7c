package amitest

import (
	"bufio"
	"bytes"
	"strings"
)

// Header is one "Key: Value" line of an AMI message.
type Header struct{ Key, Value string }

// Message is one AMI message (action, response or event) with its headers
// in wire order. Repeated keys are kept, unlike in amigo's maps.
type Message []Header

// Get returns the value of the first header named key (case-insensitive,
// as Asterisk reads headers), or "".
func (m Message) Get(key string) string {
	for _, h := range m {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// Has reports whether a header named key is present.
func (m Message) Has(key string) bool {
	for _, h := range m {
		if strings.EqualFold(h.Key, key) {
			return true
		}
	}
	return false
}

// Action is the value of the Action header.
func (m Message) Action() string { return m.Get("Action") }

// ParseMessage reads the headers of one message; parsing stops at the
// first empty line. Lines without a colon are skipped.
func ParseMessage(b []byte) Message {
	var m Message
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if h, ok := parseHeader(line); ok {
			m = append(m, h)
		}
	}
	return m
}

// SplitMessages cuts a byte stream at the blank lines that end AMI
// messages and parses each non-empty one.
func SplitMessages(b []byte) []Message {
	var out []Message
	for _, part := range bytes.Split(b, []byte("\r\n\r\n")) {
		if m := ParseMessage(bytes.TrimLeft(part, "\r\n")); len(m) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// readMessage reads one message from r, as Asterisk does: header lines up
// to an empty line. tap, when not nil, sees every byte read, a partial
// last line included.
func readMessage(r *bufio.Reader, tap func([]byte)) (Message, error) {
	var m Message
	for {
		line, err := r.ReadBytes('\n')
		if tap != nil && len(line) > 0 {
			tap(line)
		}
		if err != nil {
			return m, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if len(m) == 0 {
				continue // stray empty line between messages
			}
			return m, nil
		}
		if h, ok := parseHeader(line); ok {
			m = append(m, h)
		}
	}
}

func parseHeader(line []byte) (Header, bool) {
	k, v, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return Header{}, false
	}
	return Header{Key: string(bytes.TrimSpace(k)), Value: string(bytes.TrimLeft(v, " \t"))}, true
}
