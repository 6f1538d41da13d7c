package companion

import (
	"context"
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
// rather than refused with 400; and when a publication expires or is
// removed, the states it carried are removed from the remote table, so
// the local Asterisk is not left with a departed peer's states.
type Receiver struct {
	eid    EntityID
	remote *Table
	peers  map[string]*PeerConfig // by accept.resource
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	nextETag  uint64
	pubs      map[string]*publication // by entity tag
	conflicts map[string]bool         // peers that sent bodies with our EID
	peerOf    map[EntityID]string     // who sent states under an EID, for device names
	onRefresh func(peer string, ev Event)
}

// PublicationGrace is how long a publication outlives its Expires.
const PublicationGrace = 15 * time.Second

// DefaultInboundExpires is the Expires of a PUBLISH that has none, as in
// res_pjsip_pubsub.
const DefaultInboundExpires = 3600

type publication struct {
	peer    string
	event   Event
	etag    string
	expires time.Time // as granted; the publication lives PublicationGrace longer
	eids    map[EntityID]struct{}
}

// NewReceiver returns a Receiver for cfg's peers that have [peer.accept].
// eid is this node's Entity ID: bodies carrying it are ignored.
func NewReceiver(cfg *Config, eid EntityID, remote *Table) *Receiver {
	r := &Receiver{
		eid:       eid,
		remote:    remote,
		peers:     make(map[string]*PeerConfig),
		log:       slog.New(slog.DiscardHandler),
		now:       time.Now,
		pubs:      make(map[string]*publication),
		conflicts: make(map[string]bool),
		peerOf:    make(map[EntityID]string),
		// Decimal like Asterisk's, but starting from the clock: a peer
		// holding an entity tag from before our restart gets 412, never
		// someone else's publication.
		nextETag: uint64(time.Now().UnixMicro()),
	}
	for i := range cfg.Peers {
		if p := &cfg.Peers[i]; p.Accept != nil {
			r.peers[p.Accept.Resource] = p
		}
	}
	return r
}

// SetLogger sets where the receiver logs; the default discards.
func (r *Receiver) SetLogger(l *slog.Logger) { r.log = l }

// OnRefresh registers f, called (outside any lock) when a peer whose
// accept.refresh is set asks for a full dump of the state of event ev.
func (r *Receiver) OnRefresh(f func(peer string, ev Event)) {
	r.mu.Lock()
	r.onRefresh = f
	r.mu.Unlock()
}

// Conflict reports whether peer has sent bodies carrying this node's EID:
// the two nodes share an Entity ID, and publishing to that peer would make
// it take our states for its own.
func (r *Receiver) Conflict(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conflicts[peer]
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
		}
	}
}

// Expire removes the publications past their expiry and grace, and the
// states they carried.
func (r *Receiver) Expire() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for tag, p := range r.pubs {
		if now.After(p.expires.Add(PublicationGrace)) {
			r.log.Info("publication expired", "peer", p.peer, "event", string(p.event), "etag", tag)
			r.dropLocked(p)
		}
	}
}

// dropLocked removes p and clears the states it carried that no other
// live publication carries.
func (r *Receiver) dropLocked(p *publication) {
	delete(r.pubs, p.etag)
	kind := eventKind(p.event)
	for eid := range p.eids {
		if r.carriedLocked(eid, p.event) {
			continue
		}
		if _, removed := r.remote.Replace(eid, kind, nil); removed > 0 {
			r.log.Info("cleared states of a departed peer", "peer", p.peer, "eid", eid.String(), "kind", kind.String(), "count", removed)
		}
	}
}

func (r *Receiver) carriedLocked(eid EntityID, ev Event) bool {
	for _, q := range r.pubs {
		if _, ok := q.eids[eid]; ok && q.event == ev {
			return true
		}
	}
	return false
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
	peer := r.peers[in.Resource]
	if peer == nil {
		r.log.Debug("PUBLISH to an unknown resource", "resource", in.Resource, "source", in.Source.String())
		return Answer{Status: 404, Expires: -1}
	}
	if a, ok := r.authenticate(peer, in); !ok {
		return a
	}

	expires := in.Expires
	if expires < 0 {
		expires = DefaultInboundExpires
	}
	now := r.now()
	r.mu.Lock()
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
	if expires == 0 {
		if pub == nil {
			r.mu.Unlock()
			// RFC 3903: a removal names the publication it removes.
			return Answer{Status: 400, Reason: "Removal Without SIP-If-Match", Expires: -1}
		}
		r.log.Info("publication removed", "peer", peer.Name, "event", string(ev))
		r.dropLocked(pub)
		r.mu.Unlock()
		return Answer{Status: 200, ETag: pub.etag, Expires: 0}
	}
	r.mu.Unlock()

	var got applied
	if len(in.Body) > 0 {
		a, res, ok := r.apply(peer, ev, in)
		if !ok {
			return a
		}
		got = res
	}
	// A body-less PUBLISH either refreshes pub or, without SIP-If-Match, is
	// the body-less initial PUBLISH pjsip sends after a 412: Asterisk
	// answers 400 and the publication lapses; the peer's states stand.

	r.mu.Lock()
	if pub != nil {
		if r.pubs[pub.etag] != pub {
			// Removed or superseded while the body was applied.
			r.mu.Unlock()
			return Answer{Status: 412, Expires: -1}
		}
		delete(r.pubs, pub.etag)
	} else {
		pub = &publication{peer: peer.Name, event: ev, eids: make(map[EntityID]struct{})}
	}
	pub.etag = strconv.FormatUint(r.nextETag, 10)
	r.nextETag++
	pub.expires = now.Add(time.Duration(expires) * time.Second)
	if got.hasEID {
		pub.eids[got.eid] = struct{}{}
	}
	r.pubs[pub.etag] = pub
	onRefresh := r.onRefresh
	r.mu.Unlock()

	if got.refresh && onRefresh != nil {
		onRefresh(peer.Name, ev)
	}
	return Answer{Status: 200, ETag: pub.etag, Expires: expires}
}

// applied is what a body accepted by apply was.
type applied struct {
	refresh bool     // a refresh request to act on
	eid     EntityID // the sender's EID, when hasEID
	hasEID  bool
}

// authenticate checks the source address and the digest credentials.
func (r *Receiver) authenticate(peer *PeerConfig, in InboundPublish) (Answer, bool) {
	acc := peer.Accept
	if !acc.Allows(in.Source.Addr()) {
		r.log.Warn("PUBLISH from an address the peer's match does not allow", "peer", peer.Name, "source", in.Source.String())
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
		r.log.Warn("PUBLISH with wrong credentials", "peer", peer.Name, "source", in.Source.String(), "reason", authReason(res))
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

// apply decodes a body and writes its state. ok is false when a is the
// answer (an error).
func (r *Receiver) apply(peer *PeerConfig, ev Event, in InboundPublish) (a Answer, res applied, ok bool) {
	if len(in.Body) > MaxBodySize {
		return Answer{Status: 413, Expires: -1}, applied{}, false
	}
	if in.ContentType != "application/json" {
		r.log.Warn("PUBLISH body is not application/json", "peer", peer.Name, "content_type", in.ContentType)
		return Answer{Status: 500, Expires: -1}, applied{}, false
	}
	m, err := DecodeMessage(ev, in.Body)
	if err != nil {
		var be *BodyError
		errors.As(err, &be)
		switch code := BodyErrorCodeOf(err); code {
		case BodyBadEID, BodyBadCount:
			// Asterisk answers these 200 (and keeps a garbled value); the
			// companion answers alike but will not guess: dropped.
			r.log.Warn("PUBLISH body dropped", "peer", peer.Name, "reason", code.String(), "detail", be.Detail)
			return Answer{}, applied{}, true
		case BodyTooLarge:
			return Answer{Status: 413, Expires: -1}, applied{}, false
		case BodyBadEvent:
			return Answer{Status: 489, Expires: -1}, applied{}, false
		default:
			r.log.Warn("PUBLISH body refused", "peer", peer.Name, "reason", code.String(), "detail", be.Detail)
			return Answer{Status: 500, Expires: -1}, applied{}, false
		}
	}
	if m.EID == r.eid {
		r.mu.Lock()
		first := !r.conflicts[peer.Name]
		r.conflicts[peer.Name] = true
		r.mu.Unlock()
		if first {
			r.log.Error("peer sent a state carrying this node's own EID: the two share an Entity ID; set distinct eids (publishing to this peer is stopped)", "peer", peer.Name, "eid", m.EID.String())
		}
		return Answer{}, applied{}, true
	}
	acc := peer.Accept
	res = applied{eid: m.EID, hasEID: true}
	switch m.Type {
	case MessageRefresh:
		if !acc.Refresh {
			r.log.Debug("refresh request ignored: accept.refresh is off", "peer", peer.Name, "event", string(ev))
		}
		res.refresh = acc.Refresh
		return Answer{}, res, true
	case MessageDeviceState:
		if !acc.DeviceState || !acc.DeviceStateFilter.Match(m.State.Key.Name) {
			return Answer{}, res, true
		}
	case MessageMailboxState:
		if !acc.MailboxState || !acc.MailboxStateFilter.Match(m.State.Key.Name) {
			return Answer{}, res, true
		}
	}
	r.remote.Set(m.EID, m.State)
	r.mu.Lock()
	r.peerOf[m.EID] = peer.Name
	r.mu.Unlock()
	return Answer{}, res, true
}

// PeerOf returns the name of the peer that last sent states under eid.
func (r *Receiver) PeerOf(eid EntityID) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peerOf[eid]
}
