package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/astcompanion/sidecar/companion"
)

// Load reads and validates the TOML file at path. On validation
// problems it returns ConfigErrors listing all of them, together with the
// partly filled Config, whose Warnings are still worth showing.
func Load(path string) (*companion.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse validates data as the contents of file. file is used in
// messages, and relative secret and certificate paths are read relative to
// its directory (not the working directory, which a service manager sets to
// something arbitrary).
func Parse(file string, data []byte) (*companion.Config, error) {
	var root map[string]any
	if _, err := toml.Decode(string(data), &root); err != nil {
		return nil, companion.ConfigErrors{syntaxError(file, err)}
	}
	l := &loader{file: file, dir: filepath.Dir(file), idx: indexLines(string(data))}
	cfg := l.load(root)
	sortByLine(l.errs)
	sortByLine(l.warns)
	cfg.Warnings = l.warns
	if len(l.errs) > 0 {
		return cfg, l.errs
	}
	return cfg, nil
}

func sortByLine(es []*companion.ConfigError) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// syntaxError turns a TOML parse error into a message that repeats nothing
// of the input: toml's messages quote the offending text, which may be a
// secret on a line missing its quotes.
func syntaxError(file string, err error) *companion.ConfigError {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &companion.ConfigError{File: file, Msg: "TOML syntax error"}
	}
	return &companion.ConfigError{File: file, Line: pe.Position.Line, Msg: "TOML syntax error: " + describeParseError(pe.Message)}
}

// describeParseError maps toml's messages (lex.go, parse.go of v1.6.0) to
// fixed texts, so nothing from the input can get through.
func describeParseError(msg string) string {
	for _, d := range []struct{ prefix, text string }{
		{"unexpected EOF", "unexpected end of file (an unclosed string, array or table?)"},
		{"expected a top-level item to end with", "unexpected text after the value (values are one per line; strings need quotes)"},
		{"expected end of table array name", "bad table header"},
		{"unexpected end of table name", "bad table header (empty name)"},
		{"unexpected table separator", "bad table header (empty name)"},
		{"expected '.' or ']' to end table name", "bad table header"},
		{"expected value but found", "expected a value (strings need quotes)"},
		{"unexpected '=': key name appears blank", "missing key before '='"},
		{"unexpected '.'", "bad key"},
		{"unexpected '='", "bad key"},
		{"expected '.' or '='", "expected '=' after the key"},
		{"floats must start with a digit", "bad number"},
		{"invalid float", "bad number"},
		{"Invalid float", "bad number"},
		{"Invalid integer", "bad number"},
		{"cannot use sign with non-decimal", "bad number"},
		{"expected a digit", "bad number"},
		{"not a binary number", "bad number"},
		{"not an octal number", "bad number"},
		{"not a hexadecimal number", "bad number"},
		{"unexpected comma", "unexpected comma"},
		{"expected a comma (',') or array terminator", "bad array (missing ',' or ']')"},
		{"expected a comma or an inline table terminator", "bad inline table (missing ',' or '}')"},
		{"newlines not allowed within inline tables", "inline tables must be on one line"},
		{"strings cannot contain newlines", "string not closed on its line (use \"\"\" or ''' for multi-line strings)"},
		{"invalid escape", "bad escape sequence in a string"},
		{"expected two hexadecimal digits", "bad escape sequence in a string"},
		{"expected four hexadecimal digits", "bad escape sequence in a string"},
		{"expected eight hexadecimal digits", "bad escape sequence in a string"},
		{"Escaped character", "bad escape sequence in a string"},
		{"TOML files cannot contain control characters", "control character in the file"},
		{"invalid UTF-8", "invalid UTF-8"},
		{"invalid datetime", "bad date or time"},
		{"Key '", "key or table defined twice"},
	} {
		if strings.HasPrefix(msg, d.prefix) {
			return d.text
		}
	}
	switch {
	case strings.Contains(msg, "is out of range"), strings.Contains(msg, "out of the safe"):
		return "number out of range"
	case strings.Contains(msg, "is not a table"):
		return "key or table defined twice"
	}
	return "invalid TOML"
}

type loader struct {
	file  string
	dir   string
	idx   *lineIndex
	errs  companion.ConfigErrors
	warns []*companion.ConfigError

	eidAuto bool // eid absent or "auto", as opposed to invalid
}

func (l *loader) errorf(line int, key, format string, args ...any) {
	l.errs = append(l.errs, &companion.ConfigError{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(line int, key, format string, args ...any) {
	l.warns = append(l.warns, &companion.ConfigError{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// section is one TOML table being validated.
type section struct {
	l     *loader
	m     map[string]any
	path  []string // index path
	name  string   // key prefix in messages; "" at the top level
	known []string
}

func subPath(path []string, more ...string) []string {
	return append(append([]string(nil), path...), more...)
}

func (s *section) key(k string) string {
	if s.name == "" {
		return k
	}
	return s.name + "." + k
}

func (s *section) header() int { return s.l.idx.line(s.path...) }

// line of key k, or of the table header when k is not in the file.
func (s *section) line(k string) int {
	if n := s.l.idx.line(subPath(s.path, k)...); n > 0 {
		return n
	}
	return s.header()
}

func (s *section) errorf(k, format string, args ...any) {
	s.l.errorf(s.line(k), s.key(k), format, args...)
}

func (s *section) warnf(k, format string, args ...any) {
	s.l.warnf(s.line(k), s.key(k), format, args...)
}

func (s *section) has(k string) bool {
	_, ok := s.m[k]
	return ok
}

// require reports a missing key at the table header.
func (s *section) require(k string) bool {
	if s.has(k) {
		return true
	}
	s.l.errorf(s.header(), s.key(k), "missing (required)")
	return false
}

func (s *section) typeError(k, want string, v any) {
	s.errorf(k, "must be %s, not %s", want, tomlType(v))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date/time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// str returns the string at k; ok is false when k is absent or not a string
// (which is reported).
func (s *section) str(k string) (string, bool) {
	v, ok := s.m[k]
	if !ok {
		return "", false
	}
	str, ok := v.(string)
	if !ok {
		s.typeError(k, "a string", v)
	}
	return str, ok
}

func (s *section) boolean(k string) (bool, bool) {
	v, ok := s.m[k]
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		s.typeError(k, "a boolean (true or false)", v)
	}
	return b, ok
}

func (s *section) integer(k string) (int64, bool) {
	v, ok := s.m[k]
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		s.typeError(k, "an integer", v)
	}
	return n, ok
}

// strings returns the array of strings at k, with the index path of each
// element for messages.
func (s *section) strings(k string) ([]string, bool) {
	v, ok := s.m[k]
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		s.typeError(k, "an array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	good := true
	for i, e := range arr {
		str, ok := e.(string)
		if !ok {
			s.elemErrorf(k, i, "must be a string, not %s", tomlType(e))
			good = false
		}
		out = append(out, str)
	}
	return out, good
}

func (s *section) elemLine(k string, i int) int {
	if n := s.l.idx.line(subPath(s.path, k, elem(i))...); n > 0 {
		return n
	}
	return s.line(k)
}

func (s *section) elemKey(k string, i int) string { return fmt.Sprintf("%s[%d]", s.key(k), i+1) }

func (s *section) elemErrorf(k string, i int, format string, args ...any) {
	s.l.errorf(s.elemLine(k, i), s.elemKey(k, i), format, args...)
}

// table returns the sub-table at k, nil when absent or not a table.
func (s *section) table(k string, known ...string) *section {
	v, ok := s.m[k]
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		s.typeError(k, "a table", v)
		return nil
	}
	return &section{l: s.l, m: m, path: subPath(s.path, k), name: s.key(k), known: known}
}

// tables returns the array of tables at k ([[k]] or k = [{...}, ...]).
func (s *section) tables(k string) ([]map[string]any, bool) {
	v, ok := s.m[k]
	if !ok {
		return nil, false
	}
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				s.errorf(k, "must be an array of tables: write [[%s]] sections", k)
				return nil, false
			}
			out[i] = m
		}
		return out, true
	}
	s.errorf(k, "must be an array of tables: write [[%s]], not [%s]", k, k)
	return nil, false
}

// checkKnown reports keys the schema does not have. Keys are matched
// case-sensitively, as TOML does; a near miss gets a suggestion.
func (s *section) checkKnown() {
	var unknown []string
	for k := range s.m {
		if !slices.Contains(s.known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		what := "unknown key"
		if _, ok := s.m[k].(map[string]any); ok {
			what = "unknown table"
		}
		if alt := suggest(k, s.known); alt != "" {
			s.errorf(k, "%s (did you mean %q?)", what, alt)
		} else {
			s.errorf(k, "%s (known: %s)", what, strings.Join(s.known, ", "))
		}
	}
}

func suggest(k string, known []string) string {
	best, bestDist := "", 3
	for _, c := range known {
		if strings.EqualFold(k, c) {
			return c
		}
		if d := editDistance(strings.ToLower(k), c); d < bestDist && d <= max(1, len(c)/3) {
			best, bestDist = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// secret reads one of base, base_env, base_file.
func (s *section) secret(base string) (sec companion.Secret, set bool) {
	keys := []string{base, base + "_env", base + "_file"}
	var present []string
	for _, k := range keys {
		if s.has(k) {
			present = append(present, k)
		}
	}
	if len(present) == 0 {
		return companion.Secret{}, false
	}
	if len(present) > 1 {
		last := present[0]
		for _, k := range present {
			if s.line(k) > s.line(last) {
				last = k
			}
		}
		s.errorf(last, "set only one of %s, %s_env or %s_file (found %s)", base, base, base, strings.Join(present, " and "))
		return companion.Secret{}, true
	}
	k := present[0]
	v, ok := s.str(k)
	if !ok {
		return companion.Secret{}, true
	}
	return s.readSecret(k, strings.TrimPrefix(k, base), v)
}

// readSecret resolves the value v of key k: the secret itself (source ""),
// the name of an environment variable ("_env") or a file path ("_file").
// Errors never repeat v: a secret typed where its variable name or path
// belongs must not end up in a log.
func (s *section) readSecret(k, source, v string) (companion.Secret, bool) {
	switch source {
	case "":
		if v == "" {
			s.errorf(k, "is empty")
			return companion.Secret{}, true
		}
		return companion.NewSecret(v, "inline"), true
	case "_env":
		if !isEnvName(v) {
			s.errorf(k, "is not an environment variable name (letters, digits and _, not starting with a digit); the value itself is not repeated here")
			return companion.Secret{}, true
		}
		val, ok := os.LookupEnv(v)
		switch {
		case !ok:
			s.errorf(k, "the environment variable named here is not set")
		case val == "":
			s.errorf(k, "the environment variable named here is empty")
		default:
			return companion.NewSecret(val, "env "+v), true
		}
		return companion.Secret{}, true
	default:
		if v == "" {
			s.errorf(k, "names no file")
			return companion.Secret{}, true
		}
		path := s.l.resolve(v)
		data, err := readSecretFile(path)
		if err != nil {
			s.errorf(k, "cannot read the file named here: %s", reason(err))
			return companion.Secret{}, true
		}
		val := string(data)
		if strings.HasSuffix(val, "\r\n") {
			val = val[:len(val)-2]
		} else {
			val = strings.TrimSuffix(val, "\n")
		}
		if val == "" {
			s.errorf(k, "file %s is empty", path)
			return companion.Secret{}, true
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
			s.warnf(k, "file %s is readable by every user of this host (chmod o-r)", path)
		}
		return companion.NewSecret(val, "file "+path), true
	}
}

func isEnvName(v string) bool {
	for i, c := range v {
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return v != ""
}

// credentials reads a username with its password (or secret): both or
// neither, or both when required.
func (s *section) credentials(userKey, base string, required bool) (string, companion.Secret) {
	user, hasUser := s.str(userKey)
	sec, hasSec := s.secret(base)
	if hasUser && user == "" {
		s.errorf(userKey, "is empty")
		return "", companion.Secret{}
	}
	switch {
	case required && !s.has(userKey):
		s.require(userKey)
	case hasUser && !hasSec:
		s.errorf(userKey, "needs %s, %s_env or %s_file", base, base, base)
	case hasSec && !s.has(userKey):
		for _, k := range []string{base, base + "_env", base + "_file"} {
			if s.has(k) {
				s.errorf(k, "needs %s", userKey)
				break
			}
		}
	}
	return user, sec
}

// readSecretFile refuses devices and FIFOs, which could block or never end.
func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if fi.Size() > 64<<10 {
		return nil, errors.New("larger than 64 KiB, not a secret")
	}
	return os.ReadFile(path)
}

func checkReadable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

func (l *loader) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(l.dir, path)
}

// reason is the cause of a file error without the operation and path.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (s *section) filter(k string) companion.Filter {
	p, ok := s.str(k)
	if !ok {
		return companion.Filter{}
	}
	f, err := companion.CompileFilter(p)
	if err != nil {
		s.errorf(k, "%v", err)
	}
	return f
}

func (l *loader) load(root map[string]any) *companion.Config {
	cfg := &companion.Config{File: l.file}
	rs := &section{l: l, m: root, known: []string{"companion", "ami", "ari", "apply", "peer", "sorcery", "fleet"}}
	rs.checkKnown()

	if node := rs.table("companion", "name", "eid", "sip_listen", "tls_cert_file", "tls_key_file", "tls_ca_file",
		"sip_max_connections", "sip_max_connections_per_source", "sip_message_timeout", "sip_idle_timeout", "state_dir",
		"http_listen"); node != nil {
		l.node(node, &cfg.Node)
	} else if !rs.has("companion") {
		l.errorf(0, "companion", "missing section [companion] (name is required)")
	}
	if s := rs.table("ami", "address", "username", "secret", "secret_env", "secret_file", "reconnect_interval", "action_timeout"); s != nil {
		cfg.AMI = l.ami(s)
	}
	if s := rs.table("ari", "url", "username", "password", "password_env", "password_file", "timeout", "state_file"); s != nil {
		cfg.ARI = l.ari(s)
	}
	apply := rs.table("apply", "device_state", "device_name", "mailbox_state", "device_clear_state")
	if apply == nil {
		apply = &section{l: l, m: map[string]any{}, path: []string{"apply"}, name: "apply"}
	}
	l.apply(apply, &cfg.Apply)
	if cfg.Node.StateDir == "" {
		cfg.Node.StateDir = companion.DefaultStateDir
	}
	cfg.Apply.LedgerFile = filepath.Join(cfg.Node.StateDir, "applied.json")
	if cfg.ARI != nil && cfg.ARI.StateFile == "" {
		cfg.ARI.StateFile = filepath.Join(cfg.Node.StateDir, "provisioned.json")
	}
	if peers, ok := rs.tables("peer"); ok {
		l.peers(rs, peers, cfg)
	}
	if objs, ok := rs.tables("sorcery"); ok {
		l.sorcery(objs, cfg)
	}
	if s := rs.table("fleet", fleetKeys...); s != nil {
		cfg.Fleet = l.fleet(s)
	}
	l.crossCheck(rs, apply, cfg)
	return cfg
}

func (l *loader) node(s *section, n *companion.NodeConfig) {
	s.checkKnown()
	if s.require("name") {
		if name, ok := s.str("name"); ok {
			if strings.TrimSpace(name) == "" {
				s.errorf("name", "is empty")
			}
			n.Name = name
		}
	}
	v, ok := s.str("eid")
	l.eidAuto = !s.has("eid") || v == "auto"
	if ok && v != "auto" {
		eid, err := companion.ParseEntityID(v)
		switch {
		case err != nil:
			s.errorf("eid", "want \"auto\" or six hex byte pairs such as \"02:42:ac:11:00:02\"")
		case eid.IsZero():
			s.errorf("eid", "00:00:00:00:00:00 is not a usable Entity ID")
		default:
			n.EID = eid
		}
	}
	if list, ok := s.strings("sip_listen"); ok {
		seen := map[string]int{}
		for i, v := range list {
			ln, err := parseListener(v)
			if err != nil {
				s.elemErrorf("sip_listen", i, "%v", err)
				continue
			}
			if j, dup := seen[ln.String()]; dup {
				s.elemErrorf("sip_listen", i, "%s is already listed (sip_listen[%d])", ln, j+1)
				continue
			}
			seen[ln.String()] = i
			n.SIPListen = append(n.SIPListen, ln)
		}
	}
	needTLS := false
	for _, ln := range n.SIPListen {
		needTLS = needTLS || ln.Transport == "tls"
	}
	for _, k := range []string{"tls_cert_file", "tls_key_file"} {
		v, ok := s.str(k)
		switch {
		case !ok && needTLS && !s.has(k):
			s.errorf(k, "required by the tls:// listener")
		case !ok:
		case v == "":
			s.errorf(k, "is empty")
		default:
			path := s.l.resolve(v)
			if err := checkReadable(path); err != nil {
				s.errorf(k, "cannot read %s: %s", path, reason(err))
			}
			if !needTLS {
				s.warnf(k, "unused: no tls:// listener in sip_listen")
			}
			if k == "tls_cert_file" {
				n.TLSCertFile = path
			} else {
				n.TLSKeyFile = path
			}
		}
	}
	n.StateDir = companion.DefaultStateDir
	if v, ok := s.str("state_dir"); ok {
		if v == "" {
			s.errorf("state_dir", "must not be empty")
		} else {
			n.StateDir = l.resolve(v)
		}
	}
	n.SIPMaxConnections = s.positive("sip_max_connections")
	n.SIPMaxConnectionsPerSource = s.positive("sip_max_connections_per_source")
	if n.SIPMaxConnections > 0 && n.SIPMaxConnectionsPerSource > n.SIPMaxConnections {
		s.errorf("sip_max_connections_per_source", "is more than sip_max_connections (%d)", n.SIPMaxConnections)
	}
	n.SIPMessageTimeout, _ = s.duration("sip_message_timeout")
	n.SIPIdleTimeout, _ = s.duration("sip_idle_timeout")
	s.httpListen(n)
	if v, ok := s.str("tls_ca_file"); ok {
		path := s.l.resolve(v)
		if err := checkReadable(path); v == "" || err != nil {
			s.errorf("tls_ca_file", "cannot read %s", path)
		} else {
			n.TLSCAFile = path
		}
	}
}

// parseListener reads "udp://host:port", "tcp://..." or "tls://...".
func parseListener(v string) (companion.Listener, error) {
	const want = "want udp://host:port, tcp://host:port or tls://host:port"
	scheme, hp, ok := strings.Cut(v, "://")
	if !ok {
		return companion.Listener{}, fmt.Errorf("%q: %s", v, want)
	}
	switch scheme {
	case "udp", "tcp", "tls":
	default:
		return companion.Listener{}, fmt.Errorf("%q: transport must be udp, tcp or tls", v)
	}
	host, port, err := companion.ParseHostPort(hp)
	if err != nil {
		return companion.Listener{}, fmt.Errorf("%q: %v", v, err)
	}
	if port == 0 {
		return companion.Listener{}, fmt.Errorf("%q: port required (%s)", v, want)
	}
	return companion.Listener{Transport: scheme, Host: host, Port: port}, nil
}

func (l *loader) ami(s *section) *companion.AMIConfig {
	s.checkKnown()
	a := &companion.AMIConfig{Address: companion.DefaultAMIAddress, ReconnectInterval: companion.DefaultAMIReconnectInterval, ActionTimeout: companion.DefaultAMIActionTimeout}
	if v, ok := s.str("address"); ok {
		if _, port, err := companion.ParseHostPort(v); err != nil || port == 0 {
			s.errorf("address", "want host:port, e.g. \"127.0.0.1:5038\"")
		} else {
			a.Address = v
		}
	}
	a.Username, a.Secret = s.credentials("username", "secret", true)
	if d, ok := s.duration("reconnect_interval"); ok {
		a.ReconnectInterval = d
	}
	if d, ok := s.duration("action_timeout"); ok {
		a.ActionTimeout = d
	}
	return a
}

func (l *loader) ari(s *section) *companion.ARIConfig {
	s.checkKnown()
	// StateFile defaults to [companion] state_dir/provisioned.json (load).
	a := &companion.ARIConfig{URL: companion.DefaultARIURL, Timeout: companion.DefaultARITimeout}
	if v, ok := s.str("url"); ok {
		// url.Parse errors quote the input, which could hold credentials.
		u, err := url.Parse(v)
		switch {
		case err != nil:
			s.errorf("url", "not a URL; want e.g. \"http://127.0.0.1:8088/ari\"")
		case u.User != nil:
			s.errorf("url", "must not contain credentials; set username and password")
		case u.Scheme != "http" && u.Scheme != "https":
			s.errorf("url", "scheme must be http or https")
		case u.Host == "" || u.Hostname() == "":
			s.errorf("url", "has no host")
		case u.RawQuery != "" || u.Fragment != "":
			s.errorf("url", "must not have a query or fragment")
		default:
			a.URL = strings.TrimRight(v, "/")
			if !strings.HasSuffix(u.Path, "/ari") && !strings.HasSuffix(u.Path, "/ari/") {
				s.warnf("url", "path does not end in /ari, where Asterisk serves ARI (unless http.conf sets a prefix)")
			}
		}
	}
	a.Username, a.Password = s.credentials("username", "password", true)
	if d, ok := s.duration("timeout"); ok {
		a.Timeout = d
	}
	if v, ok := s.str("state_file"); ok {
		if v == "" {
			s.errorf("state_file", "must not be empty")
		} else {
			a.StateFile = v
		}
	}
	return a
}

// duration reads an optional positive duration string such as "2s".
// positive reads an optional integer bound; 0 when absent or wrong.
func (s *section) positive(k string) int {
	v, ok := s.integer(k)
	if !ok {
		return 0
	}
	if v <= 0 || v > 1<<31-1 {
		s.errorf(k, "want a whole number from 1 to 2147483647")
		return 0
	}
	return int(v)
}

func (s *section) duration(k string) (time.Duration, bool) {
	v, ok := s.m[k]
	if !ok {
		return 0, false
	}
	str, isStr := v.(string)
	d, err := time.ParseDuration(str)
	switch {
	case !isStr:
		s.typeError(k, "a duration string such as \"2s\"", v)
	case err != nil:
		s.errorf(k, "want a duration such as \"2s\" or \"500ms\"")
	case d <= 0:
		s.errorf(k, "must be greater than zero")
	default:
		return d, true
	}
	return 0, false
}

// interval reads an optional interval that can be turned off: a duration
// string of at least one second, or "off" (also "0s"), which gives
// companion.Off. Absent or wrong: 0, false.
func (s *section) interval(k string) (time.Duration, bool) {
	v, ok := s.m[k]
	if !ok {
		return 0, false
	}
	str, isStr := v.(string)
	if !isStr {
		s.typeError(k, "a duration string such as \"30s\", or \"off\"", v)
		return 0, false
	}
	if strings.EqualFold(str, "off") {
		return companion.Off, true
	}
	d, err := time.ParseDuration(str)
	switch {
	case err != nil:
		s.errorf(k, "want a duration such as \"30s\" or \"5m\", or \"off\"")
	case d == 0:
		return companion.Off, true
	case d < time.Second:
		s.errorf(k, "must be at least \"1s\" (or \"off\")")
	default:
		return d, true
	}
	return 0, false
}

func (l *loader) apply(s *section, a *companion.ApplyConfig) {
	s.checkKnown()
	mode := func(k string) companion.ApplyMode {
		v, ok := s.str(k)
		if !ok {
			return companion.ApplyAMI
		}
		switch m := companion.ApplyMode(v); m {
		case companion.ApplyAMI, companion.ApplyARI, companion.ApplyNone:
			return m
		}
		s.errorf(k, "must be \"ami\", \"ari\" or \"none\"")
		return companion.ApplyAMI
	}
	a.DeviceState = mode("device_state")
	a.MailboxState = mode("mailbox_state")

	a.ClearDeviceState = companion.Unavailable
	if v, ok := s.str("device_clear_state"); ok {
		if st, known := companion.ParseDeviceState(v); known {
			a.ClearDeviceState = st
		} else {
			s.errorf("device_clear_state", "want a device state such as \"UNAVAILABLE\" or \"NOT_INUSE\"")
		}
	}
	switch a.DeviceState {
	case companion.ApplyAMI:
		a.DeviceName = companion.DefaultAMIDeviceName
	case companion.ApplyARI:
		a.DeviceName = companion.DefaultARIDeviceName
	}
	v, ok := s.str("device_name")
	if !ok {
		return
	}
	if a.DeviceState == companion.ApplyNone {
		s.warnf("device_name", "unused: apply.device_state is \"none\"")
		return
	}
	if err := checkDeviceName(v, a.DeviceState); err != nil {
		s.errorf("device_name", "%v", err)
		return
	}
	a.DeviceName = companion.DeviceNameTemplate(v)
}

func checkDeviceName(t string, mode companion.ApplyMode) error {
	prefix, why := "Custom:", "AMI can set only Custom: devices"
	if mode == companion.ApplyARI {
		prefix, why = "Stasis:", "ARI can set only Stasis: devices"
	}
	if !strings.HasPrefix(t, prefix) {
		return fmt.Errorf("must start with %q when device_state = %q (%s)", prefix, mode, why)
	}
	rest := t
	hasDevice := false
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("unclosed '{'")
		}
		switch ph := rest[i : i+j+1]; ph {
		case "{device}":
			hasDevice = true
		case "{peer}", "{eid}":
		default:
			return fmt.Errorf("unknown placeholder %s (use {device}, {peer}, {eid})", ph)
		}
		rest = rest[i+j+1:]
	}
	if !hasDevice {
		return fmt.Errorf("must contain {device}, or every remote device would land on one local device")
	}
	return nil
}

var peerKeys = []string{"name", "publish", "accept"}
var publishKeys = []string{"server_uri", "device_state", "mailbox_state", "device_state_filter", "mailbox_state_filter",
	"expiration", "from_uri", "to_uri", "username", "password", "password_env", "password_file", "resend_interval",
	"max_in_flight"}
var acceptKeys = []string{"resource", "match", "username", "password", "password_env", "password_file",
	"device_state", "mailbox_state", "device_state_filter", "mailbox_state_filter", "refresh",
	"eids", "max_publications", "max_keys", "max_eids", "max_expires", "qualify_frequency", "qualify_attempts",
	"ignore_mwi_devices", "ignore_invalid", "ignore_devices"}

func (l *loader) peers(rs *section, peers []map[string]any, cfg *companion.Config) {
	names := map[string]int{}     // name -> line
	resources := map[string]int{} // resource -> line
	for i, m := range peers {
		ps := &section{l: l, m: m, path: []string{"peer", elem(i)}, name: fmt.Sprintf("peer[%d]", i+1), known: peerKeys}
		var p companion.PeerConfig
		if ps.require("name") {
			if name, ok := ps.str("name"); ok {
				switch {
				case name == "":
					ps.errorf("name", "is empty")
				case strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
					ps.errorf("name", "must not contain spaces or control characters")
				default:
					p.Name = name
					if m, ok := rs.m["companion"].(map[string]any); ok && m["name"] == name {
						ps.warnf("name", "is this node's own name (companion.name): a copy of the other side's file?")
					}
					// A duplicate keeps its index, so messages tell the two apart.
					if first, dup := names[name]; dup {
						ps.errorf("name", "duplicate peer name %q (first at line %d)", name, first)
					} else {
						names[name] = ps.line("name")
						ps.name = fmt.Sprintf("peer %q", name)
					}
				}
			}
		}
		ps.checkKnown()
		if s := ps.table("publish", publishKeys...); s != nil {
			p.Publish = l.publish(s)
		}
		if s := ps.table("accept", acceptKeys...); s != nil {
			p.Accept = l.accept(s, p.Name, p.Publish != nil)
			ignoredDevicesDefault(s, cfg.Node.Name, &p)
			if r := p.Accept.Resource; r != "" {
				if first, dup := resources[r]; dup {
					s.errorf("resource", "resource %q is already used by another peer (line %d)", r, first)
				} else {
					resources[r] = s.line("resource")
				}
			}
		}
		if p.Publish == nil && p.Accept == nil && !ps.has("publish") && !ps.has("accept") {
			l.warnf(ps.header(), ps.name, "has neither [peer.publish] nor [peer.accept]: it does nothing")
		}
		cfg.Peers = append(cfg.Peers, p)
	}
}

func (l *loader) publish(s *section) *companion.PublishConfig {
	s.checkKnown()
	p := &companion.PublishConfig{Expiration: companion.DefaultPublishExpiration}
	if s.require("server_uri") {
		if v, ok := s.str("server_uri"); ok {
			u, err := companion.ParseSIPURI(v)
			switch {
			case err != nil:
				s.errorf("server_uri", "%v", err)
			case u.User == "":
				s.errorf("server_uri", "needs a user part, the resource the peer accepts publications on (sip:RESOURCE@host)")
			case !slices.Contains([]string{"", "udp", "tcp", "tls"}, u.Transport()):
				s.errorf("server_uri", "transport=%s: the companion sends over udp, tcp or tls", u.Transport())
			case u.Scheme == "sips" && u.Transport() == "udp":
				s.errorf("server_uri", "sips: needs a secure transport; drop transport=udp or use sip:")
			default:
				p.ServerURI = u
			}
		}
	}
	p.FromURI, p.ToURI = p.ServerURI.Identity(), p.ServerURI.Identity()
	for _, k := range []string{"from_uri", "to_uri"} {
		if v, ok := s.str(k); ok {
			u, err := companion.ParseSIPURI(v)
			if err != nil {
				s.errorf(k, "%v", err)
				continue
			}
			if k == "from_uri" {
				p.FromURI = u
			} else {
				p.ToURI = u
			}
		}
	}
	p.DeviceState, _ = s.boolean("device_state")
	p.MailboxState, _ = s.boolean("mailbox_state")
	p.DeviceStateFilter = s.filter("device_state_filter")
	p.MailboxStateFilter = s.filter("mailbox_state_filter")
	if n, ok := s.integer("expiration"); ok {
		switch {
		case n < 1:
			s.errorf("expiration", "must be at least 1 (seconds)")
		case n > math.MaxInt32:
			s.errorf("expiration", "too large (seconds)")
		default:
			if n < 60 {
				s.warnf("expiration", "%d seconds is short: a receiver with a higher minimum answers 423 Interval Too Brief, and refreshes come that often", n)
			}
			p.Expiration = time.Duration(n) * time.Second
		}
	}
	p.Username, p.Password = s.credentials("username", "password", false)
	p.ResendInterval, _ = s.interval("resend_interval")
	if n, ok := s.integer("max_in_flight"); ok {
		if n < 1 || n > companion.MaxMaxInFlight {
			s.errorf("max_in_flight", "want a whole number from 1 to %d (publications side by side per event)", companion.MaxMaxInFlight)
		} else {
			p.MaxInFlight = int(n)
		}
	}
	if s.offOrAbsent("device_state") && s.offOrAbsent("mailbox_state") {
		l.warnf(s.header(), s.name, "sends nothing: set device_state = true and/or mailbox_state = true (both default to false)")
	}
	warnIdleFilter(s, p.DeviceState, "device_state")
	warnIdleFilter(s, p.MailboxState, "mailbox_state")
	return p
}

// offOrAbsent is true for a switch that is false or unset, not for one of
// the wrong type (already reported).
func (s *section) offOrAbsent(k string) bool {
	v, ok := s.m[k]
	return !ok || v == false
}

func warnIdleFilter(s *section, on bool, k string) {
	if !on && s.has(k+"_filter") {
		if v, _ := s.m[k+"_filter"].(string); v != "" {
			s.warnf(k+"_filter", "has no effect: %s is not true", k)
		}
	}
}

func (l *loader) accept(s *section, peer string, hasPublish bool) *companion.AcceptConfig {
	s.checkKnown()
	a := &companion.AcceptConfig{Resource: peer}
	if v, ok := s.str("resource"); ok {
		if !companion.ValidURIUser(v) {
			s.errorf("resource", "must be a valid SIP URI user part (letters, digits, - _ . ! ~ * ' ( ) and %%HH)")
		}
		a.Resource = v
	} else if !s.has("resource") && peer != "" && !companion.ValidURIUser(peer) {
		s.errorf("resource", "defaults to the peer name, which is not a valid SIP URI user part: set resource")
	}
	if list, ok := s.strings("match"); ok {
		for i, v := range list {
			p, err := parseMatch(v)
			if err != nil {
				s.elemErrorf("match", i, "%v", err)
				continue
			}
			if p != p.Masked() {
				s.l.warnf(s.elemLine("match", i), s.elemKey("match", i), "%s has host bits set; read as %s", v, p.Masked())
				p = p.Masked()
			}
			a.Match = append(a.Match, p)
		}
	}
	a.Username, a.Password = s.credentials("username", "password", false)
	a.DeviceState, _ = s.boolean("device_state")
	a.MailboxState, _ = s.boolean("mailbox_state")
	a.DeviceStateFilter = s.filter("device_state_filter")
	a.MailboxStateFilter = s.filter("mailbox_state_filter")
	a.Refresh, _ = s.boolean("refresh")
	l.noise(s, a)
	if list, ok := s.strings("eids"); ok {
		for i, v := range list {
			eid, err := companion.ParseEntityID(v)
			if err != nil || eid.IsZero() {
				s.elemErrorf("eids", i, "want six hex byte pairs such as \"02:42:ac:11:00:02\"")
				continue
			}
			a.EIDs = append(a.EIDs, eid)
		}
	}
	a.MaxPublications = s.positive("max_publications")
	a.MaxKeys = s.positive("max_keys")
	a.MaxEIDs = s.positive("max_eids")
	if a.MaxEIDs > 0 && len(a.EIDs) > a.MaxEIDs {
		s.errorf("max_eids", "is less than the %d eids pinned", len(a.EIDs))
	}
	if d, ok := s.duration("max_expires"); ok {
		if d < time.Second || d%time.Second != 0 {
			s.errorf("max_expires", "want whole seconds, at least \"1s\"")
		} else {
			a.MaxExpires = d
		}
	}
	a.QualifyFrequency, _ = s.interval("qualify_frequency")
	a.QualifyAttempts = s.positive("qualify_attempts")
	if !hasPublish && a.QualifyFrequency > 0 {
		s.warnf("qualify_frequency", "has no effect: OPTIONS go to [peer.publish] server_uri, and this peer has no [peer.publish]")
	}
	if !s.has("match") && !s.has("username") {
		l.errorf(s.header(), s.name, "accepts publications from anyone: set match (source addresses) and/or username (digest auth); "+
			"to allow every address, say so: match = [\"0.0.0.0/0\", \"::/0\"]")
	} else if v, ok := s.m["match"].([]any); ok && len(v) == 0 && !s.has("username") {
		s.errorf("match", "is empty and there is no username: nobody could publish")
	}
	if a.Refresh && !hasPublish {
		s.errorf("refresh", "needs [peer.publish]: refresh requests and the answers to them go out through the publisher")
	}
	if s.offOrAbsent("device_state") && s.offOrAbsent("mailbox_state") {
		l.warnf(s.header(), s.name, "applies nothing: set device_state = true and/or mailbox_state = true (both default to false, as in Asterisk; "+
			"the peer's PUBLISHes are answered 200 and dropped)")
	}
	warnIdleFilter(s, a.DeviceState, "device_state")
	warnIdleFilter(s, a.MailboxState, "mailbox_state")
	return a
}

// parseMatch reads an address (a /32 or /128) or a CIDR.
func parseMatch(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR", v)
		}
		// An IPv4-mapped prefix (::ffff:10.0.0.0/104) means the IPv4
		// network; sources are compared unmapped.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR (host names are not resolved)", v)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: zones are not allowed", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (l *loader) sorcery(objs []map[string]any, cfg *companion.Config) {
	seen := map[string]int{}
	for i, m := range objs {
		s := &section{l: l, m: m, path: []string{"sorcery", elem(i)}, name: fmt.Sprintf("sorcery[%d]", i+1),
			known: []string{"class", "type", "id", "fields"}}
		s.checkKnown()
		o := companion.SorceryObject{Line: s.header()}
		good := true
		for _, k := range []string{"class", "type", "id"} {
			if !s.require(k) {
				good = false
				continue
			}
			v, ok := s.str(k)
			if !ok {
				good = false
				continue
			}
			if err := checkPathSegment(v); err != nil {
				s.errorf(k, "%v", err)
				good = false
			}
			switch k {
			case "class":
				o.Class = v
			case "type":
				o.Type = v
			default:
				o.ID = v
			}
		}
		if good {
			if first, dup := seen[o.Path()]; dup {
				l.errorf(o.Line, s.name, "%s is already defined (line %d)", o.Path(), first)
			} else {
				seen[o.Path()] = o.Line
			}
		}
		if fs := s.table("fields"); fs != nil {
			o.Fields = l.sorceryFields(fs)
		}
		if good && o.Class == "res_pjsip" && o.Type == "endpoint" {
			if _, ok := o.Field("allow"); !ok {
				l.warnf(o.Line, s.name, "endpoint without allow: Asterisk accepts the PUT, but an endpoint without codecs cannot be read back")
			}
		}
		cfg.Sorcery = append(cfg.Sorcery, o)
	}
}

func (l *loader) sorceryFields(s *section) []companion.SorceryField {
	order := append([]string(nil), s.l.idx.keys(s.path...)...)
	var rest []string
	for k := range s.m {
		if !slices.Contains(order, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	var out []companion.SorceryField
	for _, k := range append(order, rest...) {
		v, ok := s.m[k]
		if !ok {
			continue
		}
		if k == "" {
			s.errorf(k, "field name is empty")
			continue
		}
		var val string
		switch v := v.(type) {
		case string:
			val = v
		case int64:
			val = strconv.FormatInt(v, 10)
		case bool:
			val = "no"
			if v {
				val = "yes"
			}
		case float64:
			s.errorf(k, "must be a string, integer or boolean, not a float (write it as a string, e.g. \"3.0\")")
			continue
		case map[string]any:
			sec, ok := s.fieldSecret(k, v)
			if !ok {
				continue
			}
			out = append(out, companion.SecretSorceryField(k, sec.Reveal()))
			continue
		default:
			s.errorf(k, "must be a string, integer or boolean, not %s", tomlType(v))
			continue
		}
		out = append(out, companion.SorceryField{Name: k, Value: val})
	}
	return out
}

// fieldSecret reads a field given as { env = "NAME" } or { file = "PATH" },
// for passwords that should not be written into the configuration file.
func (s *section) fieldSecret(k string, m map[string]any) (companion.Secret, bool) {
	if len(m) == 1 {
		for source, v := range m {
			str, isString := v.(string)
			if (source == "env" || source == "file") && isString {
				inline := &section{l: s.l, m: m, path: subPath(s.path, k), name: s.key(k)}
				sec, _ := inline.readSecret(source, "_"+source, str)
				return sec, !sec.IsZero()
			}
		}
	}
	s.errorf(k, "must be a string, integer, boolean, { env = \"NAME\" } or { file = \"PATH\" }")
	return companion.Secret{}, false
}

// checkPathSegment allows only RFC 3986 unreserved characters: the ARI
// client puts class, type and id into the URL path unescaped.
func checkPathSegment(v string) error {
	if v == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range v {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune("-._~", r):
		default:
			return fmt.Errorf("%q is not allowed: only A-Z a-z 0-9 - . _ ~ can go unescaped into the ARI URL path", r)
		}
	}
	return nil
}

// crossCheck finds problems that span sections.
func (l *loader) crossCheck(rs *section, apply *section, cfg *companion.Config) {
	node := &section{l: l, m: map[string]any{}, path: []string{"companion"}, name: "companion"}
	if m, ok := rs.m["companion"].(map[string]any); ok {
		node.m = m
	}
	var accepting []string
	acceptsDevice, acceptsMailbox := false, false
	for i, p := range cfg.Peers {
		label := peerLabel(p, i)
		if p.Accept != nil {
			accepting = append(accepting, label)
			acceptsDevice = acceptsDevice || p.Accept.DeviceState
			acceptsMailbox = acceptsMailbox || p.Accept.MailboxState
		}
		if cfg.AMI == nil && p.Publish != nil && (p.Publish.DeviceState || p.Publish.MailboxState) {
			l.errorf(l.idx.line("peer", elem(i), "publish"), label+".publish",
				"publishes local state, which the companion reads over AMI: add an [ami] section")
		}
	}
	udp := ""
	for _, ln := range cfg.Node.SIPListen {
		if ln.Transport == "udp" {
			udp = ln.String()
			break
		}
	}
	for i, p := range cfg.Peers {
		if udp != "" && p.Accept != nil && p.Accept.Username == "" && !loopbackOnly(p.Accept.Match) {
			l.warnf(l.idx.line("peer", elem(i), "accept"), peerLabel(p, i)+".accept",
				"accepted by source address alone while %s listens: a UDP source address can be forged by anyone who can reach it; "+
					"set username and password (digest), or take this peer over tls:// only", udp)
		}
	}
	if list, isList := node.m["sip_listen"].([]any); len(accepting) > 0 && (!node.has("sip_listen") || isList && len(list) == 0) {
		node.errorf("sip_listen", "required: %s accepts publications, which need a SIP listener", accepting[0])
	}
	if l.eidAuto && cfg.ARI == nil {
		node.errorf("eid", "eid = \"auto\" reads the Entity ID over ARI: add an [ari] section or set eid")
	}
	if cfg.ARI == nil {
		for _, k := range []string{"device_state", "mailbox_state"} {
			if v, _ := apply.m[k].(string); v == "ari" {
				apply.errorf(k, "\"ari\" needs an [ari] section")
			}
		}
	}
	if cfg.ARI == nil && len(cfg.Sorcery) > 0 {
		l.warnf(cfg.Sorcery[0].Line, "sorcery[1]", "[[sorcery]] objects are pushed through ARI: without an [ari] section, companion run leaves them alone")
	}
	if cfg.AMI == nil {
		// Blame the first peer whose states would need AMI: [apply] may be absent.
	needAMI:
		for i, p := range cfg.Peers {
			for _, k := range []struct {
				on   bool
				mode companion.ApplyMode
				key  string
			}{{p.Accept != nil && p.Accept.DeviceState, cfg.Apply.DeviceState, "device_state"},
				{p.Accept != nil && p.Accept.MailboxState, cfg.Apply.MailboxState, "mailbox_state"}} {
				if k.on && k.mode == companion.ApplyAMI {
					l.errorf(l.idx.line("peer", elem(i), "accept", k.key), peerLabel(p, i)+".accept."+k.key,
						"applying it through AMI (apply.%s = \"ami\", the default) needs an [ami] section", k.key)
					break needAMI
				}
			}
		}
	}
	if acceptsDevice && cfg.Apply.DeviceState == companion.ApplyNone {
		apply.warnf("device_state", "is \"none\": device states accepted from peers are dropped")
	}
	if acceptsMailbox && cfg.Apply.MailboxState == companion.ApplyNone {
		apply.warnf("mailbox_state", "is \"none\": mailbox states accepted from peers are dropped")
	}
	// Asterisk cuts device names at 79 characters.
	if cfg.Apply.DeviceState != companion.ApplyNone {
		for _, p := range cfg.Peers {
			if p.Accept == nil || !p.Accept.DeviceState {
				continue
			}
			fixed := len(cfg.Apply.DeviceName.Expand("", p.Name, companion.EntityID{}))
			if fixed >= maxDeviceNameLen {
				apply.errorf("device_name", "leaves no room for the device name for peer %q (Asterisk cuts device names at %d characters)", p.Name, maxDeviceNameLen)
				break
			}
		}
	}
}

const maxDeviceNameLen = 79

func peerLabel(p companion.PeerConfig, i int) string {
	if p.Name != "" {
		return fmt.Sprintf("peer %q", p.Name)
	}
	return fmt.Sprintf("peer[%d]", i+1)
}

// loopbackOnly reports whether every prefix lies in the loopback range: a
// datagram with a forged loopback source cannot come in from outside.
func loopbackOnly(match []netip.Prefix) bool {
	for _, p := range match {
		if !p.Addr().IsLoopback() || (p.Addr().Is4() && p.Bits() < 8) || (p.Addr().Is6() && p.Bits() < 128) {
			return false
		}
	}
	return len(match) > 0
}
