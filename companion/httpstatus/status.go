package httpstatus

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode"

	"github.com/astcompanion/sidecar/companion"
)

// Status is the document /status serves and "companion status" reads.
// Times are RFC 3339 in UTC; null where there is none yet.
type Status struct {
	Node      string           `json:"node"`
	EID       string           `json:"eid"`
	Version   string           `json:"version"`
	Time      time.Time        `json:"time"`
	Healthy   bool             `json:"healthy"`
	Problems  []string         `json:"problems"`
	Degraded  []string         `json:"degraded"` // wrong, but healthy: the fleet link down
	AMI       *AMIStatus       `json:"ami"`      // null without [ami]
	Listeners []ListenerStatus `json:"listeners"`
	Provision *ProvisionStatus `json:"provision,omitempty"` // without [ari]: absent
	Fleet     *FleetStatus     `json:"fleet"`               // null without [fleet]
	Counts    Counts           `json:"counts"`
	Peers     []PeerStatus     `json:"peers"`
	// States are the current device and mailbox states, the local
	// table's (this node's EID) first, then the remote table's per origin.
	States []OriginStates `json:"states"`
}

// AMIStatus is the AMI link.
type AMIStatus struct {
	Connected  bool       `json:"connected"`
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	Since      *time.Time `json:"since"` // the last login, while connected
	Reconnects uint64     `json:"reconnects"`
}

// ListenerStatus is one SIP listener.
type ListenerStatus struct {
	Listener string `json:"listener"`
	Up       bool   `json:"up"`
}

// ProvisionStatus is the [[sorcery]] keeper.
type ProvisionStatus struct {
	Runs      uint64     `json:"runs"`
	Failures  uint64     `json:"failures"`
	LastRun   *time.Time `json:"last_run"`
	LastError string     `json:"last_error,omitempty"`
}

// FleetStatus is the fleet link: the members present, what this node holds
// of theirs and what it wrote of its own into the bucket.
type FleetStatus struct {
	Connected bool     `json:"connected"`
	Members   []string `json:"members"` // the other present members' EIDs
	States    int      `json:"states"`  // states held from the fleet
	OurKeys   int      `json:"our_keys"`
	Pending   int      `json:"pending"` // our keys waiting to be written
	Written   uint64   `json:"written"` // writes and removals of our keys
	Failed    uint64   `json:"failed"`  // writes that failed, each retried
	Purged    uint64   `json:"purged"`  // departed members' keys removed by us
	// Ignored counts bucket entries ignored, by reason (wrong_eid,
	// bad_name, ...).
	Ignored   map[string]uint64 `json:"ignored"`
	LastError string            `json:"last_error,omitempty"`
	SyncedAt  *time.Time        `json:"synced_at"` // the last full sync
}

// Counts are the node's totals since it started.
type Counts struct {
	DeviceEvents   uint64 `json:"device_events"`
	MailboxEvents  uint64 `json:"mailbox_events"`
	StatesAccepted uint64 `json:"states_accepted"`
	StatesFiltered uint64 `json:"states_filtered"`
	Refused        uint64 `json:"refused"`
	WritesOK       uint64 `json:"writes_ok"`
	WritesFailed   uint64 `json:"writes_failed"`
}

// PeerStatus is one configured peer: what we publish to it, per event,
// and what we hold of its.
type PeerStatus struct {
	Name    string          `json:"name"`
	Publish []PublishStatus `json:"publish"`
	Receive *ReceiveStatus  `json:"receive"` // null without [peer.accept]
}

// PublishStatus is one publisher (one event towards one peer).
type PublishStatus struct {
	Event          string              `json:"event"`
	Publications   []PublicationStatus `json:"publications"`
	PublicationsUp int                 `json:"publications_up"` // slots holding an entity tag
	Queued         int                 `json:"queued"`
	LastSent       *time.Time          `json:"last_sent"`
	LastError      string              `json:"last_error,omitempty"`
	LastErrorAt    *time.Time          `json:"last_error_at,omitempty"`
	// Answers counts PUBLISHes by final status ("0": none came).
	Answers   map[string]uint64 `json:"answers"`
	Retries   uint64            `json:"retries"`
	Coalesced uint64            `json:"coalesced"`
}

// PublicationStatus is one publication slot.
type PublicationStatus struct {
	ETag       string   `json:"etag"`
	AgeSeconds *float64 `json:"age_seconds"` // since the tag was granted; null without one
	Keys       int      `json:"keys"`
}

// ReceiveStatus is what the receiver holds of a peer.
type ReceiveStatus struct {
	Publications map[string]int `json:"publications"` // by event
	States       int            `json:"states"`
	EIDs         int            `json:"eids"`
	Received     uint64         `json:"received"` // PUBLISHes answered 200
	LastReceived *time.Time     `json:"last_received"`
}

// OriginStates are the states of one origin EID.
type OriginStates struct {
	Origin    string          `json:"origin"`
	Local     bool            `json:"local"`          // this node's own
	Peer      string          `json:"peer,omitempty"` // the peer holding the EID now
	Devices   []DeviceStatus  `json:"devices"`
	Mailboxes []MailboxStatus `json:"mailboxes"`
}

// DeviceStatus is a device's state, as "devstate list" shows it.
type DeviceStatus struct {
	Device string `json:"device"`
	State  string `json:"state"`
}

// MailboxStatus is a mailbox's counts, as "voicemail show users" shows them.
type MailboxStatus struct {
	Mailbox string `json:"mailbox"`
	New     int    `json:"new"`
	Old     int    `json:"old"`
}

func isPrint(r rune) bool { return unicode.IsPrint(r) }

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// head builds the document without its states.
func (s *Source) head() Status {
	now := s.now()
	st := Status{
		Node:      s.Node,
		EID:       s.EID.String(),
		Version:   s.Version,
		Time:      now.UTC(),
		Problems:  s.Problems(),
		Degraded:  s.Degraded(),
		Listeners: []ListenerStatus{},
		Peers:     []PeerStatus{},
	}
	st.Healthy = len(st.Problems) == 0
	if st.Problems == nil {
		st.Problems = []string{}
	}
	if st.Degraded == nil {
		st.Degraded = []string{}
	}
	if f, ok := s.fleet(); ok {
		st.Fleet = fleetStatus(f)
	}
	if s.AMI != nil {
		a := s.AMI()
		st.AMI = &AMIStatus{Connected: a.Connected, State: a.State, Reason: a.Reason, Reconnects: a.Reconnects()}
		if a.Connected {
			st.AMI.Since = timePtr(a.LastConnect)
		}
	}
	for _, l := range s.listeners() {
		st.Listeners = append(st.Listeners, ListenerStatus{Listener: l.Listener.String(), Up: l.Up})
	}
	if s.Provision != nil {
		p := s.Provision()
		st.Provision = &ProvisionStatus{Runs: p.Runs, Failures: p.Failures, LastRun: timePtr(p.LastRun), LastError: p.LastError}
	}
	local, recv := s.local(), s.receiver()
	st.Counts = Counts{
		DeviceEvents:   local.Events[companion.KindDevice],
		MailboxEvents:  local.Events[companion.KindMailbox],
		StatesAccepted: recv.StatesAccepted,
		StatesFiltered: recv.StatesFiltered,
	}
	for _, n := range recv.Refusals {
		st.Counts.Refused += n
	}
	if s.Apply != nil {
		if a, ok := s.Apply(); ok {
			st.Counts.WritesOK, st.Counts.WritesFailed = a.WritesOK, a.WritesFailed
		}
	}
	pubs := s.publishers()
	for _, name := range s.peers() {
		p := PeerStatus{Name: name, Publish: []PublishStatus{}}
		for _, ps := range pubs {
			if ps.Peer == name {
				p.Publish = append(p.Publish, publishStatus(ps, now))
			}
		}
		slices.SortFunc(p.Publish, func(a, b PublishStatus) int { return compareStrings(a.Event, b.Event) })
		if r, ok := recv.Peers[name]; ok {
			p.Receive = &ReceiveStatus{
				Publications: map[string]int{},
				States:       r.States,
				EIDs:         r.EIDs,
				Received:     r.Received,
				LastReceived: timePtr(r.LastReceived),
			}
			for ev, n := range r.Publications {
				p.Receive.Publications[string(ev)] = n
			}
		}
		st.Peers = append(st.Peers, p)
	}
	return st
}

func fleetStatus(f FleetState) *FleetStatus {
	out := &FleetStatus{
		Connected: f.Connected, Members: make([]string, 0, len(f.Members)), States: f.HeldStates,
		OurKeys: f.OurKeys, Pending: f.Pending, Written: f.Written, Failed: f.Failed, Purged: f.Purged,
		Ignored: make(map[string]uint64, len(f.Ignored)), LastError: f.LastError, SyncedAt: timePtr(f.SyncedAt),
	}
	for _, m := range f.Members {
		out.Members = append(out.Members, m.String())
	}
	slices.Sort(out.Members)
	for r, n := range f.Ignored {
		out.Ignored[r] = n
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func publishStatus(ps companion.PublisherStats, now time.Time) PublishStatus {
	out := PublishStatus{
		Event:        string(ps.Event),
		Publications: []PublicationStatus{},
		Queued:       ps.Queued,
		LastSent:     timePtr(ps.LastSent),
		LastError:    ps.LastError,
		LastErrorAt:  timePtr(ps.LastErrorAt),
		Answers:      map[string]uint64{},
		Retries:      ps.Retries,
		Coalesced:    ps.Coalesced,
	}
	for status, n := range ps.Answers {
		out.Answers[strconv.Itoa(status)] = n
	}
	for _, p := range ps.Publications {
		pub := PublicationStatus{ETag: p.ETag, Keys: p.Keys}
		if p.ETag != "" {
			out.PublicationsUp++
			if !p.Granted.IsZero() {
				age := now.Sub(p.Granted).Round(time.Millisecond).Seconds()
				pub.AgeSeconds = &age
			}
		}
		out.Publications = append(out.Publications, pub)
	}
	return out
}

// serveStatus writes the document. The states are streamed one by one
// rather than built first: a node may hold 100,000 and more. Each
// origin's entries are copied out of its table at once (Table.Entries),
// so one origin's list is consistent; different origins are read one
// after the other. ?states=0 leaves the states out.
func (s *Source) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	head := s.head()
	withStates := r.URL.Query().Get("states") != "0"
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	b, err := json.Marshal(head)
	if err != nil {
		return // cannot happen: plain types
	}
	// The head ends with "states":null; the states replace that null.
	b = b[:len(b)-len(`null}`)]
	bw.Write(b)
	if !withStates {
		bw.WriteString("[]}\n")
		return
	}
	bw.WriteString("[")
	first := true
	origin := func(t *companion.Table, eid companion.EntityID, local bool) {
		if t == nil {
			return
		}
		entries := t.Entries(eid)
		if !local && len(entries) == 0 {
			return
		}
		if !first {
			bw.WriteString(",")
		}
		first = false
		o := OriginStates{Origin: eid.String(), Local: local}
		if !local && s.PeerOf != nil {
			o.Peer = s.PeerOf(eid)
		}
		hb, _ := json.Marshal(o)
		// {"origin":...,"devices":null,"mailboxes":null}: stream both lists.
		hb = hb[:len(hb)-len(`"devices":null,"mailboxes":null}`)]
		bw.Write(hb)
		bw.WriteString(`"devices":[`)
		n := 0
		for _, e := range entries {
			if e.State.Key.Kind != companion.KindDevice {
				continue
			}
			if n > 0 {
				bw.WriteString(",")
			}
			n++
			b, _ := json.Marshal(DeviceStatus{Device: e.State.Key.Name, State: e.State.Device.String()})
			bw.Write(b)
		}
		bw.WriteString(`],"mailboxes":[`)
		n = 0
		for _, e := range entries {
			if e.State.Key.Kind != companion.KindMailbox {
				continue
			}
			if n > 0 {
				bw.WriteString(",")
			}
			n++
			b, _ := json.Marshal(MailboxStatus{Mailbox: e.State.Key.Name, New: e.State.New, Old: e.State.Old})
			bw.Write(b)
		}
		bw.WriteString("]}")
	}
	origin(s.LocalTable, s.EID, true)
	if s.RemoteTable != nil {
		for _, eid := range s.RemoteTable.Origins() {
			if eid != s.EID {
				origin(s.RemoteTable, eid, false)
			}
		}
	}
	bw.WriteString("]}\n")
}
