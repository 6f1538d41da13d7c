package companion

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults of the TOML configuration.
const (
	DefaultAMIAddress           = "127.0.0.1:5038"
	DefaultAMIReconnectInterval = 2 * time.Second
	DefaultAMIActionTimeout     = 5 * time.Second
	DefaultARITimeout           = 10 * time.Second
	DefaultStateDir             = "/var/lib/companion"
	DefaultARIURL               = "http://127.0.0.1:8088/ari"
	DefaultPublishExpiration    = 3600 * time.Second
	DefaultAMIDeviceName        = "Custom:{device}"
	DefaultARIDeviceName        = "Stasis:{device}"
	// DefaultHTTPListen is where /metrics, /healthz, /readyz and /status
	// are served unless [companion] http_listen says otherwise.
	DefaultHTTPListen = "127.0.0.1:9090"
)

// Config is the whole TOML configuration, validated and with defaults filled.
type Config struct {
	File string // path it was read from, for messages

	Node    NodeConfig // [companion]
	AMI     *AMIConfig // [ami]; nil when the section is absent
	ARI     *ARIConfig // [ari]; nil when the section is absent
	Apply   ApplyConfig
	Peers   []PeerConfig
	Sorcery []SorceryObject // in file order, which is also the order to create them in
	Fleet   *FleetConfig    // [fleet]; nil when the section is absent

	// Warnings are problems that do not stop the companion from running.
	Warnings []*ConfigError
}

// Peer returns the peer named name, or nil.
func (c *Config) Peer(name string) *PeerConfig {
	for i := range c.Peers {
		if c.Peers[i].Name == name {
			return &c.Peers[i]
		}
	}
	return nil
}

// NodeConfig is the [companion] section: this node.
type NodeConfig struct {
	Name string
	// EID is the Entity ID stamped on published states; zero when the file
	// says eid = "auto" and the EID is to be read from the local Asterisk.
	EID         EntityID
	SIPListen   []Listener
	TLSCertFile string
	TLSKeyFile  string
	// TLSCAFile holds the PEM certificates that peers' TLS certificates
	// must chain to; empty: the system's roots.
	TLSCAFile string

	// StateDir holds what the companion keeps across restarts: the ledger
	// of states written for peers, and by default the provisioning state
	// file.
	StateDir string

	// Bounds of the SIP listeners; zero takes the SIP edge's defaults.
	SIPMaxConnections          int           // TCP and TLS connections in all
	SIPMaxConnectionsPerSource int           // per source address
	SIPMessageTimeout          time.Duration // to read one whole message once it started
	SIPIdleTimeout             time.Duration // without a complete message

	// HTTPListen is host:port of the status listener (/metrics, /healthz,
	// /readyz, /status); "" turns it off.
	HTTPListen string
}

// EIDAuto reports whether the EID must be read from the local Asterisk.
func (n NodeConfig) EIDAuto() bool { return n.EID.IsZero() }

// Listener is one sip_listen entry.
type Listener struct {
	Transport string // "udp", "tcp" or "tls"
	Host      string // IP address or host name, without brackets
	Port      int
}

// Address is host:port as net.Listen wants it.
func (l Listener) Address() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l Listener) String() string { return l.Transport + "://" + l.Address() }

// AMIConfig is the [ami] section: how to reach the local Asterisk's manager.
type AMIConfig struct {
	Address           string // host:port
	Username          string
	Secret            Secret
	ReconnectInterval time.Duration
	ActionTimeout     time.Duration // bound on each AMI action's answer
}

// ARIConfig is the [ari] section.
type ARIConfig struct {
	URL      string // http(s)://host[:port]/path, without credentials
	Username string
	Password Secret
	Timeout  time.Duration // bound on each HTTP request
	// StateFile records the sorcery objects provisioning created, so that
	// --prune knows what it may delete (ARI cannot list dynamic objects).
	StateFile string
}

// ApplyMode says through which interface remote state lands in the local
// Asterisk.
type ApplyMode string

const (
	ApplyAMI  ApplyMode = "ami"  // Setvar DEVICE_STATE(Custom:...), MWIUpdate
	ApplyARI  ApplyMode = "ari"  // PUT /deviceStates/Stasis:..., PUT /mailboxes
	ApplyNone ApplyMode = "none" // receive and drop
)

// ApplyConfig is the [apply] section.
type ApplyConfig struct {
	DeviceState  ApplyMode
	DeviceName   DeviceNameTemplate // always set when DeviceState is not none
	MailboxState ApplyMode
	// ClearDeviceState is written to a remote device when the peer that
	// asserted it goes away (publication expired or removed).
	ClearDeviceState DeviceState
	// LedgerFile records what was written for which peer, across
	// restarts ([companion] state_dir/applied.json); "" keeps the record
	// in memory only.
	LedgerFile string
}

// DeviceNameTemplate names the local device a remote device state is written
// to, e.g. "Custom:{device}" or "Stasis:{peer}-{device}".
type DeviceNameTemplate string

// Expand fills the placeholders. It does not shorten the result: Asterisk
// cuts device names at 79 characters, and what to do about a longer name is
// the caller's decision.
//
// It runs for every remote key applied, so it scans the template itself
// rather than build a strings.Replacer (about 1.3 KB of garbage a call);
// the result is the same: one pass, left to right, text outside the
// placeholders copied as is.
func (t DeviceNameTemplate) Expand(device, peer string, eid EntityID) string {
	rest := string(t)
	if !strings.Contains(rest, "{") {
		return rest
	}
	var b strings.Builder
	b.Grow(len(rest) + len(device) + len(peer))
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i])
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "{device}"):
			b.WriteString(device)
			rest = rest[len("{device}"):]
		case strings.HasPrefix(rest, "{peer}"):
			b.WriteString(peer)
			rest = rest[len("{peer}"):]
		case strings.HasPrefix(rest, "{eid}"):
			b.WriteString(eid.String())
			rest = rest[len("{eid}"):]
		default:
			b.WriteByte('{')
			rest = rest[1:]
		}
	}
}

// PeerConfig is one [[peer]]: another companion or a stock Asterisk.
type PeerConfig struct {
	Name    string
	Publish *PublishConfig // nil: we send this peer nothing
	Accept  *AcceptConfig  // nil: we take nothing from this peer
}

// PublishConfig is [peer.publish], the equivalent of the two outbound-publish
// objects (asterisk-devicestate, asterisk-mwi) towards a peer.
type PublishConfig struct {
	ServerURI          SIPURI
	FromURI            SIPURI
	ToURI              SIPURI
	DeviceState        bool
	MailboxState       bool
	DeviceStateFilter  Filter
	MailboxStateFilter Filter
	Expiration         time.Duration // whole seconds
	Username           string        // outbound_auth; empty: no credentials
	Password           Secret
	// ResendInterval is how often the whole state is queued again, behind
	// live changes; zero takes DefaultResendInterval, Off turns it off.
	ResendInterval time.Duration
	// MaxInFlight is how many publications of each event run side by side
	// towards this peer, keys sharded across them; 0 takes
	// DefaultMaxInFlight, 1 is what res_pjsip_outbound_publish does.
	MaxInFlight int
}

// InFlight returns the number of publications per event.
func (p *PublishConfig) InFlight() int {
	if p.MaxInFlight <= 0 {
		return DefaultMaxInFlight
	}
	return p.MaxInFlight
}

// DefaultMaxInFlight and MaxMaxInFlight bound [peer.publish] max_in_flight.
// A receiving companion's default max_publications (128) holds 32
// publications of both events from one peer.
const (
	DefaultMaxInFlight = 32
	MaxMaxInFlight     = 64
)

// Resend returns the interval of full resends, 0 when they are off.
func (p *PublishConfig) Resend() time.Duration {
	switch {
	case p.ResendInterval < 0:
		return 0
	case p.ResendInterval == 0:
		return DefaultResendInterval
	}
	return p.ResendInterval
}

// Off is the value of an optional interval the file turns off ("off").
const Off time.Duration = -1

// DefaultResendInterval is how often a publisher sends its whole state
// again: a stock Asterisk peer that restarted without asking for a
// refresh has our states back within it (its 412 to the first modify
// starts a new publication with everything), not only at the refresh of
// the publication, up to 0.9 × expiration later. At one PUBLISH per key
// and round trip, 1,000 devices cost about 3 requests a second.
const DefaultResendInterval = 5 * time.Minute

// AcceptConfig is [peer.accept], the equivalent of the peer's endpoint (with
// its identify and auth), inbound-publication and asterisk-publication.
type AcceptConfig struct {
	Resource           string         // request-URI user the peer publishes to
	Match              []netip.Prefix // allowed source addresses; empty: any (then Username is set)
	Username           string         // empty: no digest authentication
	Password           Secret
	DeviceState        bool
	MailboxState       bool
	DeviceStateFilter  Filter
	MailboxStateFilter Filter
	Refresh            bool

	// EIDs pins the Entity IDs this peer may publish under; empty: any
	// EID that no other peer holds. A pinned EID is never taken from
	// another peer.
	EIDs []EntityID
	// Bounds on what one peer may make this node keep; zero takes the
	// Default* value below.
	MaxPublications int           // live publications per event
	MaxKeys         int           // states held, both kinds together
	MaxEIDs         int           // distinct Entity IDs held at once
	MaxExpires      time.Duration // longest Expires granted; longer asks get this

	// QualifyFrequency is how often the peer is sent an OPTIONS to learn
	// whether it is alive; zero takes DefaultQualifyFrequency, Off turns
	// qualify off. QualifyAttempts is how many probes in a row must go
	// unanswered for the peer to count as down (its states are then
	// cleared); zero takes DefaultQualifyAttempts.
	QualifyFrequency time.Duration
	QualifyAttempts  int

	// What a stock Asterisk peer sends that is not worth applying (see
	// noise.go); the loader turns the first two on and fills
	// IgnoreDevices unless the file says otherwise.
	IgnoreMWIDevices bool     // drop devices named MWI:<mailbox>
	IgnoreInvalid    bool     // INVALID is no state: drop it, withdraw a held value
	IgnoreDevices    []string // device names dropped, the technology's case folded
}

// Defaults of qualify. 30 s and 3 attempts clear a silent peer's states
// within 95 s (not the hour a publication lives) for one OPTIONS per peer
// every 30 s; a false alarm needs three probes unanswered in a row, each
// already retransmitted 4 times over UDP within its 5 s. The timeout is
// what each probe waits, at most the frequency.
const (
	DefaultQualifyFrequency = 30 * time.Second
	DefaultQualifyAttempts  = 3
	DefaultQualifyTimeout   = 5 * time.Second
)

// Qualify returns how often the peer is probed, after how many unanswered
// probes in a row it counts as down, and how long each probe waits. freq
// is 0 when the peer is not probed: qualify is off, or the peer has no
// [peer.accept] (nothing of it to clear) or no [peer.publish] (no address
// to probe).
func (p *PeerConfig) Qualify() (freq time.Duration, attempts int, timeout time.Duration) {
	if p.Accept == nil || p.Publish == nil || p.Accept.QualifyFrequency < 0 {
		return 0, 0, 0
	}
	freq, attempts = p.Accept.QualifyFrequency, p.Accept.QualifyAttempts
	if freq == 0 {
		freq = DefaultQualifyFrequency
	}
	if attempts <= 0 {
		attempts = DefaultQualifyAttempts
	}
	return freq, attempts, min(DefaultQualifyTimeout, freq)
}

// QualifyBound is how long after a peer falls silent its states are
// cleared at the latest: the next attempts probes start within
// attempts × freq, and the last is given up timeout after it started.
// 0 when the peer is not probed.
func (p *PeerConfig) QualifyBound() time.Duration {
	freq, attempts, timeout := p.Qualify()
	if freq == 0 {
		return 0
	}
	return time.Duration(attempts)*freq + timeout
}

// Defaults of the [peer.accept] bounds. 128 publications leave room for a
// pipelining sender (several publications per event) and the orphans of
// lost answers; 250,000 keys hold 100,000 devices and 100,000 mailboxes of
// a large PBX; a node publishes under one EID, 4 leave room for a change
// of EID while the old publications live; 3,600 s is the native default
// expiration.
const (
	DefaultMaxPublications = 128
	DefaultMaxKeys         = 250_000
	DefaultMaxEIDs         = 4
	DefaultMaxExpires      = 3600 * time.Second
)

// Limits returns the bounds with defaults filled in.
func (a *AcceptConfig) Limits() (pubs, keys, eids int, expires time.Duration) {
	pubs, keys, eids, expires = a.MaxPublications, a.MaxKeys, a.MaxEIDs, a.MaxExpires
	if pubs <= 0 {
		pubs = DefaultMaxPublications
	}
	if keys <= 0 {
		keys = DefaultMaxKeys
	}
	if eids <= 0 {
		eids = DefaultMaxEIDs
	}
	if expires <= 0 {
		expires = DefaultMaxExpires
	}
	return pubs, keys, eids, expires
}

// Allows reports whether addr may publish as this peer by address. With no
// match list every address is allowed (credentials are then required).
func (a *AcceptConfig) Allows(addr netip.Addr) bool {
	if len(a.Match) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range a.Match {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// SorceryObject is one [[sorcery]]: a PJSIP (or other sorcery) object pushed
// through ARI /asterisk/config/dynamic/{Class}/{Type}/{ID}.
type SorceryObject struct {
	Class  string
	Type   string
	ID     string
	Fields []SorceryField // in file order
	Line   int            // line of its [[sorcery]] header, for messages
}

// Path is "class/type/id", as in the ARI URL.
func (o SorceryObject) Path() string { return o.Class + "/" + o.Type + "/" + o.ID }

// Field returns the value of the named field.
func (o SorceryObject) Field(name string) (string, bool) {
	for _, f := range o.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// SorceryField is one attribute/value pair, the value as ARI wants it.
type SorceryField struct {
	Name  string
	Value string

	secret bool // read from { env = ... } or { file = ... }
}

// Sensitive reports whether the field holds a credential (auth password,
// md5_cred, ..., or any value read from the environment or a file), whose
// value must never be printed.
func (f SorceryField) Sensitive() bool {
	if f.secret {
		return true
	}
	n := strings.ToLower(f.Name)
	for _, s := range []string{"password", "secret", "md5_cred", "token"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// Format prints name=value, masking credentials, so that dumping a config
// does not leak the passwords of pushed auth objects.
func (f SorceryField) Format(s fmt.State, verb rune) {
	v := f.Value
	if f.Sensitive() {
		v = SecretMask
	}
	if verb == 'v' && s.Flag('#') {
		_, _ = fmt.Fprintf(s, "companion.SorceryField{Name:%q, Value:%q}", f.Name, v)
		return
	}
	_, _ = fmt.Fprintf(s, "%s=%s", f.Name, v)
}

// MarshalJSON masks credentials as Format does. It is for dumps: the ARI
// body ({"attribute":...,"value":...}) is built from Name and Value.
func (f SorceryField) MarshalJSON() ([]byte, error) {
	v := f.Value
	if f.Sensitive() {
		v = SecretMask
	}
	return json.Marshal(struct{ Name, Value string }{f.Name, v})
}

// SIPURI is a parsed sip: or sips: URI, as far as configuration needs it.
type SIPURI struct {
	Scheme string // "sip" or "sips"
	User   string // may be empty
	Host   string // IP address or host name, without brackets
	Port   int    // 0 when absent
	Params string // URI parameters after the first ';', without it
}

// IsZero reports whether u is unset.
func (u SIPURI) IsZero() bool { return u.Host == "" }

// HostPort is host[:port], with brackets around an IPv6 address.
func (u SIPURI) HostPort() string {
	h := u.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if u.Port != 0 {
		h += ":" + strconv.Itoa(u.Port)
	}
	return h
}

func (u SIPURI) String() string {
	if u.IsZero() {
		return ""
	}
	s := u.Scheme + ":"
	if u.User != "" {
		s += u.User + "@"
	}
	s += u.HostPort()
	if u.Params != "" {
		s += ";" + u.Params
	}
	return s
}

// Identity is the URI without port and parameters: the default From and To of
// an outbound-publish, what a stock Asterisk identifies the sender by.
func (u SIPURI) Identity() SIPURI {
	return SIPURI{Scheme: u.Scheme, User: u.User, Host: u.Host}
}

// Transport is the lower-cased value of the URI's transport parameter,
// "" when it has none.
func (u SIPURI) Transport() string {
	for _, p := range strings.Split(u.Params, ";") {
		if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "transport") {
			return strings.ToLower(v)
		}
	}
	return ""
}

// ParseSIPURI reads scheme:[user@]host[:port][;params] with scheme sip or
// sips, host an IPv4 address, a bracketed IPv6 address or a host name.
// Headers (?...) and passwords in the user part are refused. Error messages
// do not repeat the input.
func ParseSIPURI(s string) (SIPURI, error) {
	var u SIPURI
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return u, fmt.Errorf("bad URI: want sip:[user@]host[:port]")
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		u.Scheme = strings.ToLower(scheme)
	default:
		return u, fmt.Errorf("bad URI: scheme must be sip or sips")
	}
	if strings.ContainsAny(rest, "?<> \t\"") {
		return u, fmt.Errorf("bad URI: want sip:[user@]host[:port][;params], without headers, angle brackets or spaces")
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		u.User, rest = rest[:i], rest[i+1:]
		if u.User == "" {
			return u, fmt.Errorf("bad URI: empty user before '@'")
		}
		if strings.Contains(u.User, ":") {
			return SIPURI{}, fmt.Errorf("bad URI: passwords in URIs are not supported, use username and password")
		}
		if !validURIUser(u.User) {
			return u, fmt.Errorf("bad URI: the user part has characters a SIP URI does not allow")
		}
	}
	hostport, params, hasParams := strings.Cut(rest, ";")
	if hasParams {
		for _, p := range strings.Split(params, ";") {
			if p == "" || strings.HasPrefix(p, "=") {
				return u, fmt.Errorf("bad URI: empty parameter")
			}
		}
	}
	u.Params = params
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return u, fmt.Errorf("bad URI: %w", err)
	}
	u.Host, u.Port = host, port
	return u, nil
}

// splitHostPort reads host[:port] where the port is optional, and checks the
// host. It returns port 0 when absent.
func splitHostPort(hp string) (host string, port int, err error) {
	var portStr string
	switch {
	case strings.HasPrefix(hp, "["):
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("missing ']' after IPv6 address")
		}
		host = hp[1:end]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("not an IPv6 address between '[' and ']'")
		}
		rest := hp[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, fmt.Errorf("unexpected text after ']'")
			}
			portStr = rest[1:]
			if portStr == "" {
				return "", 0, fmt.Errorf("empty port")
			}
		}
	case strings.Count(hp, ":") > 1:
		return "", 0, fmt.Errorf("an IPv6 address must be written in brackets, e.g. [2001:db8::1]")
	default:
		var hasPort bool
		host, portStr, hasPort = strings.Cut(hp, ":")
		if hasPort && portStr == "" {
			return "", 0, fmt.Errorf("empty port")
		}
		if host == "" {
			return "", 0, fmt.Errorf("missing host")
		}
		if !validHostName(host) {
			return "", 0, fmt.Errorf("host is neither an IP address nor a valid host name")
		}
	}
	if portStr != "" {
		n, err := strconv.Atoi(portStr)
		if err != nil || n < 1 || n > 65535 || portStr[0] == '+' {
			return "", 0, fmt.Errorf("port must be a number from 1 to 65535")
		}
		port = n
	}
	return host, port, nil
}

// validHostName accepts dotted IPv4 addresses and RFC 1123 host names.
func validHostName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return !strings.Contains(h, ":")
	}
	if len(h) > 253 {
		return false
	}
	allDigits := true
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				allDigits = false
			default:
				return false
			}
		}
	}
	// 1.2.3 or 1.2.3.999 is a mistyped address, not a name.
	return !allDigits
}

// validURIUser checks the user part of a SIP URI against RFC 3261
// (unreserved, user-unreserved and %HH escapes).
func validURIUser(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return s != ""
}

func isHex(c byte) bool {
	_, ok := unhex(c)
	return ok
}
