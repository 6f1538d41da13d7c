package httpstatus

import (
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

// Source is where the listener reads what it reports, at each request.
// Functions left nil report nothing of their part (AMI nil: no [ami]).
type Source struct {
	Node    string
	EID     companion.EntityID
	Version string
	// PeerNames are the configured peers' names, in file order, asked at
	// every request (reload changes them); nil: none.
	PeerNames func() []string

	AMI       func() AMIState // nil without [ami]
	Listeners func() []sipstack.ListenerState
	SIP       func() sipstack.Stats
	Local     func() companion.LocalStats
	Receiver  func() companion.ReceiverStats
	// Apply reports ok false when nothing is applied.
	Apply          func() (companion.ApplyStats, bool)
	PublisherStats func() []companion.PublisherStats
	Provision      func() ProvisionState // nil without [ari]
	// Fleet reports the fleet link; ok is false without [fleet].
	Fleet func() (FleetState, bool)

	// LocalTable holds this node's states (origin EID), RemoteTable the
	// peers'; PeerOf names the peer holding an origin EID now.
	LocalTable  *companion.Table
	RemoteTable *companion.Table
	PeerOf      func(companion.EntityID) string

	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// AMIState is the AMI link as the AMI adapter sees it.
type AMIState struct {
	Connected   bool
	Connects    uint64    // logins; each after the first is a reconnect
	LastConnect time.Time // zero before the first
	State       string    // connecting, connected, lost, refused, ...
	Reason      string    // Asterisk's or the network's word, if any
}

// Reconnects is Connects less the first login.
func (a AMIState) Reconnects() uint64 {
	if a.Connects == 0 {
		return 0
	}
	return a.Connects - 1
}

// FleetState is the fleet link (companion/fleet.Link.Stats) as the
// listener reports it.
type FleetState struct {
	Connected bool
	// Members are the other present members: each one's Entity ID.
	Members    []companion.EntityID
	HeldStates int // valid states held from the fleet
	OurKeys    int // our keys in the bucket
	Pending    int // our keys waiting to be written
	Written    uint64
	Failed     uint64 // writes that failed (each is retried)
	Purged     uint64 // departed members' keys removed by this node
	// Ignored counts the bucket entries ignored, by reason (a constant of
	// the fleet package; every reason is present, zero or not).
	Ignored   map[string]uint64
	LastError string    // why the link is down, or was last
	SyncedAt  time.Time // the last full sync; zero before the first
}

// ProvisionState is what the provisioning keeper has done.
type ProvisionState struct {
	Runs, Failures uint64
	LastRun        time.Time
	LastError      string
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Source) fleet() (FleetState, bool) {
	if s.Fleet == nil {
		return FleetState{}, false
	}
	return s.Fleet()
}

func (s *Source) local() companion.LocalStats {
	if s.Local == nil {
		return companion.LocalStats{}
	}
	return s.Local()
}

func (s *Source) receiver() companion.ReceiverStats {
	if s.Receiver == nil {
		return companion.ReceiverStats{}
	}
	return s.Receiver()
}

func (s *Source) listeners() []sipstack.ListenerState {
	if s.Listeners == nil {
		return nil
	}
	return s.Listeners()
}

func (s *Source) publishers() []companion.PublisherStats {
	if s.PublisherStats == nil {
		return nil
	}
	return s.PublisherStats()
}

func (s *Source) peers() []string {
	if s.PeerNames == nil {
		return nil
	}
	return s.PeerNames()
}
