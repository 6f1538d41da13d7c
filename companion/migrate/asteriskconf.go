package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Bounds on what is read: a configuration is trusted no more than a
// network message, and a mistake (an include of /dev/zero, a loop) must end
// in an error, not in a hang or an exhausted memory.
const (
	MaxFileSize     = 4 << 20   // bytes of one file
	MaxTotalSize    = 16 << 20  // bytes of all files together
	MaxFiles        = 64        // files read, includes counted
	MaxIncludeDepth = 8         // nested #include levels
	MaxLineLength   = 8190      // Asterisk reads lines into an 8192-byte buffer
	MaxVariables    = 200_000   // options in all, template copies counted
	MaxSections     = 50_000    // [sections] in all
	maxLookups      = 1_000_000 // sections compared while looking up templates and additions
	maxNestedBlocks = 128       // ;-- --; nesting, as Asterisk's MAX_NESTED_COMMENTS
)

// Conf is a file in Asterisk's configuration syntax, with its #include
// files read in: the categories in order, templates included.
type Conf struct {
	Categories []*Category
	// Notes are lines Asterisk ignores with a warning (a line without
	// '=', an unknown directive, #exec): kept, to be reported, not dropped
	// in silence.
	Notes []Note
}

// Category is one [name] section.
type Category struct {
	Name     string
	File     string
	Line     int
	Template bool // [name](!): never an object itself
	Vars     []Var
}

// Var is one "name = value" (or "name => value") line, where it was
// written: for a value inherited from a template, the template's line.
type Var struct {
	Name, Value string
	File        string
	Line        int
}

// Where is FILE:LINE of the option.
func (v *Var) Where() string { return fmt.Sprintf("%s:%d", v.File, v.Line) }

// Where is FILE:LINE of the section header.
func (c *Category) Where() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

// Note is something in the file worth telling the reader.
type Note struct {
	File string
	Line int
	Msg  string
}

func (n Note) String() string { return fmt.Sprintf("%s:%d: %s", n.File, n.Line, n.Msg) }

// Error is a problem that stops the reading, at FILE:LINE.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// LoadOptions say where #include finds its files.
type LoadOptions struct {
	// ConfigDir is where relative #include paths are read from. Asterisk
	// reads them from its configuration folder (astetcdir, usually
	// /etc/asterisk), whichever file holds the #include. Empty: the folder
	// of the file being loaded.
	ConfigDir string
}

// Load reads the file at path and the files it includes.
func Load(path string, opt LoadOptions) (*Conf, error) {
	if opt.ConfigDir == "" {
		opt.ConfigDir = filepath.Dir(path)
	}
	p := &parser{opt: opt, conf: &Conf{}, readFile: readBounded}
	if err := p.include(path, "", 0, false); err != nil {
		return nil, err
	}
	return p.conf, p.finish()
}

// Parse reads data as the file named name. An #include in it is an error:
// Parse reads nothing else.
func Parse(name string, data []byte) (*Conf, error) {
	p := &parser{conf: &Conf{}, readFile: func(string, int64) ([]byte, error) {
		return nil, errors.New("#include is not followed when parsing bytes")
	}}
	p.files = 1
	p.stack = []string{name}
	if err := p.parseFile(name, data); err != nil {
		return nil, err
	}
	return p.conf, p.finish()
}

type parser struct {
	opt      LoadOptions
	conf     *Conf
	readFile func(path string, limit int64) ([]byte, error)

	byName    map[string][]*Category // lower-case name: sections, in order
	lookups   int
	cur       *Category // where option lines go; carries into included files, as in Asterisk
	files     int
	total     int64
	variables int
	stack     []string // files being read, outermost first: include loops
	depth     int      // open ;-- block comments
	blockFile string
	blockLine int
}

func (p *parser) finish() error {
	if p.depth > 0 {
		p.note(p.blockFile, p.blockLine, "block comment ;-- never closed with --;: Asterisk ignores the rest of the file")
	}
	return nil
}

func (p *parser) note(file string, line int, format string, args ...any) {
	p.conf.Notes = append(p.conf.Notes, Note{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// include reads the file (or glob) pattern, named at from:line; optional
// is #tryinclude.
func (p *parser) include(pattern, from string, line int, optional bool) error {
	fail := func(format string, args ...any) error {
		if from == "" {
			return &Error{File: pattern, Msg: fmt.Sprintf(format, args...)}
		}
		return &Error{File: from, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if len(p.stack) >= MaxIncludeDepth+1 {
		return fail("#include nested more than %d deep", MaxIncludeDepth)
	}
	paths := []string{pattern}
	if strings.ContainsAny(pattern, "*?[") {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return fail("bad #include pattern %q", pattern)
		}
		paths = matches
	}
	read := 0
	for _, path := range paths {
		for _, open := range p.stack {
			if sameFile(open, path) {
				return fail("#include loop: %s is already being read (%s)", path, strings.Join(p.stack, " -> "))
			}
		}
		if p.files >= MaxFiles {
			return fail("more than %d files", MaxFiles)
		}
		data, err := p.readFile(path, min(MaxFileSize, MaxTotalSize-p.total))
		if err != nil {
			if optional && errors.Is(err, os.ErrNotExist) {
				continue
			}
			var le *limitError
			if errors.As(err, &le) {
				what := fmt.Sprintf("larger than %d MiB", MaxFileSize>>20)
				if le.limit < MaxFileSize {
					what = fmt.Sprintf("takes the files read past %d MiB in all", MaxTotalSize>>20)
				}
				return &Error{File: path, Line: 1 + bytes.Count(le.head, []byte("\n")), Msg: what}
			}
			switch {
			case from == "":
				return &Error{File: path, Msg: reason(err)}
			case optional:
				p.note(from, line, "#tryinclude %s: %s; skipped", path, reason(err))
				continue
			}
			return fail("#include %s: %s", path, reason(err))
		}
		p.files++
		p.total += int64(len(data))
		read++
		p.stack = append(p.stack, path)
		err = p.parseFile(path, data)
		p.stack = p.stack[:len(p.stack)-1]
		if err != nil {
			return err
		}
	}
	if read == 0 && !optional {
		return fail("#include %s: no such file", pattern)
	}
	return nil
}

func sameFile(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

func reason(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

type limitError struct {
	limit int64
	head  []byte
}

func (e *limitError) Error() string { return fmt.Sprintf("larger than %d bytes", e.limit) }

// readBounded reads a regular file of at most limit bytes: a device, a
// FIFO or a huge file is refused without being read whole.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &limitError{limit: limit, head: data[:limit]}
	}
	return data, nil
}

// parseFile reads one file's lines as Asterisk's config_text_file_load
// does: ';' starts a comment, "\;" is a literal ';', ";--" ... "--;" is a
// block comment (nested, across lines), whitespace around names and
// values is trimmed.
func (p *parser) parseFile(file string, data []byte) error {
	outer := p.cur
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		if len(raw) > MaxLineLength {
			return &Error{File: file, Line: lineNo, Msg: fmt.Sprintf("line longer than %d bytes (Asterisk skips such a line)", MaxLineLength)}
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			return &Error{File: file, Line: lineNo, Msg: "NUL byte in the line: not a text file?"}
		}
		text, ok := p.stripComments(file, lineNo, raw)
		if !ok {
			continue
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		if !utf8.ValidString(text) {
			return &Error{File: file, Line: lineNo, Msg: "not valid UTF-8 (convert the file, e.g. iconv -f latin1 -t utf-8)"}
		}
		if err := p.line(file, lineNo, text); err != nil {
			return err
		}
	}
	// The including file goes on with its own current section.
	if len(p.stack) > 1 {
		p.cur = outer
	}
	return nil
}

// stripComments returns the part of the line outside comments; ok is false
// when nothing of it is outside a block comment.
func (p *parser) stripComments(file string, lineNo int, raw []byte) (string, bool) {
	var out strings.Builder
	line := string(raw)
	kept := p.depth == 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		if p.depth > 0 {
			switch {
			case strings.HasPrefix(line[i:], "--;"):
				p.depth--
				i += 2
				kept = kept || p.depth == 0
			case strings.HasPrefix(line[i:], ";--") && !strings.HasPrefix(line[i:], ";---"):
				if p.depth < maxNestedBlocks {
					p.depth++
				}
				i += 2
			}
			continue
		}
		switch {
		case c == '\\' && i+1 < len(line) && line[i+1] == ';':
			out.WriteByte(';')
			i++
		case c == ';' && strings.HasPrefix(line[i:], ";--") && !strings.HasPrefix(line[i:], ";---"):
			p.depth++
			p.blockFile, p.blockLine = file, lineNo
			i += 2
		case c == ';':
			return out.String(), true
		default:
			out.WriteByte(c)
		}
	}
	return out.String(), kept || out.Len() > 0
}

func (p *parser) line(file string, lineNo int, text string) error {
	switch text[0] {
	case '[':
		return p.header(file, lineNo, text)
	case '#':
		return p.directive(file, lineNo, text)
	}
	if p.cur == nil {
		return &Error{File: file, Line: lineNo, Msg: "option before any [section] (Asterisk refuses the file)"}
	}
	name := text
	escaped := name[0] == '\\'
	if escaped {
		name = name[1:]
		if name == "" || name[0] <= ' ' {
			return &Error{File: file, Line: lineNo, Msg: "invalid escape at the start of the line"}
		}
	}
	start := 0
	if escaped {
		start = 1 // the escaped character is part of the name, even '=' or '['
	}
	eq := strings.IndexByte(name[start:], '=')
	if eq < 0 {
		p.note(file, lineNo, "line without '=' ignored, as Asterisk does")
		return nil
	}
	eq += start
	value := name[eq+1:]
	appendTo := eq > start && name[eq-1] == '+'
	if appendTo {
		name = name[:eq-1]
	} else {
		name = name[:eq]
		value = strings.TrimPrefix(value, ">")
	}
	name = strings.TrimSpace(name)
	rawValue := value
	value = strings.TrimSpace(value)
	if name == "" {
		p.note(file, lineNo, "line without an option name ignored, as Asterisk does")
		return nil
	}
	if appendTo {
		// name += value appends to the last option of that name.
		for i := len(p.cur.Vars) - 1; i >= 0; i-- {
			if v := &p.cur.Vars[i]; v.Name == name {
				v.Value = strings.TrimSpace(v.Value + rawValue) // as Asterisk: blanks after += are kept
				v.File, v.Line = file, lineNo
				return nil
			}
		}
	}
	return p.addVar(p.cur, Var{Name: name, Value: value, File: file, Line: lineNo})
}

func (p *parser) addVar(c *Category, v Var) error {
	p.variables++
	if p.variables > MaxVariables {
		return &Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf("more than %d options in all (templates copied included)", MaxVariables)}
	}
	c.Vars = append(c.Vars, v)
	return nil
}

// header reads [name], [name](!), [name](tmpl,...), [name](+) and
// [name](+filter), as Asterisk's process_text_line does.
func (p *parser) header(file string, lineNo int, text string) error {
	end := strings.IndexByte(text, ']')
	if end < 0 {
		return &Error{File: file, Line: lineNo, Msg: "no closing ']' (Asterisk refuses the file)"}
	}
	name := text[1:end]
	rest := text[end+1:]
	newCat := &Category{Name: name, File: file, Line: lineNo}
	cat := newCat
	if strings.HasPrefix(rest, "(") {
		close := strings.IndexByte(rest, ')')
		if close < 0 {
			return &Error{File: file, Line: lineNo, Msg: "no closing ')' (Asterisk refuses the file)"}
		}
		for _, opt := range strings.Split(rest[1:close], ",") {
			switch {
			case opt == "!":
				cat.Template = true
			case strings.HasPrefix(opt, "+"):
				existing, err := p.find(name, opt[1:], false)
				if err != nil {
					return &Error{File: file, Line: lineNo, Msg: err.Error()}
				}
				if existing == nil {
					return &Error{File: file, Line: lineNo, Msg: fmt.Sprintf("[%s](+) adds to a section that does not exist before it", name)}
				}
				if newCat != nil {
					existing.Template = existing.Template || newCat.Template
					existing.Vars = append(existing.Vars, newCat.Vars...)
					newCat = nil
				}
				cat = existing
			default:
				base, err := p.find(opt, "", true)
				if err != nil {
					return &Error{File: file, Line: lineNo, Msg: err.Error()}
				}
				if base == nil {
					return &Error{File: file, Line: lineNo, Msg: fmt.Sprintf("inherits from [%s], which is not defined before it", opt)}
				}
				for _, v := range base.Vars {
					if err := p.addVar(cat, Var{Name: v.Name, Value: v.Value, File: v.File, Line: v.Line}); err != nil {
						return &Error{File: file, Line: lineNo, Msg: err.(*Error).Msg}
					}
				}
			}
		}
	}
	if newCat != nil {
		if len(p.conf.Categories) >= MaxSections {
			return &Error{File: file, Line: lineNo, Msg: fmt.Sprintf("more than %d sections", MaxSections)}
		}
		p.conf.Categories = append(p.conf.Categories, newCat)
		if p.byName == nil {
			p.byName = map[string][]*Category{}
		}
		k := strings.ToLower(newCat.Name)
		p.byName[k] = append(p.byName[k], newCat)
	}
	p.cur = cat
	return nil
}

// find returns the first section named name (case-insensitively, as
// Asterisk compares them) that passes filter ("type=endpoint&...", regular
// expressions on option names and values); templates only when
// templates is set.
func (p *parser) find(name, filter string, templates bool) (*Category, error) {
	type cond struct{ name, value *regexp.Regexp }
	var conds []cond
	if filter != "" {
		for _, f := range strings.FieldsFunc(filter, func(r rune) bool { return r == '&' || r == ',' }) {
			n, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("(+%s): want +option=value", filter)
			}
			rn, err1 := regexp.Compile(strings.TrimSpace(n))
			rv, err2 := regexp.Compile(strings.TrimSpace(v))
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("(+%s): not a regular expression", filter)
			}
			conds = append(conds, cond{rn, rv})
		}
	}
next:
	for _, c := range p.byName[strings.ToLower(name)] {
		if p.lookups++; p.lookups > maxLookups {
			return nil, fmt.Errorf("too many sections of the same name to search for templates and additions")
		}
		if c.Template && !templates {
			continue
		}
		for _, cd := range conds {
			found := false
			for _, v := range c.Vars {
				if cd.name.MatchString(v.Name) && cd.value.MatchString(v.Value) {
					found = true
					break
				}
			}
			if !found {
				continue next
			}
		}
		return c, nil
	}
	return nil, nil
}

// directive reads #include, #tryinclude and #exec.
func (p *parser) directive(file string, lineNo int, text string) error {
	word, arg := text[1:], ""
	if i := strings.IndexFunc(word, func(r rune) bool { return r <= ' ' }); i >= 0 {
		word, arg = word[:i], word[i+1:]
	}
	arg = strings.TrimSpace(arg)
	if len(arg) >= 2 && (arg[0] == '"' && arg[len(arg)-1] == '"' || arg[0] == '<' && arg[len(arg)-1] == '>') {
		arg = arg[1 : len(arg)-1]
	}
	switch strings.ToLower(word) {
	case "include", "tryinclude":
		if arg == "" {
			p.note(file, lineNo, "#%s without a file name ignored, as Asterisk does", word)
			return nil
		}
		path := arg
		if !filepath.IsAbs(path) {
			path = filepath.Join(p.opt.ConfigDir, path)
		}
		return p.include(path, file, lineNo, strings.EqualFold(word, "tryinclude"))
	case "exec":
		p.note(file, lineNo, "#exec is not run: what the program would print is not carried over")
		return nil
	}
	p.note(file, lineNo, "unknown directive #%s ignored, as Asterisk does", word)
	return nil
}
