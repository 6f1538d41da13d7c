package amitest

import (
	"bytes"
	"strings"
)

// rewriteActionID replaces the recorded ActionID in an answer with the
// one the client sent (or drops the header when the client sent none, as
// Asterisk does), keeping the recorded packet boundaries: a recording may
// cut a message, even a line, between two packets.
func rewriteActionID(blocks [][]byte, recorded, sent string, sentAny bool) [][]byte {
	if recorded == "" {
		return blocks
	}
	var stream []byte
	var bounds []int // end offset of each block in stream
	for _, b := range blocks {
		stream = append(stream, b...)
		bounds = append(bounds, len(stream))
	}
	old := []byte("ActionID: " + recorded + "\r\n")
	repl := []byte(nil)
	if sentAny {
		repl = []byte("ActionID: " + sent + "\r\n")
	}

	type span struct{ start, end int }
	var hits []span
	for from := 0; ; {
		i := bytes.Index(stream[from:], old)
		if i < 0 {
			break
		}
		i += from
		if i == 0 || stream[i-1] == '\n' {
			hits = append(hits, span{i, i + len(old)})
		}
		from = i + len(old)
	}
	if len(hits) == 0 {
		return blocks
	}

	var out []byte
	last := 0
	for _, h := range hits {
		out = append(out, stream[last:h.start]...)
		out = append(out, repl...)
		last = h.end
	}
	out = append(out, stream[last:]...)

	// mapPos moves an offset of stream to out; an offset inside a replaced
	// header moves to where its replacement starts.
	grow := len(repl) - len(old)
	mapPos := func(p int) int {
		shift := 0
		for _, h := range hits {
			switch {
			case p >= h.end:
				shift += grow
			case p > h.start:
				return h.start + shift
			}
		}
		return p + shift
	}
	var result [][]byte
	prev := 0
	for _, b := range bounds {
		end := mapPos(b)
		if end > prev {
			result = append(result, out[prev:end])
			prev = end
		}
	}
	return result
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
