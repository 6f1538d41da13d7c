package main

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// simAsterisk is the embedded stand-in for Asterisk's manager interface
// that "companion demo" runs where no Asterisk is at hand. It answers
// what the companion sends (Login, Ping, DeviceStateList, MWIGet,
// Setvar DEVICE_STATE, MWIUpdate, Logoff) in the format Asterisk 22.10.1
// uses (fixtures/ami), and, like Asterisk, turns each write into the
// events it causes: DeviceStateChange when the state changes,
// MessageWaiting for every MWIUpdate, and res_mwi_devstate's MWI:<mailbox>
// device.
type simAsterisk struct {
	name string
	ln   net.Listener

	mu        sync.Mutex
	devices   map[string]string
	mailboxes map[string][2]int
	conns     map[*simConn]struct{}
	writes    []string // Setvar, MWIUpdate and Logoff actions received, for the demo and tests
	changed   chan struct{}
	logins    int          // successful logins so far
	pinged    map[int]bool // logins (1-based) whose session has seen a Ping
	// onWrite, when set, sees every write as it is recorded, with its
	// arrival time; keepNoWrites stops writes from being kept in writes.
	// Both are the bench's sink (setSink), which sees many thousands.
	onWrite      func(w string, at time.Time)
	keepNoWrites bool
}

type simConn struct {
	mu    sync.Mutex
	c     net.Conn
	w     *bufio.Writer
	login int // which login this session is; 0 before it logs in
}

func (c *simConn) send(lines ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sendLocked(lines...)
}

func (c *simConn) sendLocked(lines ...string) {
	for _, l := range lines {
		c.w.WriteString(l)
		c.w.WriteString("\r\n")
	}
	c.w.WriteString("\r\n")
	c.w.Flush()
}

func startSimAsterisk(name string) (*simAsterisk, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &simAsterisk{
		name: name, ln: ln,
		devices:   map[string]string{},
		mailboxes: map[string][2]int{},
		conns:     map[*simConn]struct{}{},
		changed:   make(chan struct{}, 1),
		pinged:    map[int]bool{},
	}
	go s.accept()
	return s, nil
}

func (s *simAsterisk) addr() string { return s.ln.Addr().String() }

func (s *simAsterisk) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
}

func (s *simAsterisk) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.serve(c)
	}
}

func (s *simAsterisk) serve(nc net.Conn) {
	defer nc.Close()
	c := &simConn{c: nc, w: bufio.NewWriter(nc)}
	c.mu.Lock()
	c.w.WriteString("Asterisk Call Manager/11.0.0\r\n")
	c.w.Flush()
	c.mu.Unlock()
	r := textproto.NewReader(bufio.NewReader(nc))
	for {
		h, err := r.ReadMIMEHeader()
		if err != nil {
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			return
		}
		if !s.action(c, h) {
			return
		}
	}
}

// action answers one action; false ends the session.
func (s *simAsterisk) action(c *simConn, h map[string][]string) bool {
	get := func(k string) string {
		if v := h[textproto.CanonicalMIMEHeaderKey(k)]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id := "ActionID: " + get("ActionID")
	switch act := strings.ToLower(get("Action")); act {
	case "login":
		c.send("Response: Success", id, "Message: Authentication accepted")
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.logins++
		c.login = s.logins
		s.mu.Unlock()
	case "ping":
		c.send("Response: Success", id, "Ping: Pong", "Timestamp: 0.000000")
		s.mu.Lock()
		s.pinged[c.login] = true
		s.mu.Unlock()
	case "devicestatelist":
		// As in Asterisk, a list goes out in one go, and live events
		// wait until after it: none newer than an item precedes it.
		c.mu.Lock()
		c.sendLocked("Response: Success", id, "EventList: start", "Message: Device State Changes will follow")
		s.mu.Lock()
		names := sortedKeys(s.devices)
		states := make([]string, len(names))
		for i, n := range names {
			states[i] = s.devices[n]
		}
		s.mu.Unlock()
		for i, n := range names {
			c.sendLocked("Event: DeviceStateChange", id, "Device: "+n, "State: "+states[i])
		}
		c.sendLocked("Event: DeviceStateListComplete", id, "EventList: Complete", "ListItems: "+strconv.Itoa(len(names)))
		c.mu.Unlock()
	case "mwiget":
		c.mu.Lock()
		c.sendLocked("Response: Success", id, "EventList: start", "Message: Mailboxes will follow")
		s.mu.Lock()
		boxes := make(map[string][2]int, len(s.mailboxes))
		for k, v := range s.mailboxes {
			boxes[k] = v
		}
		s.mu.Unlock()
		for _, b := range sortedKeys(boxes) {
			c.sendLocked("Event: MWIGet", "Mailbox: "+b, fmt.Sprintf("OldMessages: %d", boxes[b][0]), fmt.Sprintf("NewMessages: %d", boxes[b][1]), id)
		}
		c.sendLocked("Event: MWIGetComplete", id, "EventList: Complete", "ListItems: "+strconv.Itoa(len(boxes)))
		c.mu.Unlock()
	case "setvar":
		v := get("Variable")
		dev, ok := strings.CutPrefix(v, "DEVICE_STATE(")
		dev, ok2 := strings.CutSuffix(dev, ")")
		if !ok || !ok2 || !strings.HasPrefix(strings.ToLower(dev), "custom:") {
			c.send("Response: Error", id, "Message: Variable not set")
			return true
		}
		c.send("Response: Success", id, "Message: Variable Set")
		s.record("Setvar " + v + "=" + get("Value"))
		s.SetDevice("Custom:"+dev[len("custom:"):], get("Value"))
	case "mwiupdate":
		old, _ := strconv.Atoi(get("OldMessages"))
		nw, _ := strconv.Atoi(get("NewMessages"))
		c.send("Response: Success", id)
		s.record(fmt.Sprintf("MWIUpdate %s %d/%d", get("Mailbox"), old, nw))
		s.SetMailbox(get("Mailbox"), old, nw)
	case "logoff":
		c.send("Response: Goodbye", id, "Message: Thanks for all the fish.")
		s.record("Logoff")
		return false
	default:
		// Recorded, so that a test sees an action smuggled in behind
		// another (an Originate after a CRLF in a device name).
		// VoicemailUsersList is the client's probe for app_voicemail,
		// which this Asterisk, like one with res_mwi_external, lacks.
		if act != "voicemailuserslist" {
			s.record(fmt.Sprintf("unknown action %q", get("Action")))
		}
		c.send("Response: Error", id, "Message: Invalid/unknown command: "+get("Action")+". Use Action: ListCommands to show available commands.")
	}
	return true
}

func (s *simAsterisk) record(w string) {
	s.mu.Lock()
	if !s.keepNoWrites {
		s.writes = append(s.writes, w)
	}
	hook := s.onWrite
	s.mu.Unlock()
	if hook != nil {
		hook(w, time.Now())
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// setSink hands every later write to f, with its arrival time, instead
// of keeping it in writes.
func (s *simAsterisk) setSink(f func(w string, at time.Time)) {
	s.mu.Lock()
	s.onWrite, s.keepNoWrites = f, true
	s.mu.Unlock()
}

// preload sets device and mailbox states at once, without events, as an
// Asterisk that holds them before the companion connects: the bench's
// large snapshots. Unlike SetMailbox it adds no MWI:<mailbox> device.
func (s *simAsterisk) preload(devices map[string]string, mailboxes map[string][2]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, st := range devices {
		s.devices[n] = st
	}
	for b, c := range mailboxes {
		s.mailboxes[b] = c
	}
}

// SetDevice changes a device's state, with the event Asterisk sends when
// the state really changes.
func (s *simAsterisk) SetDevice(name, state string) {
	s.mu.Lock()
	if s.devices[name] == state {
		s.mu.Unlock()
		return
	}
	s.devices[name] = state
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.send("Event: DeviceStateChange", "Privilege: call,all", "SystemName: "+s.name, "Device: "+name, "State: "+state)
	}
}

// SetMailbox changes a mailbox's counts: MessageWaiting every time, and
// the MWI:<mailbox> device res_mwi_devstate derives.
func (s *simAsterisk) SetMailbox(box string, old, new int) {
	s.mu.Lock()
	s.mailboxes[box] = [2]int{old, new}
	conns := s.connsLocked()
	s.mu.Unlock()
	waiting := "0"
	if new > 0 {
		waiting = "1"
	}
	for _, c := range conns {
		c.send("Event: MessageWaiting", "Privilege: call,all", "SystemName: "+s.name, "Mailbox: "+box, "Waiting: "+waiting, fmt.Sprintf("New: %d", new), fmt.Sprintf("Old: %d", old))
	}
	state := "NOT_INUSE"
	if new > 0 {
		state = "INUSE"
	}
	s.SetDevice("MWI:"+box, state)
}

func (s *simAsterisk) connsLocked() []*simConn {
	out := make([]*simConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// wrote reports whether the companion has made the given write.
func (s *simAsterisk) wrote(w string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.writes {
		if x == w {
			return true
		}
	}
	return false
}

// awaitWrite waits up to within for the companion to make write.
func (s *simAsterisk) awaitWrite(write string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for !s.wrote(write) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's Asterisk never got %q; it got %q", s.name, write, s.allWrites())
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (s *simAsterisk) allWrites() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// restart ends every manager session, as an Asterisk restart does; the
// listener stays, so the companion logs in again.
func (s *simAsterisk) restart() {
	s.mu.Lock()
	for c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
}

// loginCount is the number of successful logins so far.
func (s *simAsterisk) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// keptAlive reports whether the session of the nth login has been pinged.
func (s *simAsterisk) keptAlive(login int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pinged[login]
}

func (s *simAsterisk) loggedIn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns) > 0
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mailbox returns a mailbox's old and new counts.
func (s *simAsterisk) mailbox(box string) [2]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mailboxes[box]
}
