package migrate

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tomlWriter writes the TOML file by hand: only companion/config imports
// the TOML library. Keys are fixed names from this package; every value
// that comes from pjsip.conf goes through quote, every comment through
// commentText.
type tomlWriter struct {
	b strings.Builder
}

func (w *tomlWriter) String() string { return w.b.String() }

func (w *tomlWriter) blank() { w.b.WriteString("\n") }

// comment writes text as comment lines at indent, one per line of text.
func (w *tomlWriter) comment(indent, text string) {
	for _, line := range strings.Split(text, "\n") {
		w.b.WriteString(indent)
		w.b.WriteString("#")
		if line != "" {
			w.b.WriteString(" ")
			w.b.WriteString(commentText(line))
		}
		w.b.WriteString("\n")
	}
}

func (w *tomlWriter) header(indent, h string) {
	w.b.WriteString(indent + h + "\n")
}

// kv writes key = value, with a trailing comment when note is not empty.
func (w *tomlWriter) kv(indent, key string, value any, note string) {
	w.b.WriteString(indent + key + " = " + tomlValue(value))
	if note != "" {
		w.b.WriteString("  # " + commentText(note))
	}
	w.b.WriteString("\n")
}

func tomlValue(v any) string {
	switch v := v.(type) {
	case string:
		return quote(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	panic(fmt.Sprintf("migrate: no TOML form for %T", v))
}

// quote writes s as a TOML basic string. TOML forbids unescaped '"', '\'
// and control characters other than tab; invalid UTF-8 cannot be written
// at all, so it becomes U+FFFD (the parser refuses such input earlier).
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// commentText makes s safe in a TOML comment, which may hold neither
// control characters (but tab) nor invalid UTF-8: those are shown as \xNN.
func commentText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1, r < 0x20 && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
