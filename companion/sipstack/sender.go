package sipstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/icholy/digest"

	"github.com/astcompanion/sidecar/companion"
)

// maxAuthAttempts is Asterisk's max_auth_attempts default: how many
// authenticated retries one Publish makes.
const maxAuthAttempts = 5

// Sender returns the sender of one publication: PUBLISHes of event ev to
// p's ServerURI, From and To as configured, one Call-ID with increasing
// CSeq. It reads p now; later changes to p are not seen.
func (s *Stack) Sender(p *companion.PublishConfig, ev companion.Event) companion.Sender {
	return &sender{
		st:       s,
		event:    ev,
		server:   p.ServerURI,
		from:     p.FromURI,
		to:       p.ToURI,
		username: p.Username,
		password: p.Password,
		sem:      make(chan struct{}, 1),
	}
}

type sender struct {
	st       *Stack
	event    companion.Event
	server   companion.SIPURI
	from, to companion.SIPURI
	username string
	password companion.Secret

	sem chan struct{} // one PUBLISH at a time: CSeq order is send order

	// Guarded by sem.
	callID string
	cseq   uint32
	tagged bool // the current Call-ID's publication got an entity tag
	uris   *senderURIs
}

// senderURIs are the sender's URIs parsed once: parsing and printing
// them for every PUBLISH was a few per cent of a dump's CPU.
type senderURIs struct {
	ruri, from, to sip.Uri
	err            error
}

// parsedURIs parses the sender's URIs on first use; guarded by sem.
func (p *sender) parsedURIs() *senderURIs {
	if p.uris != nil {
		return p.uris
	}
	u := &senderURIs{}
	if err := sip.ParseUri(p.server.String(), &u.ruri); err != nil {
		u.err = fmt.Errorf("server URI: %w", err)
	} else if err := sip.ParseUri(p.from.String(), &u.from); err != nil {
		u.err = fmt.Errorf("from URI: %w", err)
	} else if err := sip.ParseUri(p.to.String(), &u.to); err != nil {
		u.err = fmt.Errorf("to URI: %w", err)
	}
	p.uris = u
	return u
}

// Publish sends req and waits for its final answer, answering digest
// challenges on the way. The whole exchange is bounded by the Stack's
// RequestTimeout.
func (p *sender) Publish(ctx context.Context, req companion.PublishRequest) (companion.PublishResult, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return companion.PublishResult{}, ctx.Err()
	}
	defer func() { <-p.sem }()
	if p.st.isClosed() {
		return companion.PublishResult{}, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.st.timeout)
	defer cancel()

	if req.Event != "" && req.Event != p.event {
		return companion.PublishResult{}, fmt.Errorf("PUBLISH of %s on the %s publication to %s", req.Event, p.event, p.server)
	}
	tp, err := uriTransport(p.server)
	if err != nil {
		return companion.PublishResult{}, fmt.Errorf("PUBLISH to %s: %w", p.server, err)
	}
	if p.callID == "" || (req.IfMatch == "" && p.tagged) {
		// A new publication, as pjsip starts one after a 412: new Call-ID,
		// CSeq from a random start as pjsip's.
		p.callID = uuid.NewString()
		p.cseq = randomCSeq()
		p.tagged = false
	}
	fromTag := sip.GenerateTagN(16)
	auth := map[string]string{} // header name -> credentials
	for attempts := 0; ; {
		h, err := p.st.hopTo(ctx, p.server, tp)
		if err != nil {
			return companion.PublishResult{}, fmt.Errorf("PUBLISH to %s: %w", p.server, err)
		}
		p.cseq++
		sreq, err := p.build(req, h, fromTag, auth)
		if err != nil {
			return companion.PublishResult{}, fmt.Errorf("PUBLISH to %s: %w", p.server, err)
		}
		res, err := p.st.client.Do(ctx, sreq)
		if err != nil {
			if h.udpDst.IsValid() {
				p.st.localAddrs.forget(h.udpDst) // the route may have changed
			}
			return companion.PublishResult{}, fmt.Errorf("PUBLISH to %s: %w", p.server, err)
		}
		if attempts < maxAuthAttempts && p.answer(res, sreq, req.Body, auth) {
			attempts++
			continue
		}
		out := result(res)
		if out.Status >= 200 && out.Status < 300 && out.ETag != "" {
			p.tagged = true
		}
		return out, nil
	}
}

// answer adds credentials for res's challenge to auth and reports whether
// to send again: not without credentials, not for a scheme it cannot
// answer, and not when a challenge already answered comes back without
// stale=true (the password is wrong, as pjsip concludes).
func (p *sender) answer(res *sip.Response, sreq *sip.Request, body []byte, auth map[string]string) bool {
	var challengeHdr, authHdr string
	switch res.StatusCode {
	case 401:
		challengeHdr, authHdr = "www-authenticate", "Authorization"
	case 407:
		challengeHdr, authHdr = "proxy-authenticate", "Proxy-Authorization"
	default:
		return false
	}
	if p.username == "" {
		return false
	}
	var chal *digest.Challenge
	for _, h := range res.GetHeaders(challengeHdr) {
		c, err := digest.ParseChallenge(h.Value())
		if err == nil && digest.CanDigest(c) {
			chal = c
			break
		}
	}
	if chal == nil {
		return false
	}
	if _, sent := auth[authHdr]; sent && !chal.Stale {
		return false
	}
	// sipgo does this too: some servers write the algorithm in lower case.
	chal.Algorithm = strings.ToUpper(chal.Algorithm)
	cred, err := digest.Digest(chal, digest.Options{
		Method: string(sip.PUBLISH),
		// The digest URI is the Request-URI, parameters included, as
		// pjsip writes it (sipgo's own helper drops the parameters).
		URI:      sreq.Recipient.String(),
		Username: p.username,
		Password: p.password.Reveal(),
		GetBody:  func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
	})
	if err != nil {
		return false
	}
	auth[authHdr] = cred.String()
	return true
}

// build writes the PUBLISH with the header set and order of a stock
// Asterisk's (recorded in fixtures/sip/02_exact_publish_examples.txt):
// Via, From, To, Call-ID, CSeq, Event, SIP-If-Match, Expires,
// Max-Forwards, User-Agent, credentials, Content-Type, Content-Length.
func (p *sender) build(req companion.PublishRequest, h hop, fromTag string, auth map[string]string) (*sip.Request, error) {
	u := p.parsedURIs()
	if u.err != nil {
		return nil, u.err
	}
	// NewRequest copies the Request-URI's parameters; From and To get
	// copies of their own, so that no request shares the parsed ones.
	from, to := *u.from.Clone(), *u.to.Clone()
	r := sip.NewRequest(sip.PUBLISH, u.ruri)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: h.transport,
		Host: h.viaHost, Port: h.viaPort, Params: sip.NewParams()}
	via.Params.Add("rport", "")
	via.Params.Add("branch", sip.GenerateBranchN(16))
	r.AppendHeader(via)
	fromHdr := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", fromTag)
	r.AppendHeader(fromHdr)
	r.AppendHeader(&sip.ToHeader{Address: to})
	callID := sip.CallIDHeader(p.callID)
	r.AppendHeader(&callID)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: p.cseq, MethodName: sip.PUBLISH})
	r.AppendHeader(sip.NewHeader("Event", string(p.event)))
	if req.IfMatch != "" {
		r.AppendHeader(sip.NewHeader("SIP-If-Match", req.IfMatch))
	}
	r.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(max(req.Expires, 0))))
	maxFwd := sip.MaxForwardsHeader(70)
	r.AppendHeader(&maxFwd)
	r.AppendHeader(sip.NewHeader("User-Agent", p.st.agent))
	for _, name := range []string{"Proxy-Authorization", "Authorization"} {
		if v, ok := auth[name]; ok {
			r.AppendHeader(sip.NewHeader(name, v))
		}
	}
	var body []byte
	if len(req.Body) > 0 {
		r.AppendHeader(sip.NewHeader("Content-Type", "application/json"))
		body = req.Body
	}
	r.SetBody(body)
	r.SetTransport(h.transport)
	r.SetDestination(h.dest)
	r.Laddr = h.laddr
	return r, nil
}

// result reads a final answer.
func result(res *sip.Response) companion.PublishResult {
	out := companion.PublishResult{Status: res.StatusCode, Reason: res.Reason, Expires: -1}
	if h := res.GetHeader("sip-etag"); h != nil {
		out.ETag = strings.TrimSpace(h.Value())
	}
	if h := res.GetHeader("expires"); h != nil {
		if n, ok := deltaSeconds(h.Value()); ok {
			out.Expires = n
		}
	}
	if h := res.GetHeader("min-expires"); h != nil {
		if n, ok := deltaSeconds(h.Value()); ok {
			out.MinExpires = n
		}
	}
	return out
}

// randomCSeq is a first CSeq like pjsip's: random, below 2^16, so a long
// publication stays far from the 2^31 limit.
func randomCSeq() uint32 {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return uint32(binary.BigEndian.Uint16(b[:])) | 1
}
