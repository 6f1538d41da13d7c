package fleet

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// Reasons a bucket entry is ignored, as counted by Stats.Ignored.
const (
	IgnoredBadKey      = "bad_key"      // not a key of ours, or a name not in base64url
	IgnoredBadName     = "bad_name"     // a name companion.CheckName refuses (control characters, too long, ...)
	IgnoredBadValue    = "bad_value"    // not a body the codec reads
	IgnoredWrongEID    = "wrong_eid"    // the value's EID is not the key's: written under another node's EID
	IgnoredWrongKey    = "key_mismatch" // the value's kind or name is not the key's
	IgnoredBadPresence = "bad_presence"
	IgnoredTooManyKeys = "too_many_keys"
)

// IgnoredReasons are all the reasons, for metrics that show each from zero.
var IgnoredReasons = []string{IgnoredBadKey, IgnoredBadName, IgnoredBadValue, IgnoredWrongEID, IgnoredWrongKey, IgnoredBadPresence, IgnoredTooManyKeys}

// DefaultMaxRemoteKeys bounds the states held from the whole fleet.
const DefaultMaxRemoteKeys = 1 << 20

// maxPresenceSize bounds a presence value.
const maxPresenceSize = 1 << 10

// presence is the value of a presence key.
type presence struct {
	EID string `json:"eid"`
}

func encodePresence(eid companion.EntityID) []byte {
	b, _ := json.Marshal(presence{EID: eid.String()})
	return b
}

// view is what this node knows of the other members from the bucket: who
// is present and the newest valid value of each of their keys. It puts the
// present members' states into the remote table, and only theirs.
// It is used by one goroutine at a time; its counters are safe to read
// from any.
type view struct {
	self    companion.EntityID
	accept  companion.FleetSwitches
	remote  *companion.Table
	maxKeys int

	present map[companion.EntityID]bool
	held    map[companion.EntityID]map[companion.Key]heldState
	total   int
	applied map[companion.EntityID]bool // origins this view put into remote
	loading bool                        // initial values: remote untouched until finishLoad
	// missing are applied origins a resync did not find: their states stay
	// until the deadline, for a member whose presence the server lost
	// (NATS restarted empty) announces itself again within its TTL.
	missing map[companion.EntityID]time.Time
	grace   time.Duration

	mu      sync.Mutex
	ignored map[string]uint64
}

type heldState struct {
	state    companion.State
	revision uint64
	created  time.Time
}

func newView(self companion.EntityID, accept companion.FleetSwitches, remote *companion.Table, maxKeys int, grace time.Duration) *view {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxRemoteKeys
	}
	return &view{
		self: self, accept: accept, remote: remote, maxKeys: maxKeys, grace: grace,
		present: make(map[companion.EntityID]bool),
		held:    make(map[companion.EntityID]map[companion.Key]heldState),
		applied: make(map[companion.EntityID]bool),
		missing: make(map[companion.EntityID]time.Time),
		ignored: make(map[string]uint64),
	}
}

func (v *view) ignore(reason string) {
	v.mu.Lock()
	v.ignored[reason]++
	v.mu.Unlock()
}

// Ignored returns the counts of ignored entries by reason.
func (v *view) Ignored() map[string]uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]uint64, len(v.ignored))
	for r, n := range v.ignored {
		out[r] = n
	}
	return out
}

// startLoad begins a resync: the bucket's current values follow, then
// finishLoad. What the view held is forgotten (the remote table is not
// touched until finishLoad, which reconciles it).
func (v *view) startLoad() {
	v.loading = true
	clear(v.present)
	clear(v.held)
	v.total = 0
}

// finishLoad makes the remote table match the loaded bucket: each present
// member's states exactly, and nothing of members gone meanwhile.
func (v *view) finishLoad() {
	v.loading = false
	for origin := range v.present {
		v.replace(origin)
	}
	deadline := time.Now().Add(v.grace)
	for origin := range v.applied {
		if !v.present[origin] {
			if _, ok := v.missing[origin]; !ok {
				v.missing[origin] = deadline
			}
		}
	}
}

// replace makes origin's states in the remote table exactly the held ones.
func (v *view) replace(origin companion.EntityID) {
	var states []companion.State
	for _, h := range v.held[origin] {
		states = append(states, h.state)
	}
	v.remote.Replace(origin, companion.KindDevice, states)
	v.remote.Replace(origin, companion.KindMailbox, states)
	v.applied[origin] = true
	delete(v.missing, origin)
}

// expireMissing clears the members a resync did not find and that did not
// come back in time; it returns them.
func (v *view) expireMissing(now time.Time) []companion.EntityID {
	var gone []companion.EntityID
	for origin, at := range v.missing {
		if now.Before(at) {
			continue
		}
		delete(v.missing, origin)
		if !v.present[origin] {
			v.remote.DeleteOrigin(origin)
			delete(v.applied, origin)
			gone = append(gone, origin)
		}
	}
	return gone
}

// put takes a value written to key; it reports a presence that appeared.
func (v *view) put(key string, value []byte, revision uint64, created time.Time) {
	p, err := parseKey(key)
	if err != nil {
		v.ignore(IgnoredBadKey)
		return
	}
	if p.origin == v.self || p.origin.IsZero() {
		return // ours: the writer owns these
	}
	if p.presence {
		var pv presence
		if len(value) > maxPresenceSize || json.Unmarshal(value, &pv) != nil {
			v.ignore(IgnoredBadPresence)
			return
		}
		if e, err := companion.ParseEntityID(pv.EID); err != nil || e != p.origin {
			v.ignore(IgnoredBadPresence)
			return
		}
		if !v.present[p.origin] {
			v.present[p.origin] = true
			v.applyOrigin(p.origin)
		}
		return
	}
	if err := companion.CheckName(p.key.Name); err != nil {
		v.ignore(IgnoredBadName)
		v.drop(p.origin, p.key)
		return
	}
	ev := companion.EventDeviceState
	if p.key.Kind == companion.KindMailbox {
		ev = companion.EventMWI
	}
	m, err := companion.DecodeMessage(ev, value)
	switch {
	case err != nil || m.Type == companion.MessageRefresh:
		v.ignore(IgnoredBadValue)
	case m.EID != p.origin:
		v.ignore(IgnoredWrongEID)
	case m.State.Key != p.key:
		v.ignore(IgnoredWrongKey)
	default:
		if !v.accept.Passes(p.key) {
			v.drop(p.origin, p.key)
			return
		}
		v.hold(p.origin, heldState{m.State, revision, created})
		return
	}
	// A bad value replaces whatever the key held: the node asserts nothing
	// valid for it now.
	v.drop(p.origin, p.key)
}

// remove takes the deletion (or purge, or expiry) of key; it reports the
// origin whose presence went, if any.
func (v *view) remove(key string) (gone companion.EntityID, ok bool) {
	p, err := parseKey(key)
	if err != nil || p.origin == v.self {
		return gone, false
	}
	if p.presence {
		if !v.present[p.origin] {
			return gone, false
		}
		delete(v.present, p.origin)
		delete(v.missing, p.origin)
		if !v.loading && v.applied[p.origin] {
			v.remote.DeleteOrigin(p.origin)
			delete(v.applied, p.origin)
		}
		return p.origin, true
	}
	v.drop(p.origin, p.key)
	return gone, false
}

func (v *view) hold(origin companion.EntityID, h heldState) {
	s := h.state
	keys := v.held[origin]
	if _, ok := keys[s.Key]; !ok {
		if v.total >= v.maxKeys {
			v.ignore(IgnoredTooManyKeys)
			return
		}
		if keys == nil {
			keys = make(map[companion.Key]heldState)
			v.held[origin] = keys
		}
		v.total++
	}
	keys[s.Key] = h
	if !v.loading && v.present[origin] {
		v.remote.Set(origin, s)
		v.applied[origin] = true
	}
}

func (v *view) drop(origin companion.EntityID, k companion.Key) {
	keys := v.held[origin]
	if _, ok := keys[k]; !ok {
		return
	}
	delete(keys, k)
	v.total--
	if len(keys) == 0 {
		delete(v.held, origin)
	}
	if !v.loading && v.applied[origin] {
		v.remote.Delete(origin, k)
	}
}

// applyOrigin puts what origin's keys hold into the remote table: its
// presence appeared.
func (v *view) applyOrigin(origin companion.EntityID) {
	if v.loading {
		return
	}
	if _, ok := v.missing[origin]; ok {
		v.replace(origin) // drop what it held before the resync
		return
	}
	for _, h := range v.held[origin] {
		v.remote.Set(origin, h.state)
	}
	v.applied[origin] = true
}

// orphans returns the keys, with their revisions, written before
// olderThan by origins that have no presence: left by members that died
// while no one watched. Younger ones may be a member's sync, which writes
// its keys before its presence.
func (v *view) orphans(olderThan time.Time) map[companion.EntityID]map[companion.Key]uint64 {
	out := make(map[companion.EntityID]map[companion.Key]uint64)
	for origin, keys := range v.held {
		if v.present[origin] {
			continue
		}
		m := make(map[companion.Key]uint64)
		for k, h := range keys {
			if h.created.Before(olderThan) {
				m[k] = h.revision
			}
		}
		if len(m) > 0 {
			out[origin] = m
		}
	}
	return out
}

// keysOf returns origin's held keys with their revisions.
func (v *view) keysOf(origin companion.EntityID) map[companion.Key]uint64 {
	m := make(map[companion.Key]uint64, len(v.held[origin]))
	for k, h := range v.held[origin] {
		m[k] = h.revision
	}
	return m
}

// cleaner reports whether this node purges departed members' keys: the
// present member with the lowest EID does, so that N nodes do not all
// purge the same keys.
func (v *view) cleaner() bool {
	for o := range v.present {
		if slices.Compare(o[:], v.self[:]) < 0 {
			return false
		}
	}
	return true
}

// members returns the present members, sorted.
func (v *view) members() []companion.EntityID {
	out := make([]companion.EntityID, 0, len(v.present))
	for o := range v.present {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b companion.EntityID) int { return slices.Compare(a[:], b[:]) })
	return out
}
