package companion

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is the value of a PUBLISH request's Event header.
type Event string

// The two event packages of res_pjsip_publish_asterisk.
const (
	EventDeviceState Event = "asterisk-devicestate"
	EventMWI         Event = "asterisk-mwi"
)

// MessageType is the "type" of a body.
type MessageType uint8

const (
	MessageDeviceState  MessageType = iota + 1 // "devicestate", on asterisk-devicestate
	MessageMailboxState                        // "mailboxstate", on asterisk-mwi
	MessageRefresh                             // "refresh", on either: asks for a full dump of that event's states
)

func (t MessageType) String() string {
	switch t {
	case MessageDeviceState:
		return "devicestate"
	case MessageMailboxState:
		return "mailboxstate"
	case MessageRefresh:
		return "refresh"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Message is one PUBLISH body: a state and the EID of the server it
// originated on, or a refresh request.
type Message struct {
	Type  MessageType
	EID   EntityID
	State State // zero for MessageRefresh
}

// MaxBodySize bounds a body in both directions. Real bodies are ~100
// bytes; the bound keeps a hostile peer from making the decoder work on
// megabytes.
const MaxBodySize = 64 << 10

// maxDepth is jansson's JSON_PARSER_MAX_DEPTH: deeper nesting fails to
// load, so Asterisk answers 500.
const maxDepth = 2048

// EncodeMessage returns the body Asterisk would write for m.
func EncodeMessage(m Message) ([]byte, error) {
	return AppendMessage(make([]byte, 0, 100+len(m.State.Key.Name)), m)
}

// AppendMessage appends the body Asterisk would write for m to dst: the
// output of jansson's json_dumps(JSON_COMPACT) for the object
// res_pjsip_publish_asterisk packs, byte for byte. It is written by hand
// because encoding/json escapes <, >, & and U+2028/2029, which jansson
// does not. On error dst is returned unchanged.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	if err := m.check(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, `{"type":"`...)
	switch m.Type {
	case MessageDeviceState:
		dst = append(dst, `devicestate","device":`...)
		dst = appendJSONString(dst, m.State.Key.Name)
		dst = append(dst, `,"state":"`...)
		dst = append(dst, m.State.Device.String()...)
		dst = append(dst, `","cachable":`...)
		if m.State.Cachable {
			dst = append(dst, '1')
		} else {
			dst = append(dst, '0')
		}
	case MessageMailboxState:
		dst = append(dst, `mailboxstate","uniqueid":`...)
		dst = appendJSONString(dst, m.State.Key.Name)
		dst = append(dst, `,"old":`...)
		dst = strconv.AppendInt(dst, int64(m.State.Old), 10)
		dst = append(dst, `,"new":`...)
		dst = strconv.AppendInt(dst, int64(m.State.New), 10)
	case MessageRefresh:
		dst = append(dst, `refresh"`...)
	}
	dst = append(dst, `,"eid":"`...)
	dst = m.EID.appendTo(dst)
	dst = append(dst, `"}`...)
	if len(dst)-start > MaxBodySize {
		return dst[:start], fmt.Errorf("encode %s message: body of %d bytes exceeds %d", m.Type, len(dst)-start, MaxBodySize)
	}
	return dst, nil
}

// check refuses what Asterisk could not have written or a peer could not
// read back.
func (m Message) check() error {
	s := m.State
	switch m.Type {
	case MessageDeviceState:
		if s.Key.Kind != KindDevice {
			return m.encodeErr("state of a %s", s.Key.Kind)
		}
		if s.Key.Name == "" {
			return m.encodeErr("empty device name")
		}
		if s.Device > OnHold {
			return m.encodeErr("device state %d out of range", uint8(s.Device))
		}
	case MessageMailboxState:
		if s.Key.Kind != KindMailbox {
			return m.encodeErr("state of a %s", s.Key.Kind)
		}
		if id, _ := ParseMailboxID(s.Key.Name); id.Box == "" {
			return m.encodeErr("uniqueid %q has an empty mailbox", s.Key.Name)
		}
		if s.Old < 0 || s.New < 0 || s.Old > math.MaxInt32 || s.New > math.MaxInt32 {
			return m.encodeErr("counts old=%d new=%d outside 0..%d", s.Old, s.New, math.MaxInt32)
		}
	case MessageRefresh:
		if s != (State{}) {
			return m.encodeErr("refresh carries a state (%s)", s)
		}
		return nil
	default:
		return fmt.Errorf("encode message: unknown type %s", m.Type)
	}
	// jansson refuses invalid UTF-8, and cannot load back a \u0000 (no
	// JSON_ALLOW_NUL), which a C string could not hold anyway. Names with
	// other control characters encode as jansson would write them, but
	// never get this far: Local and the decoder refuse them (CheckName).
	if !utf8.ValidString(s.Key.Name) {
		return m.encodeErr("name %q is not valid UTF-8", s.Key.Name)
	}
	if strings.IndexByte(s.Key.Name, 0) >= 0 {
		return m.encodeErr("name %q contains NUL", s.Key.Name)
	}
	return nil
}

func (m Message) encodeErr(format string, args ...any) error {
	return fmt.Errorf("encode %s message: %s", m.Type, fmt.Sprintf(format, args...))
}

// appendJSONString quotes s as jansson's dump_string does without flags:
// only '"', '\\' and control characters are escaped, \uXXXX in upper-case
// hex; '/', non-ASCII, U+2028/2029 and DEL stay verbatim. s is valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	dst = append(dst, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		last = i + 1
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

// DecodeMessage reads a body received with event ev. It checks in the
// order res_pjsip_publish_asterisk does, so that the code of the first
// failure matches what a stock Asterisk would answer. The errors are
// *BodyError. For BodyBadEID it also returns the rest of the message, EID
// left zero, so the caller can log what it dropped.
func DecodeMessage(ev Event, body []byte) (Message, error) {
	if len(body) > MaxBodySize {
		return Message{}, bodyErr(BodyTooLarge, fmt.Sprintf("%d bytes, more than %d", len(body), MaxBodySize))
	}
	if ev != EventDeviceState && ev != EventMWI {
		return Message{}, bodyErr(BodyBadEvent, fmt.Sprintf("event %q", string(ev)))
	}
	var f bodyFields
	if err := parseBody(body, &f); err != nil {
		return Message{}, err
	}
	if f.eid.kind != kindString {
		return Message{}, bodyErr(BodyMissingEID, f.eid.describe("eid"))
	}
	if f.typ.kind != kindString {
		return Message{}, bodyErr(BodyMissingType, f.typ.describe("type"))
	}

	var m Message
	switch string(f.typ.str) {
	case "devicestate":
		m.Type = MessageDeviceState
	case "mailboxstate":
		m.Type = MessageMailboxState
	case "refresh":
		m.Type = MessageRefresh
	default:
		return Message{}, bodyErr(BodyUnknownType, fmt.Sprintf("type %q", f.typ.str))
	}
	if (m.Type == MessageDeviceState && ev != EventDeviceState) || (m.Type == MessageMailboxState && ev != EventMWI) {
		return Message{}, bodyErr(BodyWrongEvent, fmt.Sprintf("type %s on event %s", m.Type, ev))
	}

	switch m.Type {
	case MessageDeviceState:
		if f.device.kind != kindString || len(f.device.str) == 0 {
			return Message{}, bodyErr(BodyMissingDevice, f.device.describe("device"))
		}
		if f.state.kind != kindString || len(f.state.str) == 0 {
			return Message{}, bodyErr(BodyMissingState, f.state.describe("state"))
		}
		if err := CheckName(string(f.device.str)); err != nil {
			return Message{}, bodyErr(BodyBadName, "device: "+err.Error())
		}
		// Like ast_devstate_val: any case, unknown names read as Unknown.
		state, _ := ParseDeviceState(string(f.state.str))
		// Asterisk: ast_json_integer_get(cachable) == AST_DEVSTATE_CACHABLE.
		cachable := f.cachable.kind == kindInt && f.cachable.num == 1
		m.State = Device(string(f.device.str), state, cachable)
	case MessageMailboxState:
		if f.uniqueid.kind != kindString {
			return Message{}, bodyErr(BodyMissingUniqueID, f.uniqueid.describe("uniqueid"))
		}
		id, ok := ParseMailboxID(string(f.uniqueid.str))
		if !ok {
			return Message{}, bodyErr(BodyMissingUniqueID, fmt.Sprintf("uniqueid %q has an empty mailbox", f.uniqueid.str))
		}
		if err := CheckName(string(f.uniqueid.str)); err != nil {
			return Message{}, bodyErr(BodyBadName, "uniqueid: "+err.Error())
		}
		old, err := f.old.count("old")
		if err != nil {
			return Message{}, err
		}
		nw, err := f.new.count("new")
		if err != nil {
			return Message{}, err
		}
		// Keyed as Mailbox keys it: "300@" and "300" are one mailbox.
		m.State = Mailbox(id, old, nw)
	}

	eid, err := ParseEntityID(string(f.eid.str))
	if err != nil {
		return m, bodyErr(BodyBadEID, err.Error())
	}
	m.EID = eid
	return m, nil
}

type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindString
	kindInt   // an integer token that fits json_int_t (int64)
	kindOther // real, true, false, null, object, array
)

// jsonValue is what the decoder keeps of the value of a top-level key.
type jsonValue struct {
	kind valueKind
	str  []byte // unescaped, for kindString
	num  int64  // for kindInt
	raw  []byte // the value's text, for error details
}

func (v jsonValue) describe(key string) string {
	if v.kind == kindAbsent {
		return fmt.Sprintf("no %q", key)
	}
	if len(v.raw) > 40 {
		return fmt.Sprintf("%q is %.40s...", key, v.raw)
	}
	return fmt.Sprintf("%q is %s", key, v.raw)
}

// count reads "old" or "new". Absent is 0, as ast_json_integer_get(NULL).
func (v jsonValue) count(key string) (int, error) {
	switch {
	case v.kind == kindAbsent:
		return 0, nil
	case v.kind != kindInt || v.num < 0 || v.num > math.MaxInt32:
		return 0, bodyErr(BodyBadCount, v.describe(key)+", want an integer 0.."+strconv.Itoa(math.MaxInt32))
	}
	return int(v.num), nil
}

// bodyFields are the top-level keys the codec reads; duplicates: last wins.
type bodyFields struct {
	typ, eid, device, state, cachable, uniqueid, old, new jsonValue
}

func (f *bodyFields) field(key []byte) *jsonValue {
	switch string(key) {
	case "type":
		return &f.typ
	case "eid":
		return &f.eid
	case "device":
		return &f.device
	case "state":
		return &f.state
	case "cachable":
		return &f.cachable
	case "uniqueid":
		return &f.uniqueid
	case "old":
		return &f.old
	case "new":
		return &f.new
	}
	return nil
}

// parseBody accepts exactly what jansson's json_loadb(buf, len, 0) loads
// into an object: one object, any whitespace around it, valid UTF-8, no
// \u0000, no lone surrogate escape, integers that fit int64, reals that do
// not overflow, nesting up to 2048. encoding/json is not used: it matches
// struct keys case-insensitively and accepts (replacing) invalid UTF-8 and
// lone surrogates, which jansson refuses.
func parseBody(body []byte, f *bodyFields) error {
	if !utf8.Valid(body) {
		return bodyErr(BodyNotJSON, "not valid UTF-8")
	}
	p := parser{data: body}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return p.fail("'{' expected")
	}
	if err := p.object(1, f); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos < len(p.data) {
		return p.fail("end of input expected")
	}
	return nil
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) fail(what string) error {
	if p.pos >= len(p.data) {
		return bodyErr(BodyNotJSON, what+" at end of input")
	}
	return bodyErr(BodyNotJSON, fmt.Sprintf("%s at offset %d", what, p.pos))
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// object parses an object at p.pos ('{'); depth is its own depth. Top-level
// keys are recorded into f; nested objects pass nil.
func (p *parser) object(depth int, f *bodyFields) error {
	p.pos++ // '{'
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.fail("string expected")
		}
		key, err := p.str(f != nil)
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.fail("':' expected")
		}
		p.pos++
		p.skipSpace()
		var dst *jsonValue
		if f != nil {
			dst = f.field(key)
		}
		v, err := p.value(depth+1, dst != nil)
		if err != nil {
			return err
		}
		if dst != nil {
			*dst = v
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.fail("'}' expected")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			return nil
		default:
			return p.fail("'}' expected")
		}
	}
}

func (p *parser) array(depth int) error {
	p.pos++ // '['
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		if _, err := p.value(depth+1, false); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.fail("']' expected")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			return nil
		default:
			return p.fail("']' expected")
		}
	}
}

// value parses the value at p.pos. want asks for a string's unescaped
// bytes (otherwise it is only checked).
func (p *parser) value(depth int, want bool) (jsonValue, error) {
	if depth > maxDepth {
		return jsonValue{}, p.fail("maximum nesting depth reached")
	}
	if p.pos >= len(p.data) {
		return jsonValue{}, p.fail("value expected")
	}
	start := p.pos
	v := jsonValue{kind: kindOther}
	var err error
	switch c := p.data[p.pos]; {
	case c == '"':
		v.kind = kindString
		v.str, err = p.str(want)
	case c == '{':
		err = p.object(depth, nil)
	case c == '[':
		err = p.array(depth)
	case c == '-' || ('0' <= c && c <= '9'):
		v, err = p.number()
	case c == 't':
		err = p.literal("true")
	case c == 'f':
		err = p.literal("false")
	case c == 'n':
		err = p.literal("null")
	default:
		err = p.fail("invalid token")
	}
	if err != nil {
		return jsonValue{}, err
	}
	v.raw = p.data[start:p.pos]
	return v, nil
}

func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return p.fail("invalid token")
	}
	p.pos += len(word)
	return nil
}

// number follows jansson's lex_scan_number: JSON grammar; an integer token
// must fit int64 and a real must not overflow, or loading fails.
func (p *parser) number() (jsonValue, error) {
	d := p.data
	start := p.pos
	i := p.pos
	if d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
		if i < len(d) && '0' <= d[i] && d[i] <= '9' {
			p.pos = i
			return jsonValue{}, p.fail("invalid number (leading zero)")
		}
	case digits() == 0:
		p.pos = i
		return jsonValue{}, p.fail("invalid number")
	}
	integer := true
	if i < len(d) && d[i] == '.' {
		integer = false
		i++
		if digits() == 0 {
			p.pos = i
			return jsonValue{}, p.fail("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return jsonValue{}, p.fail("invalid number")
		}
	}
	text := d[start:i]
	if integer {
		n, ok := parseInt64(text)
		if !ok {
			return jsonValue{}, p.fail("integer out of range")
		}
		p.pos = i
		return jsonValue{kind: kindInt, num: n}, nil
	}
	if x, _ := strconv.ParseFloat(string(text), 64); math.IsInf(x, 0) {
		return jsonValue{}, p.fail("real number overflow")
	}
	p.pos = i
	return jsonValue{kind: kindOther}, nil
}

// parseInt64 parses a grammar-checked integer token with strtoll's range.
func parseInt64(b []byte) (int64, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	var u uint64
	for _, c := range b {
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true // 1<<63 wraps to MinInt64
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// str parses the string at p.pos ('"'). If want, it returns the unescaped
// bytes: a sub-slice of the input when there is no escape, else a copy.
func (p *parser) str(want bool) ([]byte, error) {
	d := p.data
	p.pos++ // '"'
	start := p.pos
	var buf []byte
	escaped := false
	for p.pos < len(d) {
		c := d[p.pos]
		switch {
		case c == '"':
			s := d[start:p.pos]
			p.pos++
			if escaped {
				return buf, nil
			}
			return s, nil
		case c < 0x20:
			return nil, p.fail("control character in string")
		case c == '\\':
			if want && !escaped {
				buf = append(make([]byte, 0, p.pos-start+16), d[start:p.pos]...)
			}
			escaped = true
			r, err := p.escape()
			if err != nil {
				return nil, err
			}
			if want {
				buf = utf8.AppendRune(buf, r)
			}
		default:
			if escaped && want {
				buf = append(buf, c)
			}
			p.pos++
		}
	}
	return nil, p.fail("unterminated string")
}

// escape decodes the escape sequence at p.pos ('\\').
func (p *parser) escape() (rune, error) {
	d := p.data
	if p.pos+1 >= len(d) {
		p.pos++
		return 0, p.fail("unterminated string")
	}
	c := d[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
	default:
		p.pos--
		return 0, p.fail("invalid escape")
	}
	r, ok := p.hex4()
	switch {
	case !ok:
		return 0, p.fail("invalid \\u escape")
	case r == 0:
		return 0, p.fail("\\u0000 in string")
	case utf16.IsSurrogate(r):
		// Only a high surrogate followed by an escaped low one is valid.
		if r >= 0xDC00 || p.pos+1 >= len(d) || d[p.pos] != '\\' || d[p.pos+1] != 'u' {
			return 0, p.fail("lone surrogate in \\u escape")
		}
		p.pos += 2
		lo, ok := p.hex4()
		if !ok || lo < 0xDC00 || lo > 0xDFFF {
			return 0, p.fail("invalid surrogate pair")
		}
		return utf16.DecodeRune(r, lo), nil
	}
	return r, nil
}

func (p *parser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		v, ok := unhex(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	p.pos += 4
	return r, true
}
