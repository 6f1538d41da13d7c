package companion

import (
	"context"
	"errors"
	"net/netip"
)

// This file declares what the adapters implement (ami/, ari/, the SIP edge
// in companion/sipstack) and what they are handed. The domain imports none
// of them.

// Observer takes what the local Asterisk reports about its own state. The
// AMI source calls it; Local implements it.
type Observer interface {
	// Observe reports one state seen in an event (DeviceStateChange,
	// MessageWaiting).
	Observe(s State)
	// Snapshot reports every state of one kind, read after a (re)connect.
	// Keys known before and missing from states are gone.
	Snapshot(kind Kind, states []State)
}

// Applier writes remote state into the local Asterisk: the AMI sink
// (Setvar DEVICE_STATE, MWIUpdate) or the ARI one (deviceStates, mailboxes).
// name is the local device name, already expanded from the device_name
// template. Errors wrapping ErrUnsupported are permanent: retrying cannot
// help until the local Asterisk is reconfigured.
type Applier interface {
	ApplyDevice(ctx context.Context, name string, state DeviceState) error
	ApplyMailbox(ctx context.Context, id MailboxID, old, new int) error
}

// ErrUnsupported marks an Applier error that retrying cannot fix, e.g.
// MWIUpdate refused because res_mwi_external is not loaded.
var ErrUnsupported = errors.New("not supported by the local Asterisk")

// Why an ARI request failed, whatever it was for (reading the Entity ID,
// applying a state, provisioning): the ari adapter's errors wrap one of
// these.
var (
	ErrARIUnauthorized = errors.New("ARI refused the credentials") // 401
	ErrARIUnreachable  = errors.New("no answer from ARI")          // refused, timed out, reset
	ErrARIFailed       = errors.New("ARI answered with an error")  // anything else
)

// PublishRequest is one PUBLISH a publisher sends to a peer (RFC 3903).
type PublishRequest struct {
	Event   Event
	IfMatch string // SIP-If-Match: the entity tag to modify; "" starts a new publication
	Expires int    // seconds; 0 removes the publication
	Body    []byte // JSON body; nil for a body-less refresh or a removal
}

// PublishResult is a peer's final answer to a PUBLISH.
type PublishResult struct {
	Status     int
	Reason     string
	ETag       string // SIP-ETag of a 2xx
	Expires    int    // Expires of a 2xx; -1 when absent
	MinExpires int    // Min-Expires of a 423; 0 when absent
}

// Sender sends the PUBLISHes of one publication (one peer, one event, one
// of its max_in_flight slots) and
// waits for the final answer. It answers digest challenges itself, a
// bounded number of times. An error means no final answer arrived
// (timeout, transport failure, ctx done).
type Sender interface {
	Publish(ctx context.Context, req PublishRequest) (PublishResult, error)
}

// Prober checks that one peer is alive (qualify): it sends one OPTIONS to
// the peer's [peer.publish] server_uri host, port and transport, without a
// user part and From the publication's from_uri, and waits for the final
// answer, bounded by ctx and the edge's own timeout. Any final answer,
// whatever its status (a stock Asterisk answers 200, 401 or 404 depending
// on who asks), proves the peer alive; an error means none came (timeout,
// transport failure, ctx done). It answers no digest challenge.
type Prober interface {
	Probe(ctx context.Context) (status int, err error)
}

// InboundPublish is a received PUBLISH, as far as the exchange needs it.
type InboundPublish struct {
	Source      netip.AddrPort // where it really came from (not Via)
	Transport   string         // "udp", "tcp" or "tls"
	Resource    string         // request-URI user
	URIScheme   string         // "sip" or "sips"
	Event       string         // Event header without parameters; "" when absent
	IfMatch     string         // SIP-If-Match; "" when absent
	Expires     int            // Expires header; -1 when absent
	ContentType string         // media type without parameters, lower case
	Body        []byte
	// Auth checks the request's digest credentials against a username and
	// password. nil means the request carried no Authorization header.
	Auth Authenticator
}

// Authenticator verifies a request's digest credentials; the SIP edge
// implements it (RFC 2617/7616 arithmetic, nonce bookkeeping).
type Authenticator interface {
	Verify(username string, password Secret) AuthResult
}

// AuthResult is the outcome of checking digest credentials.
type AuthResult uint8

const (
	AuthOK        AuthResult = iota
	AuthWrong                // response does not match: wrong password
	AuthStale                // nonce unknown or expired: challenge again
	AuthOtherUser            // credentials for another username
	AuthMalformed            // header present but unusable
)

// Answer is the response the SIP edge sends for an InboundPublish.
type Answer struct {
	Status  int
	Reason  string // "" for the standard phrase
	ETag    string // SIP-ETag; "" for none
	Expires int    // Expires; -1 for none
	// Challenge asks the edge to add a WWW-Authenticate digest challenge
	// (Status 401); Stale sets stale=true in it.
	Challenge bool
	Stale     bool
}

// PublishHandler answers received PUBLISHes; Receiver implements it.
type PublishHandler interface {
	HandlePublish(ctx context.Context, in InboundPublish) Answer
}
