package amitest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// Wait bounds every wait of this package and of the tests that use it.
const Wait = 3 * time.Second

// Config says how a Server behaves.
type Config struct {
	// Username and Secret are the only accepted credentials. Secret
	// defaults to a random value per server, so that a client left over
	// from another test (amigo cannot be stopped) never logs in here.
	Username, Secret string
	// Transcripts answer actions: an action is answered with what followed
	// the first recorded action of the same name and the same headers
	// (ActionID aside) not used yet; once all are used the last one is
	// reused. The first transcript holding an accepted login also gives
	// what follows a successful Login. An action found nowhere gets
	// Asterisk's "Invalid/unknown command" answer.
	Transcripts []*Transcript
	// Answer, when set, sees every action after login before anything
	// else; returning true means it has answered.
	Answer func(s *Session, a Message) bool
}

// Server is a fake AMI server.
type Server struct {
	cfg     Config
	ln      net.Listener
	answers []Exchange
	login   [][]byte

	mu       sync.Mutex
	used     map[int]bool
	conns    map[net.Conn]struct{}
	logins   int // Login actions received, accepted or not
	sessions []*Session
	changed  chan struct{} // closed and replaced whenever logins or sessions change
	closed   bool

	wg sync.WaitGroup
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Username == "" {
		cfg.Username = "companion"
	}
	if cfg.Secret == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		cfg.Secret = "s3cret-" + hex.EncodeToString(b[:])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("amitest: listen: %v", err)
	}
	s := &Server{
		cfg:     cfg,
		ln:      ln,
		used:    make(map[int]bool),
		conns:   make(map[net.Conn]struct{}),
		changed: make(chan struct{}),
	}
	for _, tr := range cfg.Transcripts {
		s.answers = append(s.answers, tr.Exchanges()...)
		if s.login == nil {
			s.login, _ = tr.LoginAnswer()
		}
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is the host:port to connect to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Username and Secret are the credentials the server accepts.
func (s *Server) Username() string { return s.cfg.Username }
func (s *Server) Secret() string   { return s.cfg.Secret }

// SetSecret changes the accepted secret for later logins.
func (s *Server) SetSecret(secret string) {
	s.mu.Lock()
	s.cfg.Secret = secret
	s.mu.Unlock()
}

// Close stops the server: the listener and every connection are closed
// and its goroutines have returned.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

// Logins is how many Login actions arrived, accepted or not.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// AwaitLogins waits until at least n Login actions have arrived.
func (s *Server) AwaitLogins(t testing.TB, n int) {
	t.Helper()
	s.await(t, "login attempts", func() bool { return s.logins >= n })
}

// Session waits for the n-th accepted login (1-based) and returns it.
func (s *Server) Session(t testing.TB, n int) *Session {
	t.Helper()
	return s.SessionWithin(t, Wait, n)
}

// SessionWithin is Session with another bound, for logins that follow a
// client's fixed timers (amigo notices a silent connection after 5+3 s).
func (s *Server) SessionWithin(t testing.TB, bound time.Duration, n int) *Session {
	t.Helper()
	s.awaitFor(t, bound, "a logged-in session", func() bool { return len(s.sessions) >= n })
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[n-1]
}

// Sessions is how many logins were accepted so far.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// await waits, at most Wait, until cond (run with s.mu held) holds.
func (s *Server) await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	s.awaitFor(t, Wait, what, cond)
}

func (s *Server) awaitFor(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("amitest: no %s within %v", what, bound)
		}
	}
}

// notifyLocked wakes waiters; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sess := &Session{srv: s, conn: c, changed: make(chan struct{})}
	defer sess.markClosed()
	if sess.write([]byte(Banner)) != nil {
		return
	}
	r := bufio.NewReader(c)
	loggedIn := false
	for {
		var tap func([]byte)
		if loggedIn {
			tap = sess.received
		}
		a, err := readMessage(r, tap)
		if err != nil {
			return
		}
		if !loggedIn {
			if !equalFold(a.Action(), "Login") {
				_ = sess.write(answer(beforeLogin, a))
				continue
			}
			if !s.checkLogin(a) {
				// Asterisk answers and hangs up (05a_wrong_password).
				_ = sess.write(answer(loginFailed, a))
				return
			}
			loggedIn = true
			if err := s.writeLogin(sess, a); err != nil {
				return
			}
			s.mu.Lock()
			sess.n = len(s.sessions) + 1
			s.sessions = append(s.sessions, sess)
			s.notifyLocked()
			s.mu.Unlock()
			continue
		}
		sess.record(a)
		if sess.silent.Load() {
			continue
		}
		if s.cfg.Answer != nil && s.cfg.Answer(sess, a) {
			continue
		}
		switch {
		case equalFold(a.Action(), "Ping"):
			_ = sess.write(answer(pong, a))
		case equalFold(a.Action(), "Logoff"):
			_ = sess.write(answer(goodbye, a))
			return
		default:
			_ = sess.write(s.answerFor(a)...)
		}
	}
}

func (s *Server) checkLogin(a Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins++
	s.notifyLocked()
	return a.Get("Username") == s.cfg.Username && a.Get("Secret") == s.cfg.Secret
}

func (s *Server) writeLogin(sess *Session, a Message) error {
	if s.login == nil {
		return sess.write(answer(loginAccepted, a))
	}
	// The recorded login carried "ActionID: login-1"; amigo sends none.
	recorded := ParseMessage(s.login[0]).Get("ActionID")
	id := a.Get("ActionID")
	return sess.write(rewriteActionID(s.login, recorded, id, id != "")...)
}

// answerFor finds the recorded answer to a; see Config.Transcripts.
func (s *Server) answerFor(a Message) [][]byte {
	s.mu.Lock()
	pick, last := -1, -1
	for i, ex := range s.answers {
		if !matches(ex.Action, a) {
			continue
		}
		last = i
		if !s.used[i] {
			pick = i
			break
		}
	}
	if pick < 0 {
		pick = last
	}
	if pick >= 0 {
		s.used[pick] = true
	}
	s.mu.Unlock()
	id := a.Get("ActionID")
	if pick < 0 {
		return [][]byte{UnknownAction(id, a.Action())}
	}
	ex := s.answers[pick]
	return rewriteActionID(ex.Answer, ex.Action.Get("ActionID"), id, a.Has("ActionID"))
}

// matches reports whether the received action a is the recorded one: same
// headers, ActionID aside; a may carry more (amigo adds AmigoConnID).
func matches(recorded, a Message) bool {
	for _, h := range recorded {
		if equalFold(h.Key, "ActionID") {
			continue
		}
		if !a.Has(h.Key) {
			return false
		}
		v := a.Get(h.Key)
		if equalFold(h.Key, "Action") {
			if !equalFold(v, h.Value) {
				return false
			}
		} else if v != h.Value {
			return false
		}
	}
	return true
}

// ErrClosed is returned when writing to a session whose connection ended.
var ErrClosed = errors.New("amitest: session closed")
