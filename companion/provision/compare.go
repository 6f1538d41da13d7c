package provision

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// This file compares a value from the TOML file with the value ARI GET
// reports, the way Asterisk normalises it, so that an object that already
// matches plans as "unchanged" rather than as an update on every run:
// yes/no come back as true/false (or as Yes/No), 3 as 3.000000, callerid
// gains quotes, codec lists come back as (g722|ulaw|alaw).

// sameValue reports whether Asterisk's rendering have matches want for the
// field name. Codec fields are compared as one list (codecList.matches),
// fields that accumulate by listEntries.
func sameValue(name, want, have string) bool {
	if want == have {
		return true
	}
	switch {
	case name == "callerid":
		return parseCallerID(want) == parseCallerID(have)
	case name == "identify_by":
		return sameSet(splitList(strings.ToLower(want)), splitList(strings.ToLower(have)))
	case orderedListField(name):
		return slices.Equal(splitList(want), splitList(have))
	case enumField(name) && strings.EqualFold(want, have):
		return true
	}
	if w, ok := parseAstBool(want); ok {
		if h, ok := parseAstBool(have); ok {
			return w == h
		}
	}
	// Asterisk prints doubles with %f (qualify_timeout 3 -> "3.000000").
	if strings.Contains(have, ".") {
		w, err1 := strconv.ParseFloat(strings.TrimSpace(want), 64)
		h, err2 := strconv.ParseFloat(have, 64)
		if err1 == nil && err2 == nil {
			return w == h
		}
	}
	return false
}

// parseAstBool reads what ast_true/ast_false accept.
func parseAstBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "true", "y", "t", "1", "on":
		return true, true
	case "no", "false", "n", "f", "0", "off":
		return false, true
	}
	return false, false
}

// enumField lists options whose values Asterisk parses case-insensitively
// and prints in its own case.
func enumField(name string) bool {
	switch name {
	case "dtmf_mode", "direct_media_method", "connected_line_method", "media_encryption",
		"t38_udptl_ec", "callerid_privacy", "dtls_setup", "dtls_verify", "dtls_fingerprint",
		"redirect_method", "100rel", "timers", "auth_type", "protocol", "method",
		"direct_media_glare_mitigation", "webrtc", "stir_shaken", "security_negotiation",
		"incoming_call_offer_pref", "outgoing_call_offer_pref", "send_connected_line",
		"trust_connected_line", "mwi_subscribe_replaces_unsolicited", "dtls_auto_generate_cert",
		"supported_algorithms_uac", "supported_algorithms_uas":
		return true
	}
	return false
}

// orderedListField lists comma lists that replace the old value on PUT and
// keep their order (names of other objects).
func orderedListField(name string) bool {
	switch name {
	case "aors", "auth", "outbound_auth", "mailboxes":
		return true
	}
	return false
}

// parseCallerID splits "Name" <number> roughly as ast_callerid_split does:
// `"Alice" <201>`, `Alice <201>`, `<201>` and `201` compare by name and
// number. Asterisk also shows the default "<unknown>" as "unknown" once the
// object went through astdb.
func parseCallerID(s string) [2]string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && strings.HasSuffix(s, ">") {
		name := strings.TrimSpace(s[:i])
		name = strings.TrimSuffix(strings.TrimPrefix(name, `"`), `"`)
		return [2]string{name, strings.TrimSpace(s[i+1 : len(s)-1])}
	}
	return [2]string{"", s}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// accumulates lists the fields that a PUT adds to instead of replacing:
// changing one needs DELETE then PUT.
func accumulates(typ, name string) bool {
	switch typ + "/" + name {
	case "aor/contact", "identify/match", "transport/local_net",
		"endpoint/set_var", "endpoint/deny", "endpoint/permit", "endpoint/acl",
		"endpoint/contact_deny", "endpoint/contact_permit", "endpoint/contact_acl":
		return true
	}
	return false
}

// listEntries reads an accumulating field as a set. Addresses and networks
// are normalised (192.0.2.1 and 192.0.2.1/255.255.255.255 are one entry);
// comparable is false when an entry is something Asterisk rewrites in ways
// the companion cannot predict (a host name that Asterisk resolves).
func listEntries(name, v string) (entries []string, comparable bool) {
	comparable = true
	for _, e := range splitList(v) {
		if name == "match" || name == "permit" || name == "deny" || name == "contact_permit" || name == "contact_deny" || name == "local_net" {
			neg := strings.HasPrefix(e, "!")
			p, ok := parseNet(strings.TrimPrefix(e, "!"))
			if !ok {
				comparable = false
				entries = append(entries, strings.ToLower(e))
				continue
			}
			e = p.String()
			if neg {
				e = "!" + e
			}
		}
		entries = append(entries, e)
	}
	return entries, comparable
}

// parseNet reads an address, addr/bits or addr/dotted-mask as a prefix.
func parseNet(s string) (netip.Prefix, bool) {
	addr, mask, hasMask := strings.Cut(strings.Trim(s, "[]"), "/")
	a, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := a.BitLen()
	if hasMask {
		if n, err := strconv.Atoi(mask); err == nil {
			bits = n
		} else if m, err := netip.ParseAddr(mask); err == nil && m.Is4() && a.Is4() {
			b := m.As4()
			ones := 0
			for _, x := range b {
				for i := 7; i >= 0; i-- {
					if x&(1<<i) != 0 {
						ones++
					}
				}
			}
			bits = ones
		} else {
			return netip.Prefix{}, false
		}
	}
	p, err := a.Prefix(bits)
	return p, err == nil
}

// codecList is the result of applying allow/disallow tokens in order to an
// empty list, as ast_format_cap_update_by_allow_disallow does on a new
// endpoint. all means "every other codec Asterisk knows" was appended.
type codecList struct {
	codecs []string
	all    bool
}

// isCodecField reports whether name is one half of the codec list.
func isCodecField(name string) bool { return name == "allow" || name == "disallow" }

// desiredCodecs folds the object's allow/disallow fields, in file order,
// into one list; ok is false when the object has neither.
func desiredCodecs(fields []companion.SorceryField) (l codecList, ok bool) {
	for _, f := range fields {
		if !isCodecField(f.Name) {
			continue
		}
		ok = true
		for _, tok := range strings.Split(f.Value, ",") {
			tok = strings.ToLower(strings.TrimSpace(tok))
			allowing := f.Name == "allow"
			if strings.HasPrefix(tok, "!") {
				tok, allowing = tok[1:], !allowing
			}
			tok, _, _ = strings.Cut(tok, ":") // ulaw:20 sets framing
			switch {
			case tok == "":
			case tok == "all" && allowing:
				l.all = true
			case tok == "all":
				l.codecs, l.all = nil, false
			case allowing:
				if !slices.Contains(l.codecs, tok) {
					l.codecs = append(l.codecs, tok)
				}
			default:
				l.codecs = slices.DeleteFunc(l.codecs, func(c string) bool { return c == tok })
			}
		}
	}
	return l, ok
}

// startsWithReset reports whether the codec fields begin by clearing the
// list (disallow=all or allow=!all), so that a PUT replaces the codec list
// instead of adding to the existing one.
func startsWithReset(fields []companion.SorceryField) bool {
	for _, f := range fields {
		if !isCodecField(f.Name) {
			continue
		}
		tok := strings.ToLower(strings.TrimSpace(strings.Split(f.Value, ",")[0]))
		return (f.Name == "disallow" && tok == "all") || (f.Name == "allow" && tok == "!all")
	}
	return false
}

// parseCodecs reads ARI's "(g722|ulaw|alaw)"; "(nothing)" is empty.
func parseCodecs(s string) []string {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "("), ")")
	if s == "" || s == "nothing" {
		return nil
	}
	out := strings.Split(strings.ToLower(s), "|")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// String renders the list as ARI does.
func (l codecList) String() string {
	if len(l.codecs) == 0 && !l.all {
		return "(nothing)"
	}
	s := "(" + strings.Join(l.codecs, "|")
	if l.all {
		if len(l.codecs) > 0 {
			s += "|"
		}
		s += "...all others"
	}
	return s + ")"
}

// matches compares with ARI's rendering. With "all" the order of the codecs
// Asterisk appends is its own: only the explicit ones are checked, as a
// prefix.
func (l codecList) matches(have string) bool {
	h := parseCodecs(have)
	if !l.all {
		return slices.Equal(l.codecs, h)
	}
	return len(h) > len(l.codecs) && slices.Equal(l.codecs, h[:len(l.codecs)])
}
