package companion

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Receiver answers peers' PUBLISHes the way a stock Asterisk
// (res_pjsip_pubsub with res_pjsip_publish_asterisk) does and writes the
// states they carry into the remote table, each under its sender's EID.
// It implements PublishHandler.
//
// It differs from Asterisk where Asterisk loses state: a publication is
// kept PublicationGrace past its expiry, so that the refresh a stock
// Asterisk sends at the very second of expiry still matches; the
// body-less initial PUBLISH Asterisk sends after a 412 is accepted (200)
// rather than refused with 400; a publication also answers to the entity
// tag its sender named last, so that the retry of a request whose 200 was
// lost modifies it instead of starting an orphan; and when a publication
// expires or is removed, the states it carried are removed from the
// remote table, so the local Asterisk is not left with a departed peer's
// states.
//
// It differs from Asterisk where Asterisk trusts too much: an Entity ID
// belongs to the peer that holds a live publication carrying it (or to the
// peer whose accept.eids pins it), and no other peer may publish under it;
// this node's own EID is taken from nobody; and what one peer can make
// this node keep is bounded (publications, keys, EIDs, granted Expires).
//
// The publication set and the remote table change under one lock, so a
// state is never set for a publication that is gone.
type Receiver struct {
	eid     EntityID
	remote  *Table
	peers   map[string]*PeerConfig // by accept.resource; under mu: Reconfigure replaces it
	pinned  map[EntityID]string    // accept.eids: EID -> peer name; under mu
	log     *slog.Logger
	refused *RateLog
	now     func() time.Time

	mu        sync.Mutex
	pubs      map[string]*publication // by entity tag: current ones and the last named ones
	expiry    expiryHeap
	conflicts map[string]bool        // peers that sent bodies with our EID
	owners    map[EntityID]*eidOwner // who holds an EID now
	usage     map[string]*peerUsage  // by peer name
	counts    map[string]uint64      // refusals by reason
	stats     receiverCounters
	onRefresh func(peer string, ev Event)
	onSeen    func(peer string)

	noise noiseLog // states dropped as noise (noise.go)
}

// PublicationGrace is how long a publication outlives its Expires.
const PublicationGrace = 15 * time.Second

// DefaultInboundExpires is the Expires of a PUBLISH that has none, as in
// res_pjsip_pubsub.
const DefaultInboundExpires = 3600

type publication struct {
	peer    string
	event   Event
	etag    string    // the current entity tag
	named   string    // the tag the sender named last, still accepted; "" for none
	expires time.Time // as granted; the publication lives PublicationGrace longer
	eids    map[EntityID]struct{}
	index   int // in the expiry heap
}

// eidOwner is the peer holding an EID and how many of its live
// publications, per event, carry it.
type eidOwner struct {
	peer    string
	carried [2]int // by eventIndex
}

// peerUsage is what one peer holds, for its bounds.
type peerUsage struct {
	pubs [2]int // live publications by eventIndex
	eids map[EntityID]struct{}
	keys int // states held under its EIDs
}

func eventIndex(ev Event) int {
	if ev == EventMWI {
		return 1
	}
	return 0
}

// Refusal reasons, as counted by Refusals and logged.
const (
	RefusedAddress         = "address_not_allowed"
	RefusedCredentials     = "wrong_credentials"
	RefusedBody            = "bad_body"
	RefusedName            = "bad_name"
	RefusedOwnEID          = "own_eid"
	RefusedEIDOwned        = "eid_of_another_peer"
	RefusedEIDNotPinned    = "eid_not_pinned"
	RefusedTooManyPubs     = "too_many_publications"
	RefusedTooManyKeys     = "too_many_keys"
	RefusedTooManyEIDs     = "too_many_eids"
	RefusedExpiresCapped   = "expires_capped"
	RefusedUnknownResource = "unknown_resource"
)

// NewReceiver returns a Receiver for cfg's peers that have [peer.accept].
// eid is this node's Entity ID: bodies carrying it are ignored.
func NewReceiver(cfg *Config, eid EntityID, remote *Table) *Receiver {
	r := &Receiver{
		eid:       eid,
		remote:    remote,
		peers:     make(map[string]*PeerConfig),
		pinned:    make(map[EntityID]string),
		log:       slog.New(slog.DiscardHandler),
		refused:   NewRateLog(nil, 0, 0),
		now:       time.Now,
		pubs:      make(map[string]*publication),
		conflicts: make(map[string]bool),
		owners:    make(map[EntityID]*eidOwner),
		usage:     make(map[string]*peerUsage),
		counts:    make(map[string]uint64),
	}
	for i := range cfg.Peers {
		if p := &cfg.Peers[i]; p.Accept != nil {
			r.peers[p.Accept.Resource] = p
			for _, e := range p.Accept.EIDs {
				r.pinned[e] = p.Name
			}
		}
	}
	return r
}

// SetLogger sets where the receiver logs; the default discards. Refusals
// are rate-limited per peer (or source) and reason.
func (r *Receiver) SetLogger(l *slog.Logger) {
	r.log = l
	r.refused = NewRateLog(l, 0, 0)
}

// OnRefresh registers f, called (outside any lock) when a peer whose
// accept.refresh is set asks for a full dump of the state of event ev.
func (r *Receiver) OnRefresh(f func(peer string, ev Event)) {
	r.mu.Lock()
	r.onRefresh = f
	r.mu.Unlock()
}

// OnActivity registers f, called (outside any lock) with the peer's name
// whenever a PUBLISH passes the peer's address and credential checks,
// whatever its answer: the peer is alive. It is called before the request
// changes anything.
func (r *Receiver) OnActivity(f func(peer string)) {
	r.mu.Lock()
	r.onSeen = f
	r.mu.Unlock()
}

// DropPeer removes every publication of peer (both events) as if they had
// expired: the states they carried are cleared and the Entity IDs they
// held released. It returns how many publications it removed. Liveness
// calls it when the peer stops answering OPTIONS.
func (r *Receiver) DropPeer(peer string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []*publication
	for _, p := range r.expiry {
		if p.peer == peer {
			gone = append(gone, p)
		}
	}
	for _, p := range gone {
		r.dropLocked(p)
	}
	return len(gone)
}

// Conflict reports whether peer's latest body carried this node's EID: the
// two nodes share an Entity ID, and publishing to that peer would make it
// take our states for its own. It lifts once the peer shows another EID.
func (r *Receiver) Conflict(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conflicts[peer]
}

// PeerOf returns the name of the peer that holds eid, "" when none does.
func (r *Receiver) PeerOf(eid EntityID) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o := r.owners[eid]; o != nil {
		return o.peer
	}
	return ""
}

// Refusals returns how many requests or bodies were refused (or, for
// RefusedExpiresCapped, granted less than asked), by reason.
func (r *Receiver) Refusals() map[string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]uint64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Publications returns how many live publications the receiver holds.
func (r *Receiver) Publications() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.expiry.Len()
}

// Run expires publications until ctx is done.
func (r *Receiver) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.Expire()
			r.refused.Flush()
		}
	}
}

// Expire removes the publications past their expiry and grace, and the
// states they carried. It costs O(log n) per publication removed.
func (r *Receiver) Expire() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.expiry.Len() > 0 {
		p := r.expiry[0]
		if !now.After(p.expires.Add(PublicationGrace)) {
			return
		}
		r.log.Info("publication expired", "peer", p.peer, "event", string(p.event), "etag", p.etag)
		r.dropLocked(p)
	}
}

// dropLocked removes p and clears the states it carried that no other
// live publication of its event carries.
func (r *Receiver) dropLocked(p *publication) {
	delete(r.pubs, p.etag)
	if p.named != "" {
		delete(r.pubs, p.named)
	}
	heap.Remove(&r.expiry, p.index)
	ev := eventIndex(p.event)
	r.usageOf(p.peer).pubs[ev]--
	kind := eventKind(p.event)
	for eid := range p.eids {
		o := r.owners[eid]
		o.carried[ev]--
		if o.carried[ev] == 0 {
			if _, removed := r.remote.Replace(eid, kind, nil); removed > 0 {
				r.usageOf(o.peer).keys -= removed
				r.log.Info("cleared states of a departed peer", "peer", p.peer, "eid", eid.String(), "kind", kind.String(), "count", removed)
			}
		}
		if o.carried[0]+o.carried[1] == 0 {
			delete(r.owners, eid)
			delete(r.usageOf(o.peer).eids, eid)
		}
	}
}

func (r *Receiver) usageOf(peer string) *peerUsage {
	u := r.usage[peer]
	if u == nil {
		u = &peerUsage{eids: make(map[EntityID]struct{})}
		r.usage[peer] = u
	}
	return u
}

func eventKind(ev Event) Kind {
	if ev == EventMWI {
		return KindMailbox
	}
	return KindDevice
}

// HandlePublish answers one PUBLISH.
func (r *Receiver) HandlePublish(_ context.Context, in InboundPublish) Answer {
	if in.URIScheme != "sip" && in.URIScheme != "sips" {
		return Answer{Status: 416, Expires: -1}
	}
	var ev Event
	switch {
	case strings.EqualFold(in.Event, string(EventDeviceState)):
		ev = EventDeviceState
	case strings.EqualFold(in.Event, string(EventMWI)):
		ev = EventMWI
	default:
		return Answer{Status: 489, Expires: -1}
	}
	peer := r.peerFor(in.Resource)
	if peer == nil {
		r.refuse(in.Source.Addr().String(), RefusedUnknownResource, slog.LevelDebug, "PUBLISH to an unknown resource", "resource", in.Resource)
		return Answer{Status: 404, Expires: -1}
	}
	if a, ok := r.authenticate(peer, in); !ok {
		return a
	}
	r.mu.Lock()
	onSeen := r.onSeen
	r.mu.Unlock()
	if onSeen != nil {
		onSeen(peer.Name)
	}

	maxPubs, maxKeys, maxEIDs, maxExpires := peer.Accept.Limits()
	expires := in.Expires
	if expires < 0 {
		expires = DefaultInboundExpires
	}
	if limit := int(maxExpires / time.Second); expires > limit {
		// RFC 3903 §6: the answer's Expires may be shorter than asked.
		r.refuse(peer.Name, RefusedExpiresCapped, slog.LevelInfo, "PUBLISH asked for a longer Expires than [peer.accept] max_expires; granted the maximum", "asked", expires, "granted", limit)
		expires = limit
	}

	var body decoded
	if len(in.Body) > 0 {
		var a Answer
		var ok bool
		if body, a, ok = r.decode(peer, ev, in); !ok {
			return a
		}
	}
	// A body-less PUBLISH either refreshes a publication or, without
	// SIP-If-Match, is the body-less initial PUBLISH pjsip sends after a
	// 412: Asterisk answers 400 and the publication lapses; the peer's
	// states stand.

	now := r.now()
	r.mu.Lock()
	if r.peers[in.Resource] != peer {
		// Reconfigure ran while this request was checked against the
		// old settings: let the sender try again under the new ones.
		r.mu.Unlock()
		return Answer{Status: 503, Reason: "Reconfiguring", Expires: -1}
	}
	var pub *publication
	if in.IfMatch != "" {
		pub = r.pubs[in.IfMatch]
		if pub != nil && (pub.peer != peer.Name || pub.event != ev || now.After(pub.expires.Add(PublicationGrace))) {
			pub = nil
		}
		if pub == nil {
			r.mu.Unlock()
			r.log.Debug("PUBLISH for an unknown entity tag", "peer", peer.Name, "etag", in.IfMatch)
			return Answer{Status: 412, Expires: -1}
		}
	}
	if in.Expires == 0 {
		if pub == nil {
			r.mu.Unlock()
			// RFC 3903: a removal names the publication it removes.
			return Answer{Status: 400, Reason: "Removal Without SIP-If-Match", Expires: -1}
		}
		r.log.Info("publication removed", "peer", peer.Name, "event", string(ev))
		tag := pub.etag
		r.dropLocked(pub)
		r.mu.Unlock()
		return Answer{Status: 200, ETag: tag, Expires: 0}
	}
	if pub == nil && r.usageOf(peer.Name).pubs[eventIndex(ev)] >= maxPubs {
		r.mu.Unlock()
		r.refuse(peer.Name, RefusedTooManyPubs, slog.LevelWarn, "PUBLISH refused: the peer holds the most publications allowed; raise [peer.accept] max_publications if it is right", "max", maxPubs, "event", string(ev))
		return Answer{Status: 403, Reason: "Too Many Publications", Expires: -1}
	}
	if body.hasEID {
		if a, ok := r.admitEIDLocked(peer, body, maxEIDs, maxKeys); !ok {
			r.mu.Unlock()
			return a
		}
	}

	// Accepted: the publication and the table change together.
	if pub == nil {
		pub = &publication{peer: peer.Name, event: ev, eids: make(map[EntityID]struct{}), index: -1}
		r.usageOf(peer.Name).pubs[eventIndex(ev)]++
	} else {
		delete(r.pubs, pub.etag)
		if pub.named != "" {
			delete(r.pubs, pub.named)
		}
		// The sender's retry, should this answer be lost, names the tag
		// it named now.
		pub.named = in.IfMatch
	}
	pub.etag = r.newETagLocked()
	r.pubs[pub.etag] = pub
	if pub.named != "" {
		r.pubs[pub.named] = pub
	}
	pub.expires = now.Add(time.Duration(expires) * time.Second)
	if pub.index < 0 {
		heap.Push(&r.expiry, pub)
	} else {
		heap.Fix(&r.expiry, pub.index)
	}
	if body.hasEID {
		if _, carried := pub.eids[body.msg.EID]; !carried {
			pub.eids[body.msg.EID] = struct{}{}
			o := r.owners[body.msg.EID]
			if o == nil {
				o = &eidOwner{peer: peer.Name}
				r.owners[body.msg.EID] = o
				r.usageOf(peer.Name).eids[body.msg.EID] = struct{}{}
			}
			o.carried[eventIndex(ev)]++
		}
		if body.apply {
			if _, known := r.remote.Get(body.msg.EID, body.msg.State.Key); !known {
				r.usageOf(peer.Name).keys++
			}
			r.remote.Set(body.msg.EID, body.msg.State)
		}
		if body.noise {
			r.withdrawLocked(peer.Name, body.msg.EID, body.msg.State.Key)
		}
	}
	r.stats.acceptedLocked(peer.Name, now, body)
	tag := pub.etag
	onRefresh := r.onRefresh
	r.mu.Unlock()

	if body.refresh && onRefresh != nil {
		onRefresh(peer.Name, ev)
	}
	return Answer{Status: 200, ETag: tag, Expires: expires}
}

// admitEIDLocked checks that peer may publish under the body's EID and,
// for a state, that it may hold one more key. A peer that shows an EID
// other than ours is no longer in conflict with us.
func (r *Receiver) admitEIDLocked(peer *PeerConfig, body decoded, maxEIDs, maxKeys int) (Answer, bool) {
	eid := body.msg.EID
	delete(r.conflicts, peer.Name)
	if pinnedTo, ok := r.pinned[eid]; ok && pinnedTo != peer.Name {
		r.refuseLocked(peer.Name, RefusedEIDOwned, "PUBLISH refused: the EID is pinned to another peer", "eid", eid.String(), "owner", pinnedTo)
		return Answer{Status: 403, Reason: "Entity ID Of Another Peer", Expires: -1}, false
	}
	if len(peer.Accept.EIDs) > 0 && r.pinned[eid] != peer.Name {
		r.refuseLocked(peer.Name, RefusedEIDNotPinned, "PUBLISH refused: the EID is not among the peer's [peer.accept] eids", "eid", eid.String())
		return Answer{Status: 403, Reason: "Entity ID Not Allowed", Expires: -1}, false
	}
	o := r.owners[eid]
	if o != nil && o.peer != peer.Name {
		r.refuseLocked(peer.Name, RefusedEIDOwned, "PUBLISH refused: another peer holds a live publication under this EID (a copied machine, or a peer speaking for another)", "eid", eid.String(), "owner", o.peer)
		return Answer{Status: 403, Reason: "Entity ID Of Another Peer", Expires: -1}, false
	}
	u := r.usageOf(peer.Name)
	if o == nil && len(u.eids) >= maxEIDs {
		r.refuseLocked(peer.Name, RefusedTooManyEIDs, "PUBLISH refused: the peer holds the most Entity IDs allowed; raise [peer.accept] max_eids if it is right", "eid", eid.String(), "max", maxEIDs)
		return Answer{Status: 403, Reason: "Too Many Entity IDs", Expires: -1}, false
	}
	if body.apply {
		if _, known := r.remote.Get(eid, body.msg.State.Key); !known {
			if u.keys >= maxKeys {
				r.refuseLocked(peer.Name, RefusedTooManyKeys, "PUBLISH refused: the peer holds the most states allowed; raise [peer.accept] max_keys if it is right", "max", maxKeys)
				return Answer{Status: 403, Reason: "Too Many States", Expires: -1}, false
			}
		}
	}
	return Answer{}, true
}

// decoded is what a body accepted by decode asks for.
type decoded struct {
	msg     Message
	hasEID  bool // msg.EID is the sender's, to be owned and carried
	apply   bool // msg.State passes the switches and filters
	refresh bool // a refresh request to act on
	noise   bool // msg.State is noise (noise.go): withdraw what its EID held
}

// authenticate checks the source address and the digest credentials.
func (r *Receiver) authenticate(peer *PeerConfig, in InboundPublish) (Answer, bool) {
	acc := peer.Accept
	if !acc.Allows(in.Source.Addr()) {
		r.refuse(in.Source.Addr().String(), RefusedAddress, slog.LevelWarn, "PUBLISH refused: the source address is not in the peer's [peer.accept] match", "peer", peer.Name)
		return Answer{Status: 403, Expires: -1}, false
	}
	if acc.Username == "" {
		return Answer{}, true
	}
	if in.Auth == nil {
		return Answer{Status: 401, Expires: -1, Challenge: true}, false
	}
	switch res := in.Auth.Verify(acc.Username, acc.Password); res {
	case AuthOK:
		return Answer{}, true
	case AuthStale:
		return Answer{Status: 401, Expires: -1, Challenge: true, Stale: true}, false
	default:
		r.refuse(in.Source.Addr().String(), RefusedCredentials, slog.LevelWarn, "PUBLISH refused: wrong credentials; check [peer.accept] username and password", "peer", peer.Name, "detail", authReason(res))
		return Answer{Status: 403, Expires: -1}, false
	}
}

func authReason(a AuthResult) string {
	switch a {
	case AuthWrong:
		return "wrong password"
	case AuthOtherUser:
		return "another username"
	case AuthMalformed:
		return "malformed Authorization"
	}
	return "unknown"
}

// decode reads a body and says what it asks for, without touching any
// state. ok is false when a is the answer (an error).
func (r *Receiver) decode(peer *PeerConfig, ev Event, in InboundPublish) (d decoded, a Answer, ok bool) {
	if len(in.Body) > MaxBodySize {
		return d, Answer{Status: 413, Expires: -1}, false
	}
	if in.ContentType != "application/json" {
		r.refuse(peer.Name, RefusedBody, slog.LevelWarn, "PUBLISH body is not application/json", "content_type", in.ContentType)
		return d, Answer{Status: 500, Expires: -1}, false
	}
	m, err := DecodeMessage(ev, in.Body)
	if err != nil {
		var be *BodyError
		errors.As(err, &be)
		switch code := BodyErrorCodeOf(err); code {
		case BodyBadEID, BodyBadCount:
			// Asterisk answers these 200 (and keeps a garbled value); the
			// companion answers alike but will not guess: dropped.
			r.refuse(peer.Name, RefusedBody, slog.LevelWarn, "PUBLISH body dropped", "code", code.String(), "detail", be.Detail)
			return d, Answer{}, true
		case BodyTooLarge:
			return d, Answer{Status: 413, Expires: -1}, false
		case BodyBadEvent:
			return d, Answer{Status: 489, Expires: -1}, false
		case BodyBadName:
			r.refuse(peer.Name, RefusedName, slog.LevelWarn, "PUBLISH refused: a name with control characters or over the length bound", "detail", be.Detail)
			return d, Answer{Status: 500, Expires: -1}, false
		default:
			r.refuse(peer.Name, RefusedBody, slog.LevelWarn, "PUBLISH body refused", "code", code.String(), "detail", be.Detail)
			return d, Answer{Status: 500, Expires: -1}, false
		}
	}
	if m.EID == r.eid {
		r.mu.Lock()
		r.conflicts[peer.Name] = true
		r.mu.Unlock()
		r.refuse(peer.Name, RefusedOwnEID, slog.LevelError, "peer sent a state carrying this node's own EID: the two share an Entity ID; set distinct eids (publishing to this peer is stopped until it shows another EID)", "eid", m.EID.String())
		return d, Answer{}, true
	}
	acc := peer.Accept
	d = decoded{msg: m, hasEID: true}
	switch m.Type {
	case MessageRefresh:
		if !acc.Refresh {
			r.log.Debug("refresh request ignored: accept.refresh is off", "peer", peer.Name, "event", string(ev))
		}
		d.refresh = acc.Refresh
	case MessageDeviceState:
		d.apply = acc.DeviceState && acc.DeviceStateFilter.Match(m.State.Key.Name)
		d.noise = d.apply && !r.screenNoise(peer, m.State)
		d.apply = d.apply && !d.noise
	case MessageMailboxState:
		d.apply = acc.MailboxState && acc.MailboxStateFilter.Match(m.State.Key.Name)
	}
	return d, Answer{}, true
}

// refuse counts a refusal and logs it, rate-limited per who and reason.
func (r *Receiver) refuse(who, reason string, level slog.Level, msg string, args ...any) {
	r.count(reason)
	r.refused.Log(level, who, reason, msg, args...)
}

// refuseLocked is refuse with r.mu held.
func (r *Receiver) refuseLocked(who, reason, msg string, args ...any) {
	r.counts[reason]++
	r.refused.Log(slog.LevelWarn, who, reason, msg, args...)
}

func (r *Receiver) count(reason string) {
	r.mu.Lock()
	r.counts[reason]++
	r.mu.Unlock()
}

// newETagLocked returns a fresh entity tag: decimal like Asterisk's, but
// random, so that nobody can guess a live publication's tag, and a peer
// holding a tag from before our restart gets 412.
func (r *Receiver) newETagLocked() string {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
		tag := strconv.FormatUint(binary.BigEndian.Uint64(b[:])>>1, 10)
		if _, taken := r.pubs[tag]; !taken {
			return tag
		}
	}
}

// expiryHeap orders live publications by expiry, so that Expire finds the
// lapsed ones without scanning all.
type expiryHeap []*publication

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	p := x.(*publication)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *expiryHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	p.index = -1
	return p
}
