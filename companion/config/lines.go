package config

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lineIndex maps the keys of a TOML file to the lines they are defined on.
// BurntSushi/toml reports no positions for decoded keys (and reports every
// key of an array of tables at its last element), so the loader scans the
// text itself. The scanner assumes the file already parsed; on broken input
// it stays in bounds and simply records less.
//
// A path is a list of segments: keys, and elem(i) for the i-th (0-based)
// element of an array of tables or of an array value.
type lineIndex struct {
	lines    map[string]int      // joined path -> 1-based line
	children map[string][]string // joined table path -> child keys, in file order
}

const maxIndexDepth = 16

func elem(i int) string { return "\x01" + strconv.Itoa(i) }

func joinPath(path []string) string { return strings.Join(path, "\x00") }

// line returns the line of path, 0 when unknown.
func (x *lineIndex) line(path ...string) int { return x.lines[joinPath(path)] }

// keys returns the keys defined directly in the table at path, in file order.
func (x *lineIndex) keys(path ...string) []string { return x.children[joinPath(path)] }

func (x *lineIndex) define(path []string, line int, overwrite bool) {
	k := joinPath(path)
	if _, ok := x.lines[k]; !ok || overwrite {
		x.lines[k] = line
	}
	if len(path) > 0 {
		parent := joinPath(path[:len(path)-1])
		last := path[len(path)-1]
		if !strings.HasPrefix(last, "\x01") && !slices.Contains(x.children[parent], last) {
			x.children[parent] = append(x.children[parent], last)
		}
	}
}

func indexLines(src string) *lineIndex {
	s := &lineScanner{
		src:    strings.TrimPrefix(src, "\uFEFF"),
		line:   1,
		arrays: map[string]int{},
		idx:    &lineIndex{lines: map[string]int{}, children: map[string][]string{}},
	}
	s.run()
	return s.idx
}

type lineScanner struct {
	src    string
	pos    int
	line   int
	table  []string       // current table path, elements resolved
	arrays map[string]int // resolved path of an array of tables -> elements so far
	idx    *lineIndex
}

func (s *lineScanner) eof() bool { return s.pos >= len(s.src) }

func (s *lineScanner) peek() byte {
	if s.eof() {
		return 0
	}
	return s.src[s.pos]
}

func (s *lineScanner) advance() {
	if s.eof() {
		return
	}
	if s.src[s.pos] == '\n' {
		s.line++
	}
	s.pos++
}

func (s *lineScanner) skipSpace() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.pos++
	}
}

// skipBlank skips whitespace, newlines and comments (inside arrays).
func (s *lineScanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.advance()
		case '#':
			s.skipComment()
		default:
			return
		}
	}
}

func (s *lineScanner) skipComment() {
	for !s.eof() && s.peek() != '\n' {
		s.pos++
	}
}

func (s *lineScanner) run() {
	for !s.eof() {
		s.skipSpace()
		switch s.peek() {
		case 0:
			if !s.eof() {
				s.pos++
			}
		case '\n', '\r':
			s.advance()
		case '#':
			s.skipComment()
		case '[':
			s.header()
			s.skipComment() // the rest of the line: a comment, or junk in a broken file
		default:
			s.keyValue(s.table)
			s.skipComment()
		}
	}
}

func (s *lineScanner) header() {
	line := s.line
	s.pos++
	array := s.peek() == '['
	if array {
		s.pos++
	}
	segs := s.key()
	s.skipSpace()
	if s.peek() == ']' {
		s.pos++
	}
	if array && s.peek() == ']' {
		s.pos++
	}
	var path []string
	for i, seg := range segs {
		path = append(path, seg)
		k := joinPath(path)
		if i == len(segs)-1 && array {
			n := s.arrays[k]
			s.arrays[k] = n + 1
			s.idx.define(path, line, false)
			path = append(path, elem(n))
			s.idx.define(path, line, true)
			continue
		}
		if n, ok := s.arrays[k]; ok {
			path = append(path, elem(n-1))
		}
		s.idx.define(path, line, i == len(segs)-1)
	}
	s.table = path
}

// keyValue reads key = value and records the key, and the keys of inline
// tables in the value, under table.
func (s *lineScanner) keyValue(table []string) {
	line := s.line
	segs := s.key()
	if len(segs) == 0 {
		return
	}
	s.skipSpace()
	if s.peek() != '=' {
		return
	}
	s.pos++
	if len(table) >= maxIndexDepth {
		s.value(table)
		return
	}
	path := append(append([]string(nil), table...), segs...)
	for i := len(table) + 1; i < len(path); i++ {
		s.idx.define(path[:i], line, false)
	}
	s.idx.define(path, line, true)
	s.value(path)
}

// key reads a possibly dotted key of bare and quoted parts.
func (s *lineScanner) key() []string {
	var segs []string
	for {
		s.skipSpace()
		var seg string
		switch c := s.peek(); {
		case c == '"':
			seg = unquoteBasic(s.quoted('"'))
		case c == '\'':
			seg = s.quoted('\'')
		case isBareKeyByte(c):
			start := s.pos
			for !s.eof() && isBareKeyByte(s.peek()) {
				s.pos++
			}
			seg = s.src[start:s.pos]
		default:
			return segs
		}
		segs = append(segs, seg)
		s.skipSpace()
		if s.peek() != '.' {
			return segs
		}
		s.pos++
	}
}

// isBareKeyByte accepts A-Za-z0-9_- and, for TOML 1.1, any non-ASCII byte.
func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c >= utf8.RuneSelf
}

// quoted reads a single-line string starting at the quote and returns its raw
// contents (escapes untouched).
func (s *lineScanner) quoted(q byte) string {
	s.pos++
	start := s.pos
	for !s.eof() {
		c := s.peek()
		switch {
		case c == q:
			raw := s.src[start:s.pos]
			s.pos++
			return raw
		case c == '\n':
			return s.src[start:s.pos]
		case c == '\\' && q == '"':
			s.pos++
			if s.eof() || s.peek() == '\n' {
				return s.src[start:s.pos]
			}
		}
		s.pos++
	}
	return s.src[start:s.pos]
}

// multiline skips a multi-line string (delim is three quotes), counting its lines.
func (s *lineScanner) multiline(delim string) {
	s.pos += 3
	for !s.eof() {
		if strings.HasPrefix(s.src[s.pos:], delim) {
			s.pos += 3
			// Up to two quotes of the content may touch the delimiter.
			for i := 0; i < 2 && s.peek() == delim[0]; i++ {
				s.pos++
			}
			return
		}
		if delim[0] == '"' && s.peek() == '\\' {
			s.advance()
		}
		s.advance()
	}
}

func (s *lineScanner) value(path []string) {
	s.skipSpace()
	switch c := s.peek(); {
	case strings.HasPrefix(s.src[s.pos:], `"""`):
		s.multiline(`"""`)
	case strings.HasPrefix(s.src[s.pos:], `'''`):
		s.multiline(`'''`)
	case c == '"' || c == '\'':
		s.quoted(c)
	case c == '[':
		s.pos++
		for i := 0; ; i++ {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == ']' {
				s.pos++
				return
			}
			start := s.pos
			p := path
			if len(path) < maxIndexDepth { // deeper values matter to nobody; copying paths would be quadratic
				p = append(append([]string(nil), path...), elem(i))
				s.idx.define(p, s.line, true)
			}
			s.value(p)
			s.skipBlank()
			if s.peek() == ',' {
				s.pos++
			} else if s.pos == start {
				s.pos++ // broken input: make progress
			}
		}
	case c == '{':
		s.pos++
		for {
			s.skipBlank()
			if s.eof() {
				return
			}
			if s.peek() == '}' {
				s.pos++
				return
			}
			start := s.pos
			s.keyValue(path)
			s.skipBlank()
			if s.peek() == ',' {
				s.pos++
			} else if s.pos == start {
				s.pos++
			}
		}
	default:
		// Number, boolean or date-time (which may contain a space).
		for !s.eof() && strings.IndexByte(",]}#\r\n", s.peek()) < 0 {
			s.pos++
		}
	}
}

// unquoteBasic decodes the escapes of a basic-string key. Keys rarely have
// any; an escape it does not know is kept as written.
func unquoteBasic(raw string) string {
	if !strings.Contains(raw, `\`) {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 == len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(raw[i])
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[raw[i]]
			if i+n < len(raw) {
				if r, err := strconv.ParseUint(raw[i+1:i+1+n], 16, 32); err == nil {
					b.WriteRune(rune(r))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(raw[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}
