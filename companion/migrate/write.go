package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// companionPort is where the companion listens by default: Asterisk keeps
// its own SIP port.
const companionPort = 5070

func (m *migration) write() {
	w := &tomlWriter{}
	w.comment("", fmt.Sprintf(`Companion configuration written by "companion migrate" from %s,
the res_pjsip_publish_asterisk setup it holds. Check it with
  companion check-config --config FILE
Settings that could not be carried over are comments starting "not carried over".

Before the companion runs, stop the native module on this Asterisk, or both
publish: "noload => res_pjsip_publish_asterisk.so" in modules.conf (or remove
the outbound-publish, inbound-publication and asterisk-publication sections).
A peer that stays a stock Asterisk must then publish to this companion's
sip_listen address instead of to this Asterisk.`, m.opt.Source))
	if len(m.conf.Notes) > 0 {
		w.blank()
		w.comment("", "What Asterisk ignores in the file (not carried over either):")
		for _, n := range m.conf.Notes {
			w.comment("", "  not carried over: "+n.String())
			m.res.NotCarried++
		}
	}
	accepting := false
	for _, p := range m.peers {
		accepting = accepting || p.accept != nil
	}

	w.blank()
	w.header("", "[companion]")
	name, nameNote := m.nodeName()
	w.kv("", "name", name, nameNote)
	w.kv("", "eid", "auto", "the local Asterisk's Entity ID, read over ARI ([ari] below)")
	if accepting {
		listen, note := m.listen()
		w.kv("", "sip_listen", []string{listen}, note)
	}

	w.blank()
	w.comment("", "Not in pjsip.conf: the local Asterisk's manager (manager.conf) and REST\n(ari.conf) users. The credentials below are placeholders: edit them.")
	w.header("", "[ami]")
	w.kv("", "address", companion.DefaultAMIAddress, "")
	w.kv("", "username", "companion", "placeholder")
	m.placeholderSecret(w, "ami", "secret", "COMPANION_AMI_SECRET", "the AMI user's secret (manager.conf)")
	w.blank()
	w.header("", "[ari]")
	w.kv("", "url", companion.DefaultARIURL, "")
	w.kv("", "username", "companion", "placeholder")
	m.placeholderSecret(w, "ari", "password", "COMPANION_ARI_PASSWORD", "the ARI user's password (ari.conf)")
	if accepting {
		w.blank()
		w.comment("", "How remote state reaches this Asterisk. The native module needed nothing\nhere; \"ami\" for mailboxes needs res_mwi_external, which cannot run beside\napp_voicemail: there, set mailbox_state = \"none\".")
		w.header("", "[apply]")
		w.kv("", "device_state", "ami", "Setvar DEVICE_STATE(Custom:<device>)")
		w.kv("", "mailbox_state", "ami", "MWIUpdate")
	}

	for _, p := range m.peers {
		m.res.Peers = append(m.res.Peers, p.name)
		w.blank()
		for _, c := range p.intro {
			w.comment("", c)
		}
		w.header("", "[[peer]]")
		w.kv("", "name", p.name, "")
		for _, o := range p.objects {
			for _, v := range o.unused() {
				val := v.Value
				if secretOption(o.Type, v.Name) {
					val = "******"
				}
				w.comment("  ", fmt.Sprintf("not carried over: %s %s = %s (%s): %s", o.label(), v.Name, val, v.Where(), whyNot(o.Type, v.Name)))
				m.res.NotCarried++
			}
		}
		if p.publish != nil {
			w.blank()
			w.header("  ", "[peer.publish]")
			writeSection(w, p.publish)
		} else if len(p.ops) > 0 {
			w.comment("  ", "no [peer.publish]: see below")
		}
		if p.accept != nil {
			w.blank()
			w.header("  ", "[peer.accept]")
			writeSection(w, p.accept)
		}
	}
	if len(m.peers) == 0 {
		w.blank()
		w.comment("", "No peers: pjsip.conf has no outbound-publish with event=asterisk-devicestate\nor asterisk-mwi and no inbound-publication routing those events.")
	}
	m.writeLeftovers(w)
	m.res.TOML = []byte(w.String())
}

func writeSection(w *tomlWriter, s *section) {
	for _, l := range s.lines {
		if l.key == "" {
			w.comment("  ", l.note)
			continue
		}
		w.kv("  ", l.key, l.value, l.note)
	}
}

func (m *migration) placeholderSecret(w *tomlWriter, table, key, env, what string) {
	if m.opt.Secrets == SecretsEnv {
		w.kv("", key+"_env", env, "set it to "+what)
		m.res.EnvVars = append(m.res.EnvVars, env+": "+what)
		return
	}
	w.kv("", key, "change-me", "placeholder: "+what+"; or "+key+"_env / "+key+"_file")
	m.res.Placeholders = append(m.res.Placeholders, table+"."+key)
}

// nodeName is the name this Asterisk has at its peers: the user part of
// the first server_uri.
func (m *migration) nodeName() (string, string) {
	if m.opt.Name != "" {
		return m.opt.Name, ""
	}
	for _, p := range m.peers {
		for _, op := range p.ops {
			if u, err := companion.ParseSIPURI(op.peek("server_uri")); err == nil && u.User != "" {
				return u.User, fmt.Sprintf("the resource this Asterisk publishes to at its peer ([%s] server_uri)", op.Name())
			}
		}
	}
	return "asterisk", "placeholder: in logs and metrics"
}

// listen is sip_listen: Asterisk's first UDP transport address with the
// companion's own port.
func (m *migration) listen() (string, string) {
	if m.opt.Listen != "" {
		return m.opt.Listen, ""
	}
	for _, t := range m.byType["transport"] {
		proto := strings.ToLower(strings.TrimSpace(t.peek("protocol")))
		if proto != "" && proto != "udp" {
			continue
		}
		host, port := "0.0.0.0", 5060
		if bind := strings.TrimSpace(t.peek("bind")); bind != "" {
			if ap, err := netip.ParseAddrPort(bind); err == nil {
				host, port = ap.Addr().String(), int(ap.Port())
			} else if a, err := netip.ParseAddr(strings.Trim(bind, "[]")); err == nil {
				host = a.String()
			} else {
				continue
			}
		}
		p := companionPort
		if port == p {
			p++
		}
		hp := netip.AddrPortFrom(netip.MustParseAddr(host), uint16(p)).String()
		return "udp://" + hp, fmt.Sprintf("Asterisk keeps udp %s ([%s] type=transport); the companion needs a port of its own", netip.AddrPortFrom(netip.MustParseAddr(host), uint16(port)), t.Name())
	}
	return "udp://0.0.0.0:" + strconv.Itoa(companionPort), "pjsip.conf has no UDP transport to take the address from: check it"
}

// writeLeftovers lists the sections that belong to no peer.
func (m *migration) writeLeftovers(w *tomlWriter) {
	var lines []string
	for _, c := range m.untyped {
		lines = append(lines, fmt.Sprintf("[%s] (%s): no type=, Asterisk loads nothing from it", c.Name, c.Where()))
	}
	for _, o := range m.objs {
		if m.reached[o] {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s (%s): %s", o.label(), o.Where(), m.whyNotObject(o)))
	}
	if len(lines) == 0 {
		return
	}
	w.blank()
	w.comment("", "Sections of pjsip.conf not carried over (they stay with Asterisk, or do not apply):")
	for _, l := range lines {
		w.comment("", "  not carried over: "+l)
		m.res.NotCarried++
	}
}

func (m *migration) whyNotObject(o *object) string {
	if m.dups[o] {
		return "a second section of that name and type: Asterisk loads only one"
	}
	switch o.Type {
	case "outbound-publish":
		return fmt.Sprintf("event=%s is not one the companion exchanges (asterisk-devicestate, asterisk-mwi)", eventOf(o))
	case "inbound-publication":
		return "routes neither asterisk-devicestate nor asterisk-mwi"
	case "asterisk-publication":
		return "no inbound-publication routes events to it"
	case "transport":
		return "Asterisk's own transport; the companion listens on sip_listen"
	case "endpoint", "auth", "aor", "identify":
		return "not part of the state exchange"
	}
	return "not part of the state exchange"
}

func secretOption(typ, name string) bool {
	n := strings.ToLower(name)
	return typ == "auth" && (n == "password" || n == "md5_cred") ||
		strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "cred")
}

// whyNot explains an option of a peer's section that has no TOML key.
func whyNot(typ, name string) string {
	switch typ {
	case "endpoint":
		if name == "transport" {
			return "the companion answers on its own sip_listen"
		}
		return "a call setting: the companion needs no endpoint, only who may publish (match, username)"
	case "outbound-publish":
		switch {
		case name == "transport":
			return "the companion sends from its own SIP socket; put ;transport=tcp or tls in server_uri to change transport"
		case name == "outbound_proxy":
			return "not supported: the companion sends straight to server_uri"
		case name == "max_auth_attempts":
			return "not configurable: the companion answers each challenge and retries the publication later"
		case name == "multi_user":
			return "not needed: the companion keeps one publication per peer and event"
		case strings.HasPrefix(name, "@"):
			return "user data res_pjsip_publish_asterisk does not read"
		}
	case "identify":
		switch name {
		case "srv_lookups":
			return "the companion resolves no host names"
		case "match_header", "match_request_uri":
			return "the companion identifies peers by source address and digest auth only"
		}
	case "inbound-publication":
		if strings.HasPrefix(name, "event_") {
			return "only asterisk-devicestate and asterisk-mwi are exchanged"
		}
	case "auth":
		return "the companion has no such setting; digest auth uses username and password only"
	case "asterisk-publication":
		return "unknown option: Asterisk would refuse the section"
	}
	return "not supported by the companion"
}
