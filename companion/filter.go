package companion

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Filter is a device_state_filter / mailbox_state_filter expression with
// the semantics res_pjsip_publish_asterisk gives it: regcomp with
// REG_EXTENDED | REG_ICASE, so POSIX extended syntax, case-insensitive,
// and an unanchored search. The zero Filter (empty pattern) matches
// everything, as an unset filter does in Asterisk.
type Filter struct {
	pattern string
	re      *regexp.Regexp
}

// CompileFilter checks pattern against POSIX extended syntax and compiles
// it for case-insensitive matching.
//
// regexp.CompilePOSIX cannot ignore case, so the pattern is parsed with
// regexp/syntax in POSIX mode (which refuses Perl extensions such as \d
// and (?i) that regcomp would not accept either) plus the flags regcomp
// implies: FoldCase for REG_ICASE, DotNL because without REG_NEWLINE '.'
// matches a newline, OneLine because '^' and '$' anchor at the ends of the
// text. The parsed tree is then compiled through its canonical form, so
// constructs POSIX allows and Perl does not (a stacked "a*?") keep their
// POSIX meaning.
func CompileFilter(pattern string) (Filter, error) {
	if pattern == "" {
		return Filter{}, nil
	}
	tree, err := syntax.Parse(pattern, syntax.POSIX|syntax.FoldCase|syntax.DotNL|syntax.OneLine)
	if err != nil {
		return Filter{}, fmt.Errorf("not a POSIX extended regular expression: %w", unwrapSyntax(err))
	}
	re, err := regexp.Compile(tree.String())
	if err != nil {
		return Filter{}, fmt.Errorf("invalid regular expression: %w", unwrapSyntax(err))
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

// unwrapSyntax drops the "regexp: Compile(...)" framing so that the error
// reads well after the configuration key that carries the pattern.
func unwrapSyntax(err error) error {
	if se, ok := err.(*syntax.Error); ok {
		return fmt.Errorf("%s: `%s`", se.Code, se.Expr)
	}
	return err
}
