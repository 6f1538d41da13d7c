package companion

import "time"

// Defaults of [fleet].
const (
	DefaultFleetBucket      = "asterisk-state"
	DefaultFleetPresenceTTL = 15 * time.Second
	DefaultFleetReplicas    = 1
)

// FleetPeerName is what {peer} in apply.device_name expands to for states
// from the fleet (a SIP peer's states expand to the peer's name).
const FleetPeerName = "fleet"

// FleetConfig is the [fleet] section: this node shares state with the other
// members of a fleet through a NATS JetStream key-value bucket instead of
// (or beside) SIP peers.
type FleetConfig struct {
	NATSURLs []string // nats:// or tls:// URLs of one cluster, without credentials
	Bucket   string
	// Replicas is the bucket's replica count when this node creates it; an
	// existing bucket is used as it is.
	Replicas int
	// PresenceTTL is how long this node's presence key lives without a
	// refresh: the bound on how long a dead node's states outlive it.
	PresenceTTL time.Duration

	// At most one of these authenticates: a .creds file (JWT and seed),
	// an nkey seed file, or a username with its password.
	CredsFile    string
	NKeySeedFile string
	Username     string
	Password     Secret

	TLSCAFile   string // the roots the servers' certificates must chain to
	TLSCertFile string // client certificate, with TLSKeyFile
	TLSKeyFile  string

	Publish FleetSwitches // what of ours goes into the bucket
	Accept  FleetSwitches // what of the others' is applied here
}

// FleetSwitches are the switches and filters of [fleet.publish] or
// [fleet.accept], with a peer's semantics: both kinds default to off, and
// a filter is a POSIX extended regular expression matched
// case-insensitively against the device name or mailbox uniqueid.
type FleetSwitches struct {
	DeviceState        bool
	MailboxState       bool
	DeviceStateFilter  Filter
	MailboxStateFilter Filter
}

// Passes reports whether k is switched on and passes its filter.
func (s FleetSwitches) Passes(k Key) bool {
	switch k.Kind {
	case KindDevice:
		return s.DeviceState && s.DeviceStateFilter.Match(k.Name)
	case KindMailbox:
		return s.MailboxState && s.MailboxStateFilter.Match(k.Name)
	}
	return false
}

// Auth names the way the fleet link authenticates, never a secret.
func (f *FleetConfig) Auth() string {
	switch {
	case f.CredsFile != "":
		return "creds file " + f.CredsFile
	case f.NKeySeedFile != "":
		return "nkey seed file " + f.NKeySeedFile
	case f.Username != "":
		return "user " + f.Username + " (password " + f.Password.Source() + ")"
	}
	return "none"
}
