package amitest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// Direction tells who sent a block of a transcript.
type Direction uint8

const (
	Marker         Direction = iota // a NOTE/SHELL/CLI/CONNECT/EOF line: no bytes on the wire
	ClientToServer                  // "C->S n bytes"
	ServerToClient                  // "S->C n bytes"
)

// Block is one entry of a transcript: exact wire bytes, or a marker.
type Block struct {
	Dir  Direction
	Text string // the marker line after the timestamp, for every block
	Data []byte // the exact bytes of a C->S or S->C block
}

// Transcript is a recorded (or hand-written) AMI session in the format of
// the recordings: lines "#### [t+X.XXs] C->S n bytes" or "S->C n bytes"
// followed by exactly n bytes and a newline, and marker lines ("NOTE:",
// "SHELL:", ...) followed by free text up to the next "#### " line. Lines
// before the first marker are a header comment.
type Transcript struct {
	Name   string
	Blocks []Block
}

var (
	markerLine = regexp.MustCompile(`^#### \[t\+[0-9.]+s\] (.*)$`)
	bytesLine  = regexp.MustCompile(`^(C->S|S->C) ([0-9]+) bytes$`)
)

// Load reads and parses a transcript file.
func Load(path string) (*Transcript, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Base(path), data)
}

// Parse reads a transcript; name is used in messages.
func Parse(name string, data []byte) (*Transcript, error) {
	t := &Transcript{Name: name}
	rest := data
	// Skip the header comment and blank lines before the first marker.
	for len(rest) > 0 && !bytes.HasPrefix(rest, []byte("#### ")) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			rest = nil
			break
		}
		rest = rest[i+1:]
	}
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%s: marker line without newline at offset %d", name, len(data)-len(rest))
		}
		line := string(rest[:i])
		rest = rest[i+1:]
		m := markerLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%s: expected a #### marker at offset %d, found %q", name, len(data)-len(rest)-i-1, line)
		}
		b := Block{Text: m[1]}
		if bm := bytesLine.FindStringSubmatch(m[1]); bm != nil {
			n, _ := strconv.Atoi(bm[2])
			if n > len(rest) {
				return nil, fmt.Errorf("%s: %q announces %d bytes, %d left", name, line, n, len(rest))
			}
			b.Dir = ServerToClient
			if bm[1] == "C->S" {
				b.Dir = ClientToServer
			}
			b.Data = rest[:n:n]
			rest = rest[n:]
			if len(rest) > 0 && rest[0] != '\n' {
				return nil, fmt.Errorf("%s: %q: no newline after its %d bytes", name, line, n)
			}
			rest = bytes.TrimPrefix(rest, []byte("\n"))
		} else {
			// Free text (shell output) runs up to the next marker.
			next := bytes.Index(rest, []byte("\n#### "))
			switch {
			case bytes.HasPrefix(rest, []byte("#### ")):
			case next < 0:
				rest = nil
			default:
				rest = rest[next+1:]
			}
		}
		t.Blocks = append(t.Blocks, b)
	}
	return t, nil
}

// ServerBytes is everything the server sent, concatenated: what the
// recordings keep as *.server.raw.
func (t *Transcript) ServerBytes() []byte {
	var out []byte
	for _, b := range t.Blocks {
		if b.Dir == ServerToClient {
			out = append(out, b.Data...)
		}
	}
	return out
}

// Exchange is an action the client sent and the server blocks that
// followed it before the next action or marker: its response and the
// events it caused (e.g. the DeviceStateChange a Setvar triggers).
type Exchange struct {
	Action Message
	Answer [][]byte
}

// Exchanges lists the transcript's actions with their answers, in order.
func (t *Transcript) Exchanges() []Exchange {
	var out []Exchange
	for i, b := range t.Blocks {
		if b.Dir != ClientToServer {
			continue
		}
		ex := Exchange{Action: ParseMessage(b.Data)}
		for _, a := range t.Blocks[i+1:] {
			if a.Dir != ServerToClient {
				break
			}
			ex.Answer = append(ex.Answer, a.Data)
		}
		out = append(out, ex)
	}
	return out
}

// Unsolicited lists the server blocks that answer no action: events caused
// by something outside the session (a CLI command, the peer), in order.
// The banner is left out.
func (t *Transcript) Unsolicited() [][]byte {
	var out [][]byte
	answering := false
	for _, b := range t.Blocks {
		switch b.Dir {
		case ClientToServer:
			answering = true
		case Marker:
			answering = false
		case ServerToClient:
			if !answering && !bytes.HasPrefix(b.Data, []byte(bannerPrefix)) {
				out = append(out, b.Data)
			}
		}
	}
	return out
}

// LoginAnswer is what the server sent after a successful Login, without
// the banner (which a recording may hold in the same packet when the
// client logged in before reading it). ok is false when the transcript
// holds no accepted login.
func (t *Transcript) LoginAnswer() (answer [][]byte, ok bool) {
	for _, ex := range t.Exchanges() {
		if !ex.isLogin() || len(ex.Answer) == 0 {
			continue
		}
		first := ex.Answer[0]
		if bytes.HasPrefix(first, []byte(bannerPrefix)) {
			if i := bytes.Index(first, []byte("\r\n")); i >= 0 {
				first = first[i+2:]
			}
		}
		if m := ParseMessage(first); m.Get("Response") != "Success" {
			continue
		}
		return append([][]byte{first}, ex.Answer[1:]...), true
	}
	return nil, false
}

func (ex Exchange) isLogin() bool { return equalFold(ex.Action.Action(), "Login") }
