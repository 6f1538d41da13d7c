package aritest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// attrDef is one attribute of a type and its default, as Asterisk lists it.
type attrDef struct{ name, def string }

// schemas: class -> type -> attributes. auth, aor and endpoint are
// recorded (schema_recorded.go); identify is written by hand from
// res_pjsip_endpoint_identifier_ip (not recorded), for ordering tests.
var schemas = map[string]map[string][]attrDef{
	"res_pjsip": {
		"auth":     recordedSchemas["auth"],
		"aor":      recordedSchemas["aor"],
		"endpoint": recordedSchemas["endpoint"],
		"identify": {{"endpoint", ""}, {"match", ""}, {"srv_lookups", "true"}, {"match_header", ""}, {"match_request_uri", ""}},
	},
}

// writeOnly are accepted on PUT but never reported by GET.
var writeOnly = map[string]bool{
	"type": true, "disallow": true, "deny": true, "permit": true, "contact_deny": true, "contact_permit": true,
}

type kind uint8

const (
	kindString kind = iota
	kindBool        // ast_true: anything else is false, no error
	kindInt
	kindFloat    // printed with %f
	kindCodecs   // allow/disallow
	kindCallerID // "Name" <number>
	kindList     // accumulates on PUT (aor contact)
	kindNetList  // accumulates on PUT, addresses (identify match)
)

func kindOf(typ, name, def string) kind {
	switch {
	case name == "allow" || name == "disallow":
		return kindCodecs
	case name == "callerid":
		return kindCallerID
	case typ == "aor" && name == "contact":
		return kindList
	case typ == "identify" && name == "match":
		return kindNetList
	case name == "tos_audio" || name == "tos_video": // also take names such as "ef"
		return kindString
	case def == "true" || def == "false":
		return kindBool
	case strings.Contains(def, "."):
		if _, err := strconv.ParseFloat(def, 64); err == nil {
			return kindFloat
		}
	default:
		if _, err := strconv.Atoi(def); err == nil {
			return kindInt
		}
	}
	return kindString
}

// knownCodecs in the order "allow=all" adds them.
var knownCodecs = []string{"ulaw", "alaw", "g722", "gsm", "g726", "g729", "ilbc", "speex", "opus", "slin", "h264", "vp8"}

// object is a stored sorcery object: its attributes as Asterisk prints them.
type object struct {
	typ        string
	vals       map[string]string
	codecs     []string
	fromConfig bool // pjsip.conf: read-only
}

func newObject(typ string) *object {
	o := &object{typ: typ, vals: map[string]string{}}
	for _, a := range schemas["res_pjsip"][typ] {
		o.vals[a.name] = a.def
	}
	return o
}

func (o *object) clone() *object {
	c := &object{typ: o.typ, vals: map[string]string{}, codecs: slices.Clone(o.codecs), fromConfig: o.fromConfig}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

func (o *object) def(name string) (attrDef, bool) {
	for _, a := range schemas["res_pjsip"][o.typ] {
		if a.name == name {
			return a, true
		}
	}
	return attrDef{}, false
}

// set applies one field as the type's handler would; false is a
// validation failure (400).
func (o *object) set(name, value string) bool {
	a, known := o.def(name)
	if !known && !writeOnly[name] {
		return false
	}
	switch kindOf(o.typ, name, a.def) {
	case kindCodecs:
		return o.setCodecs(name == "allow", value)
	case kindCallerID:
		o.vals[name] = renderCallerID(parseCallerID(value))
	case kindBool:
		t := "false"
		switch strings.ToLower(strings.TrimSpace(value)) {
		case "yes", "true", "y", "t", "1", "on":
			t = "true"
		}
		o.vals[name] = t
	case kindInt:
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil || n < 0 {
			return false
		}
		o.vals[name] = strconv.Itoa(n)
	case kindFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return false
		}
		o.vals[name] = fmt.Sprintf("%f", f)
	case kindList, kindNetList:
		for _, e := range strings.Split(value, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			if kindOf(o.typ, name, a.def) == kindNetList {
				p, ok := parsePrefix(e)
				if !ok {
					return false
				}
				e = p.Addr().String() + "/" + maskString(p)
			}
			if o.vals[name] != "" {
				o.vals[name] += ","
			}
			o.vals[name] += e
		}
	default:
		if known {
			o.vals[name] = value
		}
	}
	return true
}

// setCodecs is ast_format_cap_update_by_allow_disallow.
func (o *object) setCodecs(allowing bool, value string) bool {
	for _, tok := range strings.Split(value, ",") {
		tok = strings.ToLower(strings.TrimSpace(tok))
		allow := allowing
		if strings.HasPrefix(tok, "!") {
			tok, allow = tok[1:], !allow
		}
		tok, _, _ = strings.Cut(tok, ":")
		switch {
		case tok == "":
		case tok == "all" && allow:
			for _, c := range knownCodecs {
				if !slices.Contains(o.codecs, c) {
					o.codecs = append(o.codecs, c)
				}
			}
		case tok == "all":
			o.codecs = nil
		case !slices.Contains(knownCodecs, tok):
			return false
		case allow:
			if !slices.Contains(o.codecs, tok) {
				o.codecs = append(o.codecs, tok)
			}
		default:
			o.codecs = slices.DeleteFunc(o.codecs, func(c string) bool { return c == tok })
		}
	}
	if len(o.codecs) == 0 {
		o.vals["allow"] = "(nothing)"
	} else {
		o.vals["allow"] = "(" + strings.Join(o.codecs, "|") + ")"
	}
	return true
}

// valid is the type's apply handler: a userpass auth needs a password.
func (o *object) valid() bool {
	if o.typ == "auth" && o.vals["auth_type"] == "userpass" && o.vals["password"] == "" && o.vals["password_digest"] == "" {
		return false
	}
	return true
}

// throughAstdb is what an object looks like once stored in astdb and read
// back: Asterisk 22.10.1 stores the default callerid as "<unknown>" and
// reads it back as the number "unknown".
func (o *object) throughAstdb() *object {
	c := o.clone()
	if _, ok := c.vals["callerid"]; ok {
		c.vals["callerid"] = renderCallerID(parseCallerID(c.vals["callerid"]))
	}
	return c
}

// fields lists the attributes in Asterisk's order.
func (o *object) fields() []field {
	var out []field
	for _, a := range schemas["res_pjsip"][o.typ] {
		out = append(out, field{a.name, o.vals[a.name]})
	}
	return out
}

type field struct {
	Attribute string `json:"attribute"`
	Value     string `json:"value"`
}

// parseCallerID is ast_callerid_split: "Name" <num>, or a bare number, or
// a bare name.
func parseCallerID(s string) [2]string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		num, _, _ := strings.Cut(s[i+1:], ">")
		name := strings.Trim(strings.TrimSpace(s[:i]), `"`)
		return [2]string{name, strings.TrimSpace(num)}
	}
	if s != "" && strings.Trim(s, "0123456789+-*#() ") == "" {
		return [2]string{"", s}
	}
	if s == "unknown" {
		return [2]string{"", s}
	}
	return [2]string{s, ""}
}

// renderCallerID is ast_callerid_merge with "<unknown>" for nothing.
func renderCallerID(c [2]string) string {
	switch {
	case c[0] != "" && c[1] != "":
		return `"` + c[0] + `" <` + c[1] + `>`
	case c[0] != "":
		return c[0]
	case c[1] != "":
		return c[1]
	}
	return "<unknown>"
}

func parsePrefix(s string) (netip.Prefix, bool) {
	addr, bits, has := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	n := a.BitLen()
	if has {
		if n, err = strconv.Atoi(bits); err != nil {
			return netip.Prefix{}, false
		}
	}
	p, err := a.Prefix(n)
	return p, err == nil
}

// maskString prints the netmask as ast_ha_join does (dotted for IPv4).
func maskString(p netip.Prefix) string {
	n := p.Addr().BitLen() / 8
	b := make([]byte, n)
	for i := 0; i < p.Bits(); i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	m, _ := netip.AddrFromSlice(b)
	return m.String()
}
