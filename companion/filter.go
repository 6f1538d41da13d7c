package companion

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Filter is a device_state_filter / mailbox_state_filter expression with
// the semantics res_pjsip_publish_asterisk gives it: glibc's regcomp with
// REG_EXTENDED | REG_ICASE, so POSIX extended syntax, case-insensitive,
// and an unanchored search. The zero Filter (empty pattern) matches
// everything, as an unset filter does in Asterisk.
type Filter struct {
	pattern string
	re      *regexp.Regexp
}

// CompileFilter compiles pattern as glibc would, or says why it cannot.
//
// Go has no POSIX matcher that ignores case, so the pattern is first
// rewritten from glibc's dialect into Go's POSIX-mode syntax (bracket
// expressions, GNU escapes such as \w, intervals such as {,3}), then
// parsed in POSIX mode with the flags regcomp implies: FoldCase for
// REG_ICASE, DotNL because without REG_NEWLINE '.' matches a newline,
// OneLine because '^' and '$' anchor at the ends of the text. What glibc
// reads differently from Go, and cannot be rewritten, is refused with a
// message rather than matched differently.
func CompileFilter(pattern string) (Filter, error) {
	if pattern == "" {
		return Filter{}, nil
	}
	translated, err := translateERE(pattern)
	if err != nil {
		return Filter{}, err
	}
	tree, err := syntax.Parse(translated, syntax.POSIX|syntax.FoldCase|syntax.DotNL|syntax.OneLine)
	if err != nil {
		return Filter{}, fmt.Errorf("not a POSIX extended regular expression: %w", unwrapSyntax(err, pattern))
	}
	// Compiled through the parsed tree's canonical form, so constructs
	// POSIX allows and Perl syntax reads otherwise (a stacked "a*?") keep
	// their POSIX meaning.
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return Filter{}, fmt.Errorf("invalid regular expression: %w", unwrapSyntax(err, pattern))
	}
	return Filter{pattern: pattern, re: re}, nil
}

// MustCompileFilter is CompileFilter for patterns known to be good (tests,
// constants); it panics on a bad one.
func MustCompileFilter(pattern string) Filter {
	f, err := CompileFilter(pattern)
	if err != nil {
		panic(err)
	}
	return f
}

// Match reports whether name (a device name or a mailbox uniqueid) passes.
func (f Filter) Match(name string) bool {
	return f.re == nil || f.re.MatchString(name)
}

// IsZero reports whether f lets everything through.
func (f Filter) IsZero() bool { return f.re == nil }

// String returns the pattern as written in the configuration.
func (f Filter) String() string { return f.pattern }

// unwrapSyntax drops the "regexp: Compile(...)" framing, and the rewritten
// expression, so that the error reads well after the configuration key.
func unwrapSyntax(err error, pattern string) error {
	if se, ok := err.(*syntax.Error); ok {
		return fmt.Errorf("%s in `%s`", se.Code, pattern)
	}
	return err
}

// posixClasses are the character classes glibc knows in a bracket
// expression ([[:alpha:]]); Go knows the same names and two more.
var posixClasses = map[string]bool{
	"alnum": true, "alpha": true, "blank": true, "cntrl": true, "digit": true, "graph": true,
	"lower": true, "print": true, "punct": true, "space": true, "upper": true, "xdigit": true,
}

// translateERE rewrites a glibc extended regular expression into Go's
// POSIX-mode syntax, which differs in bracket expressions (a backslash is
// literal there in POSIX, an escape in Go; [.a.] and [=a=] are unknown to
// Go), in the GNU escapes, and in what makes an interval.
func translateERE(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); {
		switch c := p[i]; c {
		case '\\':
			if i+1 == len(p) {
				return "", fmt.Errorf("trailing backslash in `%s`", p)
			}
			r, size := utf8.DecodeRuneInString(p[i+1:])
			s, err := translateEscape(r, p)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i += 1 + size
		case '[':
			s, n, err := translateBracket(p[i:], p)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i += n
		case '{':
			s, n, err := translateInterval(p[i:], p)
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// translateEscape handles a backslash followed by r outside brackets.
func translateEscape(r rune, p string) (string, error) {
	switch r {
	case 'w':
		return `[[:word:]]`, nil
	case 'W':
		return `[^[:word:]]`, nil
	case 's':
		return `[[:space:]]`, nil
	case 'S':
		return `[^[:space:]]`, nil
	case '`':
		return `^`, nil // start of text: '^' under OneLine
	case '\'':
		return `$`, nil // end of text: '$' under OneLine
	case 'b', 'B', '<', '>':
		return "", fmt.Errorf("the GNU word-boundary operator \\%c in `%s` is not supported; match the neighbouring characters instead (e.g. (^|[^[:alnum:]_]))", r, p)
	case '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "", fmt.Errorf("back-reference \\%c in `%s` is not supported", r, p)
	}
	if r < utf8.RuneSelf && (('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
		return "", fmt.Errorf("\\%c in `%s` is not a POSIX escape (glibc does not read it as in Perl); use a bracket expression such as [0-9] or [[:digit:]]", r, p)
	}
	return quoteRune(r), nil
}

// translateBracket rewrites the bracket expression at the start of s and
// reports how many bytes it took.
func translateBracket(s, p string) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	i := 1
	if i < len(s) && s[i] == '^' {
		b.WriteByte('^')
		i++
	}
	first, afterItem := true, false
	for {
		if i >= len(s) {
			return "", 0, fmt.Errorf("missing closing ] in `%s`", p)
		}
		c := s[i]
		switch {
		case c == ']' && !first:
			b.WriteByte(']')
			return b.String(), i + 1, nil
		case c == '[' && i+1 < len(s) && (s[i+1] == ':' || s[i+1] == '.' || s[i+1] == '='):
			delim := s[i+1]
			end := strings.Index(s[i+2:], string(delim)+"]")
			if end < 0 {
				return "", 0, fmt.Errorf("unterminated [%c in `%s`", delim, p)
			}
			name := s[i+2 : i+2+end]
			i += 2 + end + 2
			if delim == ':' {
				if !posixClasses[name] {
					return "", 0, fmt.Errorf("unknown character class [:%s:] in `%s`", name, p)
				}
				b.WriteString("[:" + name + ":]")
				afterItem = false // a class cannot start a range
				first = false
				continue
			}
			r, size := utf8.DecodeRuneInString(name)
			if name == "" || size != len(name) {
				return "", 0, fmt.Errorf("collating element [%c%s%c] in `%s` is not supported (only single characters are)", delim, name, delim, p)
			}
			b.WriteString(quoteRune(r))
		case c == '-' && afterItem && i+1 < len(s) && s[i+1] != ']':
			b.WriteByte('-') // a range
			afterItem = false
			first = false
			i++
			continue
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(quoteRune(r))
			i += size
		}
		afterItem, first = true, false
	}
}

// translateInterval checks the interval at the start of s ({m}, {m,},
// {m,n}, and glibc's {,n}), which glibc refuses when malformed while Go
// would read the braces as literal characters.
func translateInterval(s, p string) (string, int, error) {
	end := strings.IndexByte(s, '}')
	if end < 0 {
		return "", 0, fmt.Errorf("invalid interval (no closing }) in `%s`", p)
	}
	body := s[1:end]
	lo, hi, comma := strings.Cut(body, ",")
	if !allDigits(lo) || !allDigits(hi) || (lo == "" && !comma) || (lo == "" && hi == "") {
		return "", 0, fmt.Errorf("invalid interval {%s} in `%s`", body, p)
	}
	if lo == "" {
		lo = "0"
	}
	out := "{" + lo
	if comma {
		out += "," + hi
	}
	return out + "}", end + 1, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quoteRune writes r so that Go reads it as itself, inside or outside a
// character class: ASCII punctuation escaped, everything else as it is.
func quoteRune(r rune) string {
	if r < utf8.RuneSelf && strings.ContainsRune(asciiPunct, r) {
		return `\` + string(r)
	}
	return string(r)
}

const asciiPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
