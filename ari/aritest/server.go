package aritest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// Default credentials, those of the recordings.
const (
	User     = "asterisk"
	Password = "secret"
)

// Server is the fake ARI. Its methods are safe for concurrent use.
type Server struct {
	srv  *httptest.Server
	stop chan struct{} // closed at Close: releases hung requests

	mu          sync.Mutex
	objects     map[objKey]*object
	staticOnly  map[string]bool // "class/type" with only the config wizard
	readOnly    bool            // the ARI user has read_only = yes
	noMailboxes bool            // res_mwi_external not loaded
	info        string
	devices     map[string]string // Stasis: and seeded Custom: states
	mailboxes   map[string][2]int
	requests    []Request
	faults      map[faultKey]Fault
	perMethod   map[string]int
	crashed     bool
}

// Request is one request as the fake received it.
type Request struct {
	Method string
	URI    string   // as sent: escaped path and query
	Path   []string // segments after /ari, decoded as ARI decodes them
	Query  string
	Body   []byte
}

// Fault replaces the answer to one request.
type Fault struct {
	Status  int    // answer with this status and {"message": Message}
	Message string //
	Hang    bool   // never answer: hold the request until the client gives up
	Drop    bool   // close the connection without answering
}

type faultKey struct {
	method string // "" for any
	n      int
}

// New starts a fake ARI that Close stops at the end of the test.
func New(t testing.TB) *Server {
	s := &Server{
		stop:       make(chan struct{}),
		objects:    map[objKey]*object{},
		staticOnly: map[string]bool{},
		info:       InfoBody("02:00:00:00:00:01", "ast1"),
		devices:    map[string]string{},
		mailboxes:  map[string][2]int{},
		faults:     map[faultKey]Fault{},
		perMethod:  map[string]int{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close releases hung requests and stops the server.
func (s *Server) Close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.srv.Close()
}

// URL is the ARI base URL, http://127.0.0.1:port/ari.
func (s *Server) URL() string { return s.srv.URL + "/ari" }

// ARIConfig is an [ari] section for this server, with the state file in a
// temporary folder of t.
func (s *Server) ARIConfig(t testing.TB) *companion.ARIConfig {
	return &companion.ARIConfig{
		URL:       s.URL(),
		Username:  User,
		Password:  companion.NewSecret(Password, "inline"),
		Timeout:   5 * time.Second,
		StateFile: filepath.Join(t.TempDir(), "provisioned.json"),
	}
}

// InfoBody is GET /asterisk/info as inst1 answered it, with eid and
// system name replaced.
func InfoBody(eid, name string) string {
	return `{"build":{"os":"Linux","kernel":"6.18.44-fc-v782","machine":"x86_64","options":"OPTIONAL_API","date":"2026-11-26 12:34:41 UTC","user":"root"},` +
		`"system":{"version":"22.10.1","entity_id":"` + eid + `"},"config":{"name":"` + name + `","default_language":"en","setid":{"user":"","group":""}},` +
		`"status":{"startup_time":"2026-11-26T12:47:02.643+0000","last_reload_time":"2026-11-26T12:47:02.643+0000"}}`
}

// SetInfo replaces the whole body of GET /asterisk/info.
func (s *Server) SetInfo(body string) { s.mu.Lock(); s.info = body; s.mu.Unlock() }

// StaticOnly makes class/type behave as when sorcery.conf maps it only to
// the config wizard: creating one answers 403.
func (s *Server) StaticOnly(class, typ string) {
	s.mu.Lock()
	s.staticOnly[class+"/"+typ] = true
	s.mu.Unlock()
}

// ReadOnlyUser makes the ARI user read_only = yes.
func (s *Server) ReadOnlyUser() { s.mu.Lock(); s.readOnly = true; s.mu.Unlock() }

// WithoutMailboxes removes /mailboxes, as when res_mwi_external is not
// loaded (app_voicemail is).
func (s *Server) WithoutMailboxes() { s.mu.Lock(); s.noMailboxes = true; s.mu.Unlock() }

// FailRequest replaces the answer to the nth request (1-based, counting
// every request this server receives).
func (s *Server) FailRequest(n int, f Fault) { s.setFault(faultKey{"", n}, f) }

// FailMethod replaces the answer to the nth request with this method.
func (s *Server) FailMethod(method string, n int, f Fault) { s.setFault(faultKey{method, n}, f) }

func (s *Server) setFault(k faultKey, f Fault) {
	s.mu.Lock()
	s.faults[k] = f
	s.mu.Unlock()
}

// Requests returns what the server received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Crashed reports whether a request would have crashed Asterisk 22.10.1
// (a config field without "value"); the fake then drops every request.
func (s *Server) Crashed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.crashed
}

// SetDeviceState seeds a device state (e.g. a Custom: one set over AMI).
func (s *Server) SetDeviceState(name, state string) {
	s.mu.Lock()
	s.devices[name] = state
	s.mu.Unlock()
}

// DeviceState returns a device's state as stored.
func (s *Server) DeviceState(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.devices[name]
	return st, ok
}

// SetMailbox seeds a mailbox (e.g. one set over AMI MWIUpdate).
func (s *Server) SetMailbox(name string, old, new int) {
	s.mu.Lock()
	s.mailboxes[name] = [2]int{old, new}
	s.mu.Unlock()
}

// Mailbox returns a mailbox's counts.
func (s *Server) Mailbox(name string) (old, new int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mailboxes[name]
	return m[0], m[1], ok
}

// answer is what a handler decided; serve writes it.
type answer struct {
	status int
	body   string // JSON; "" for none
	header http.Header
}

func jsonAnswer(status int, v any) answer {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // jansson writes <, > and & as they are
	_ = enc.Encode(v)
	return answer{status: status, body: strings.TrimSuffix(b.String(), "\n")}
}

func message(status int, msg string) answer {
	return jsonAnswer(status, map[string]string{"message": msg})
}

var noContent = answer{status: http.StatusNoContent}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	uri := r.RequestURI
	rawPath, query, _ := strings.Cut(uri, "?")
	req := Request{Method: r.Method, URI: uri, Query: query, Body: body}
	segs := strings.Split(strings.TrimPrefix(rawPath, "/"), "/")
	for i, seg := range segs {
		segs[i] = legacyDecode(seg)
	}
	if len(segs) > 0 && segs[0] == "ari" {
		req.Path = segs[1:]
	}

	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.perMethod[r.Method]++
	f, faulty := s.faults[faultKey{"", len(s.requests)}]
	if mf, ok := s.faults[faultKey{r.Method, s.perMethod[r.Method]}]; ok {
		f, faulty = mf, true
	}
	crashed := s.crashed
	s.mu.Unlock()

	switch {
	case crashed || faulty && f.Drop:
		drop(w)
		return
	case faulty && f.Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
		drop(w)
		return
	case faulty:
		write(w, message(f.Status, f.Message))
		return
	}

	a, crash := s.handle(r, req, segs)
	if crash {
		s.mu.Lock()
		s.crashed = true
		s.mu.Unlock()
		drop(w)
		return
	}
	write(w, a)
}

func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func write(w http.ResponseWriter, a answer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.Header().Set("Server", "Asterisk/22.10.1")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	if a.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// handle follows ast_ari_callback: body, credentials, read-only user,
// trailing slash, then the resource.
func (s *Server) handle(r *http.Request, req Request, segs []string) (a answer, crash bool) {
	var body any
	if len(req.Body) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if json.Unmarshal(req.Body, &body) != nil {
			return message(http.StatusBadRequest, "Error parsing request body"), false
		}
	}
	if !authorized(r) {
		a := message(http.StatusUnauthorized, "Authentication required")
		a.header = http.Header{"Www-Authenticate": {`Basic realm="Asterisk REST Interface"`}}
		return a, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnly && r.Method != http.MethodGet && r.Method != http.MethodOptions {
		return message(http.StatusForbidden, "Write access denied"), false
	}
	if len(segs) < 2 || segs[0] != "ari" {
		return message(http.StatusNotFound, "Resource not found"), false
	}
	p := req.Path
	if p[len(p)-1] == "" {
		return message(http.StatusNotFound, "ARI URLs do not end with a slash. Try /ari/"+strings.Join(p[:len(p)-1], "/")), false
	}
	switch {
	case len(p) == 2 && p[0] == "asterisk" && p[1] == "info":
		return s.getInfo(r), false
	case len(p) == 6 && p[0] == "asterisk" && p[1] == "config" && p[2] == "dynamic":
		return s.sorcery(r.Method, objKey{p[3], p[4], p[5]}, body)
	case p[0] == "deviceStates" && len(p) <= 2:
		return s.deviceStates(r, p[1:], body), false
	case p[0] == "mailboxes" && len(p) <= 2 && !s.noMailboxes:
		return s.mailboxesResource(r, p[1:], body), false
	}
	return message(http.StatusNotFound, "Resource not found"), false
}

func authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Basic ")
		if !ok {
			return false
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		return err == nil && string(b) == User+":"+Password
	}
	return r.URL.Query().Get("api_key") == User+":"+Password
}

// legacyDecode is ast_uri_decode with ast_uri_http_legacy: %XX and '+'
// as a space.
func legacyDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
