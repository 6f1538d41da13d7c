package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Secrets says how passwords found in pjsip.conf auth sections are written.
type Secrets string

const (
	// SecretsLiteral copies them into the TOML file as they stood in
	// pjsip.conf (which held them in clear already).
	SecretsLiteral Secrets = "literal"
	// SecretsEnv writes password_env = "COMPANION_<PEER>_<SIDE>_PASSWORD"
	// instead; Result.EnvVars lists the variables to set.
	SecretsEnv Secrets = "env"
)

// Options of Convert.
type Options struct {
	// Name is [companion] name; empty: the user part of the first
	// outbound-publish server_uri (the name this Asterisk has at its peer).
	Name string
	// Listen is the sip_listen entry; empty: a udp:// listener on the
	// address of pjsip.conf's first UDP transport, port 5070.
	Listen  string
	Secrets Secrets // empty: SecretsLiteral
	// Source names the input in the file's first comment.
	Source string
}

// Result is the TOML file and what the reader must know about it.
type Result struct {
	TOML  []byte
	Peers []string
	// NotCarried counts the pjsip.conf settings and sections that got a
	// "# not carried over" comment instead of a TOML key.
	NotCarried int
	// EnvVars are the variables the file names (SecretsEnv), each with
	// what it must hold.
	EnvVars []string
	// Placeholders are keys whose value is made up and must be edited
	// (pjsip.conf does not know the AMI and ARI users).
	Placeholders []string
	// LiteralSecrets counts passwords copied into the file.
	LiteralSecrets int
}

// The two event packages of res_pjsip_publish_asterisk.
const (
	eventDevice  = "asterisk-devicestate"
	eventMailbox = "asterisk-mwi"
)

// Convert writes the companion TOML equivalent to the
// res_pjsip_publish_asterisk setup of conf.
func Convert(conf *Conf, opt Options) (*Result, error) {
	if opt.Secrets == "" {
		opt.Secrets = SecretsLiteral
	}
	if opt.Secrets != SecretsLiteral && opt.Secrets != SecretsEnv {
		return nil, fmt.Errorf("secrets must be %q or %q", SecretsLiteral, SecretsEnv)
	}
	if opt.Source == "" {
		opt.Source = "pjsip.conf"
	}
	m := &migration{opt: opt, conf: conf, res: &Result{}, reached: map[*object]bool{}, names: map[string]bool{}, resources: map[string]bool{}}
	m.index()
	m.acceptPeers()
	m.publishPeers()
	for _, p := range m.peers {
		m.buildAccept(p)
	}
	m.write()
	return m.res, nil
}

type migration struct {
	opt  Options
	conf *Conf
	res  *Result

	objs      []*object
	untyped   []*Category
	byType    map[string][]*object
	byID      map[string]*object   // type NUL name
	idents    map[string][]*object // identify sections by endpoint
	peerNamed map[string]*peer     // peer name and inbound-publication name
	peerDest  map[string]*peer     // publishKey of a peer with one publisher
	dups      map[*object]bool
	reached   map[*object]bool // objects that belong to a peer
	peers     []*peer
	names     map[string]bool
	resources map[string]bool
}

// peer is one [[peer]] being built.
type peer struct {
	name    string
	ip      *object // inbound-publication: the accept side
	devAP   *object // asterisk-publication for asterisk-devicestate
	mwiAP   *object // ... for asterisk-mwi
	ep      *object // endpoint named by the inbound-publication
	ops     []*object
	refresh []*object // outbound-publish objects named for refresh
	intro   []string
	publish *section
	accept  *section
	objects []*object // in the order their leftovers are listed
}

// section is a TOML table's lines: key = value pairs and comments.
type section struct {
	lines []line
}

type line struct {
	key   string // "" for a comment
	value any
	note  string
}

func (s *section) set(key string, value any, note string) {
	s.lines = append(s.lines, line{key: key, value: value, note: note})
}

func (s *section) say(format string, args ...any) {
	s.lines = append(s.lines, line{note: fmt.Sprintf(format, args...)})
}

func (s *section) has(key string) bool {
	for _, l := range s.lines {
		if l.key == key {
			return true
		}
	}
	return false
}

func (m *migration) index() {
	m.objs, m.untyped = objects(m.conf)
	m.byType = map[string][]*object{}
	m.byID = map[string]*object{}
	m.dups = map[*object]bool{}
	m.idents = map[string][]*object{}
	m.peerNamed = map[string]*peer{}
	m.peerDest = map[string]*peer{}
	seen := map[string]bool{}
	for _, o := range m.objs {
		k := o.Type + "\x00" + o.Name()
		if seen[k] {
			m.dups[o] = true
			continue
		}
		seen[k] = true
		m.byType[o.Type] = append(m.byType[o.Type], o)
		m.byID[k] = o
		if o.Type == "identify" {
			ep := strings.TrimSpace(o.peek("endpoint"))
			m.idents[ep] = append(m.idents[ep], o)
		}
	}
}

// get is the object of that type and name; sorcery ids are
// case-sensitive.
func (m *migration) get(typ, name string) *object {
	return m.byID[typ+"\x00"+name]
}

func (m *migration) reach(p *peer, o *object) {
	if o == nil || m.reached[o] {
		return
	}
	m.reached[o] = true
	p.objects = append(p.objects, o)
}

// uniqueName makes a valid, unused peer name from a section name.
func (m *migration) uniqueName(want string) string {
	var b strings.Builder
	for _, r := range want {
		if r <= ' ' || r == 0x7f {
			r = '_'
		}
		b.WriteRune(r)
	}
	name := b.String()
	if name == "" {
		name = "peer"
	}
	base := name
	for i := 2; m.names[name]; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	m.names[name] = true
	return name
}

// acceptPeers makes one peer per inbound-publication that routes an
// asterisk-* event.
func (m *migration) acceptPeers() {
	for _, ip := range m.byType["inbound-publication"] {
		if ip.peek("event_"+eventDevice) == "" && ip.peek("event_"+eventMailbox) == "" {
			continue // not ours: listed whole at the end
		}
		dev, hasDev := ip.last("event_" + eventDevice)
		mwi, hasMwi := ip.last("event_" + eventMailbox)
		p := &peer{ip: ip}
		epName := ip.value("endpoint")
		if epName != "" {
			p.ep = m.get("endpoint", epName)
		}
		want := ip.Name()
		if p.ep != nil {
			want = p.ep.Name()
		}
		p.name = m.uniqueName(want)
		p.intro = append(p.intro, fmt.Sprintf("[%s] type=inbound-publication (%s): what this peer publishes to us", ip.Name(), ip.Where()))
		m.reach(p, ip)
		if epName == "" {
			// Any endpoint may publish to it; the one of the same name is
			// the peer, as in the Asterisk documentation's example.
			if p.ep = m.get("endpoint", ip.Name()); p.ep != nil {
				p.intro = append(p.intro, fmt.Sprintf("[%s] type=inbound-publication has no endpoint= (any endpoint may publish to it): taken as the endpoint of the same name", ip.Name()))
				m.reach(p, p.ep)
			} else {
				p.intro = append(p.intro, fmt.Sprintf("[%s] type=inbound-publication has no endpoint=: any endpoint could publish to it", ip.Name()))
			}
		} else if p.ep == nil {
			p.intro = append(p.intro, fmt.Sprintf("endpoint = %s (%s): pjsip.conf defines no such endpoint", epName, ip.Where()))
		} else {
			m.reach(p, p.ep)
		}
		if hasDev {
			p.devAP = m.get("asterisk-publication", dev.Value)
			if p.devAP == nil {
				p.intro = append(p.intro, fmt.Sprintf("event_%s = %s (%s): no such asterisk-publication; Asterisk answers these PUBLISHes 404", eventDevice, dev.Value, dev.Where()))
			}
		}
		if hasMwi {
			p.mwiAP = m.get("asterisk-publication", mwi.Value)
			if p.mwiAP == nil {
				p.intro = append(p.intro, fmt.Sprintf("event_%s = %s (%s): no such asterisk-publication; Asterisk answers these PUBLISHes 404", eventMailbox, mwi.Value, mwi.Where()))
			}
		}
		m.reach(p, p.devAP)
		m.reach(p, p.mwiAP)
		// The outbound-publish objects named for refresh are this peer's
		// publishers: through them Asterisk asks for the peer's state and
		// answers its refresh requests.
		for _, ref := range []struct {
			ap    *object
			opt   string
			event string
		}{{p.devAP, "devicestate_publish", eventDevice}, {p.mwiAP, "mailboxstate_publish", eventMailbox}} {
			if ref.ap == nil {
				continue
			}
			v, ok := ref.ap.last(ref.opt)
			if !ok || v.Value == "" {
				continue
			}
			op := m.get("outbound-publish", v.Value)
			switch {
			case op == nil:
				p.intro = append(p.intro, fmt.Sprintf("%s = %s (%s): no such outbound-publish; refresh requests are not answered", ref.opt, v.Value, v.Where()))
			case strings.TrimSpace(op.value("event")) != ref.event:
				p.intro = append(p.intro, fmt.Sprintf("%s = %s (%s): that outbound-publish is not event=%s; Asterisk does not use it for refresh", ref.opt, v.Value, v.Where(), ref.event))
			default:
				p.refresh = append(p.refresh, op)
			}
		}
		m.peers = append(m.peers, p)
	}
	// Resources are the inbound-publication names, unique already.
	for _, p := range m.peers {
		m.resources[p.ip.Name()] = true
	}
}

// publishKey is what two outbound-publish objects must share to become one
// [peer.publish].
func publishKey(op *object) string {
	var b strings.Builder
	for _, k := range []string{"server_uri", "from_uri", "to_uri", "expiration", "outbound_auth"} {
		b.WriteString(strings.TrimSpace(op.peek(k)))
		b.WriteByte(0)
	}
	return b.String()
}

func eventOf(op *object) string { return strings.TrimSpace(op.peek("event")) }

// fits reports whether op can join p's publisher.
func fits(p *peer, op *object) bool {
	if len(p.ops) == 0 {
		return true
	}
	if len(p.ops) >= 2 || publishKey(p.ops[0]) != publishKey(op) {
		return false
	}
	return eventOf(p.ops[0]) != eventOf(op)
}

// publishPeers gives every asterisk-* outbound-publish to a peer: the one
// whose asterisk-publication names it for refresh, else one that sends to
// the same server_uri, else one of the same name (ast2-devicestate goes
// to ast2), else a peer of its own.
func (m *migration) publishPeers() {
	assigned := map[*object]bool{}
	for _, p := range m.peers {
		for _, op := range p.refresh {
			if assigned[op] {
				continue
			}
			if fits(p, op) {
				p.ops = append(p.ops, op)
				assigned[op] = true
			}
		}
	}
	for _, p := range m.peers {
		m.peerNamed[p.name] = p
		m.peerNamed[p.ip.Name()] = p
		if len(p.ops) == 1 {
			m.peerDest[publishKey(p.ops[0])] = p
		}
	}
	for _, op := range m.byType["outbound-publish"] {
		ev := eventOf(op)
		if assigned[op] || (ev != eventDevice && ev != eventMailbox) {
			continue
		}
		key := publishKey(op)
		home := m.peerDest[key]
		if home != nil && !fits(home, op) {
			home = nil
		}
		stem := opStem(op.Name())
		if home == nil {
			if p := m.peerNamed[stem]; p != nil && fits(p, op) {
				home = p
			}
		}
		if home == nil {
			home = &peer{name: m.uniqueName(stem)}
			home.intro = append(home.intro, "publish only: no inbound-publication of pjsip.conf belongs to this peer")
			m.peers = append(m.peers, home)
			m.peerNamed[home.name] = home
		}
		home.ops = append(home.ops, op)
		assigned[op] = true
		if len(home.ops) == 1 {
			m.peerDest[key] = home
		} else if m.peerDest[key] == home {
			delete(m.peerDest, key)
		}
	}
	for _, p := range m.peers {
		for _, op := range p.ops {
			m.reach(p, op)
		}
	}
}

// opStem strips the usual event suffix of an outbound-publish name.
func opStem(name string) string {
	for _, s := range []string{"-devicestate", "-device-state", "-device", "-dev", "-mwi", "-mailbox", "_devicestate", "_mwi"} {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			return name[:len(name)-len(s)]
		}
	}
	return name
}

func (m *migration) buildAccept(p *peer) {
	if len(p.ops) > 0 {
		p.publish = m.buildPublish(p)
	}
	if p.ip == nil {
		return
	}
	s := &section{}
	resource := p.ip.Name()
	if !companion.ValidURIUser(resource) {
		p.intro = append(p.intro, fmt.Sprintf("[%s] type=inbound-publication: the name is not a valid SIP URI user part, so no request could reach it; nothing accepted", resource))
		return
	}
	s.set("resource", resource, fmt.Sprintf("[%s] type=inbound-publication, %s", resource, p.ip.Where()))
	m.acceptWho(p, s)
	m.acceptEvent(p, s, p.devAP, "device_state", eventDevice)
	m.acceptEvent(p, s, p.mwiAP, "mailbox_state", eventMailbox)
	if p.devAP != nil && p.devAP != p.mwiAP {
		m.explainOther(s, p.devAP, p.mwiAP, "mailbox_state", eventMailbox)
	}
	if p.mwiAP != nil && p.mwiAP != p.devAP {
		m.explainOther(s, p.mwiAP, p.devAP, "device_state", eventDevice)
	}
	switch {
	case len(p.refresh) == 0:
	case p.publish == nil:
		s.say("no refresh: devicestate_publish/mailboxstate_publish name no usable outbound-publish")
	default:
		n := 0
		for _, op := range p.refresh {
			for _, o := range p.ops {
				if o == op {
					n++
				}
			}
		}
		if n > 0 {
			s.set("refresh", true, "devicestate_publish / mailboxstate_publish: ask for its state at start, answer its refresh requests")
			if n < len(p.refresh) {
				s.say("refresh covers both events; one publish named for refresh went to another peer (see there)")
			}
		}
	}
	p.accept = s
}

// acceptWho writes match and digest credentials: identify sections for
// the endpoint, and its auth.
func (m *migration) acceptWho(p *peer, s *section) {
	var match []string
	var notes []string
	if p.ep != nil {
		for _, id := range m.idents[p.ep.Name()] {
			m.reach(p, id)
			id.last("endpoint")
			for _, v := range id.all("match") {
				for _, e := range splitList(v.Value) {
					pfx, note, err := identifyMatch(e)
					if err != nil {
						notes = append(notes, fmt.Sprintf("not carried over: match %v (%s, [%s] type=identify)", err, v.Where(), id.Name()))
						m.res.NotCarried++
						continue
					}
					if note != "" {
						notes = append(notes, fmt.Sprintf("%s (%s)", note, v.Where()))
						m.res.NotCarried++
					}
					match = append(match, pfx)
				}
			}
		}
		if v, ok := p.ep.last("identify_by"); ok {
			for _, how := range splitList(v.Value) {
				if how != "ip" {
					notes = append(notes, fmt.Sprintf("not carried over: identify_by = %s (%s): the companion identifies a peer by source address (match) and digest auth only, never by the From user", v.Value, v.Where()))
					m.res.NotCarried++
					break
				}
			}
		}
	}
	for _, n := range notes {
		s.say("%s", n)
	}
	if len(match) > 0 {
		s.set("match", dedupe(match), "[type=identify] match")
	}
	hasAuth := false
	if p.ep != nil {
		if v, ok := p.ep.last("auth"); ok && strings.TrimSpace(v.Value) != "" {
			hasAuth = m.credentials(p, s, v, "ACCEPT", "endpoint auth: the companion challenges the peer with these")
		}
	}
	if len(match) > 0 || hasAuth {
		return
	}
	// Asterisk took the peer's word for it (From user); the companion needs
	// an address or digest credentials.
	if p.publish != nil {
		if u, err := companion.ParseSIPURI(p.ops[0].value("server_uri")); err == nil {
			if a, err := netip.ParseAddr(u.Host); err == nil {
				a = a.Unmap()
				s.set("match", []string{netip.PrefixFrom(a, a.BitLen()).String()},
					"inferred from server_uri: pjsip.conf identified this peer by From user only; change it if the peer publishes from another address")
				return
			}
		}
	}
	s.set("match", []string{"0.0.0.0/0", "::/0"},
		"OPEN TO EVERY ADDRESS, as pjsip.conf was (it identified the peer by From user only): narrow it to the peer's address or add username/password")
}

func dedupe(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// acceptEvent writes device_state or mailbox_state and its filter from
// the asterisk-publication the inbound-publication routes the event to.
func (m *migration) acceptEvent(p *peer, s *section, ap *object, key, event string) {
	if ap == nil {
		s.set(key, false, "event_"+event+" routes to no asterisk-publication")
		return
	}
	on := false
	if v, ok := ap.last(key); ok {
		val, known := astTrue(v.Value)
		on = val
		if !known {
			s.say("%s = %s (%s) is neither yes nor no: read as no, as Asterisk does", key, v.Value, v.Where())
		}
	}
	filter, hasFilter := ap.last(key + "_filter")
	if hasFilter && filter.Value != "" {
		if _, err := companion.CompileFilter(filter.Value); err != nil {
			s.say("not carried over: %s_filter = %s (%s): %v", key, filter.Value, filter.Where(), err)
			s.say("%s is turned off until the filter is rewritten, rather than let every state through", key)
			m.res.NotCarried++
			s.set(key, false, fmt.Sprintf("[%s] type=asterisk-publication %s, turned off (filter above)", ap.Name(), key))
			return
		}
	}
	s.set(key, on, fmt.Sprintf("[%s] type=asterisk-publication, %s", ap.Name(), ap.Where()))
	if hasFilter && filter.Value != "" {
		s.set(key+"_filter", filter.Value, filter.Where())
	}
}

// explainOther comments the switch of an asterisk-publication that the
// inbound-publication does not route that event to (it routes it to
// other, possibly nil).
func (m *migration) explainOther(s *section, ap, other *object, key, event string) {
	to := "nowhere"
	if other != nil {
		to = "[" + other.Name() + "]"
	}
	for _, k := range []string{key, key + "_filter"} {
		for _, v := range ap.all(k) {
			s.say("not carried over: [%s] type=asterisk-publication %s = %s (%s): no effect, event_%s goes to %s", ap.Name(), k, v.Value, v.Where(), event, to)
			m.res.NotCarried++
		}
	}
}

func (m *migration) buildPublish(p *peer) *section {
	s := &section{}
	base := p.ops[0]
	var names []string
	for _, op := range p.ops {
		names = append(names, fmt.Sprintf("[%s] type=outbound-publish (%s) event=%s", op.Name(), op.Where(), eventOf(op)))
	}
	s.say("from %s", strings.Join(names, " and "))
	sv, _ := base.last("server_uri")
	for _, op := range p.ops[1:] {
		op.last("server_uri")
	}
	if sv == nil || sv.Value == "" {
		s.say("not carried over: no server_uri, Asterisk publishes nothing through it")
		m.res.NotCarried++
		return nil
	}
	if why := checkServerURI(sv.Value); why != "" {
		s.say("not carried over: server_uri = %s (%s): %s", sv.Value, sv.Where(), why)
		s.say("this peer publishes nothing until server_uri is fixed")
		m.res.NotCarried++
		return nil
	}
	s.set("server_uri", sv.Value, sv.Where())
	for _, k := range []string{"from_uri", "to_uri"} {
		v, ok := base.last(k)
		for _, op := range p.ops[1:] {
			op.last(k)
		}
		if !ok || v.Value == "" {
			continue
		}
		if _, err := companion.ParseSIPURI(v.Value); err != nil {
			s.say("not carried over: %s = %s (%s): %v", k, v.Value, v.Where(), err)
			m.res.NotCarried++
			continue
		}
		s.set(k, v.Value, v.Where())
	}
	for _, op := range p.ops {
		ev := eventOf(op)
		key := "device_state"
		other := "@mailbox_state_filter"
		if ev == eventMailbox {
			key, other = "mailbox_state", "@device_state_filter"
		}
		if s.has(key) {
			continue
		}
		on, filter := true, ""
		f, ok := op.last("@" + key + "_filter")
		if ok && f.Value != "" {
			if _, err := companion.CompileFilter(f.Value); err != nil {
				s.say("not carried over: @%s_filter = %s (%s): %v", key, f.Value, f.Where(), err)
				s.say("%s is turned off until the filter is rewritten, rather than send every state", key)
				m.res.NotCarried++
				on = false
			} else {
				filter = f.Value
			}
		}
		op.last("event")
		s.set(key, on, fmt.Sprintf("event = %s, [%s]", ev, op.Name()))
		if filter != "" {
			s.set(key+"_filter", filter, "@"+key+"_filter, "+f.Where())
		}
		for _, v := range op.all(other) {
			s.say("not carried over: %s = %s (%s): no effect on an event=%s publish", other, v.Value, v.Where(), ev)
			m.res.NotCarried++
		}
	}
	if v, ok := base.last("expiration"); ok {
		for _, op := range p.ops[1:] {
			op.last("expiration")
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
		if err != nil || n < 1 || n > 1<<31-1 {
			s.say("not carried over: expiration = %s (%s): want whole seconds from 1; the companion's default (3600) applies", v.Value, v.Where())
			m.res.NotCarried++
		} else {
			s.set("expiration", n, v.Where())
		}
	}
	if v, ok := base.last("outbound_auth"); ok && strings.TrimSpace(v.Value) != "" {
		for _, op := range p.ops[1:] {
			op.last("outbound_auth")
		}
		m.credentials(p, s, v, "PUBLISH", "outbound_auth: answers the peer's digest challenge")
	}
	return s
}

// checkServerURI says why the companion cannot publish to v, as
// companion/config would refuse it; "" when it can.
func checkServerURI(v string) string {
	u, err := companion.ParseSIPURI(v)
	switch {
	case err != nil:
		return err.Error()
	case u.User == "":
		return "needs a user part, the resource the peer accepts publications on"
	case u.Transport() != "" && u.Transport() != "udp" && u.Transport() != "tcp" && u.Transport() != "tls":
		return "the companion sends over udp, tcp or tls"
	case u.Scheme == "sips" && u.Transport() == "udp":
		return "sips: needs a secure transport, not udp"
	}
	return ""
}

// credentials writes username and password (or password_env) from the
// auth section named by v (endpoint auth or outbound_auth); ok when they
// were written.
func (m *migration) credentials(p *peer, s *section, v *Var, side, why string) bool {
	names := splitList(v.Value)
	if len(names) > 1 {
		s.say("%s = %s (%s): only the first auth, %s, is carried over", v.Name, v.Value, v.Where(), names[0])
		m.res.NotCarried++
	}
	a := m.get("auth", names[0])
	if a == nil {
		s.say("not carried over: %s = %s (%s): pjsip.conf defines no such auth", v.Name, names[0], v.Where())
		m.res.NotCarried++
		return false
	}
	m.reach(p, a)
	if t := strings.TrimSpace(a.value("auth_type")); t != "" && t != "userpass" {
		s.say("not carried over: [%s] type=auth auth_type = %s (%s): the companion needs the password itself (userpass)", a.Name(), t, a.Where())
		m.res.NotCarried++
		return false
	}
	user, hasUser := a.last("username")
	pass, hasPass := a.last("password")
	if !hasUser || user.Value == "" || !hasPass || pass.Value == "" {
		s.say("not carried over: [%s] type=auth (%s) lacks username or password", a.Name(), a.Where())
		m.res.NotCarried++
		return false
	}
	s.set("username", user.Value, fmt.Sprintf("%s: [%s] type=auth, %s", why, a.Name(), user.Where()))
	if m.opt.Secrets == SecretsEnv {
		env := envName("COMPANION_" + p.name + "_" + side + "_PASSWORD")
		s.set("password_env", env, fmt.Sprintf("set it to the password of [%s] type=auth, %s", a.Name(), pass.Where()))
		m.res.EnvVars = append(m.res.EnvVars, fmt.Sprintf("%s: the password of [%s] type=auth (%s)", env, a.Name(), pass.Where()))
	} else {
		s.set("password", pass.Value, fmt.Sprintf("copied from [%s] type=auth, %s; password_file keeps it out of this file", a.Name(), pass.Where()))
		m.res.LiteralSecrets++
	}
	return true
}

func envName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
