package sipstack

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"github.com/astcompanion/sidecar/companion"
)

// Prober returns the liveness probe (qualify) of the peer that p
// publishes to: OPTIONS to p's ServerURI without its user part, From
// p's FromURI, as recorded against a stock Asterisk in
// fixtures/sip/31_options_liveness.txt (case 2: such a request from an
// identified From is answered 200; the resource as request-URI user gets
// 404, an unknown From 401; any answer shows the peer alive). It reads p
// now; later changes to p are not seen.
func (s *Stack) Prober(p *companion.PublishConfig) companion.Prober {
	target := p.ServerURI
	target.User = ""
	return &prober{st: s, target: target, from: p.FromURI}
}

type prober struct {
	st     *Stack
	target companion.SIPURI // request-URI and To: the peer's host, port and transport
	from   companion.SIPURI
}

// Probe sends one OPTIONS and returns the status of its final answer. It
// answers no challenge: a 401 already shows the peer alive. The exchange
// is bounded by ctx and the Stack's RequestTimeout.
func (p *prober) Probe(ctx context.Context) (int, error) {
	if p.st.isClosed() {
		return 0, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.st.timeout)
	defer cancel()
	tp, err := uriTransport(p.target)
	if err != nil {
		return 0, fmt.Errorf("OPTIONS to %s: %w", p.target, err)
	}
	h, err := p.st.hopTo(ctx, p.target, tp)
	if err != nil {
		return 0, fmt.Errorf("OPTIONS to %s: %w", p.target, err)
	}
	req, err := p.build(h)
	if err != nil {
		return 0, fmt.Errorf("OPTIONS to %s: %w", p.target, err)
	}
	res, err := p.st.client.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("OPTIONS to %s: %w", p.target, err)
	}
	return res.StatusCode, nil
}

// build writes the OPTIONS with the recording's header set and order
// (Via, Max-Forwards, From, To, Call-ID, CSeq, Accept, Content-Length),
// plus User-Agent; a new Call-ID each time.
func (p *prober) build(h hop) (*sip.Request, error) {
	var ruri, from sip.Uri
	if err := sip.ParseUri(p.target.String(), &ruri); err != nil {
		return nil, fmt.Errorf("server URI: %w", err)
	}
	if err := sip.ParseUri(p.from.String(), &from); err != nil {
		return nil, fmt.Errorf("from URI: %w", err)
	}
	r := sip.NewRequest(sip.OPTIONS, ruri)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: h.transport,
		Host: h.viaHost, Port: h.viaPort, Params: sip.NewParams()}
	via.Params.Add("rport", "")
	via.Params.Add("branch", sip.GenerateBranchN(16))
	r.AppendHeader(via)
	maxFwd := sip.MaxForwardsHeader(70)
	r.AppendHeader(&maxFwd)
	fromHdr := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	r.AppendHeader(fromHdr)
	r.AppendHeader(&sip.ToHeader{Address: *ruri.Clone()})
	callID := sip.CallIDHeader(uuid.NewString())
	r.AppendHeader(&callID)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: randomCSeq(), MethodName: sip.OPTIONS})
	r.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	r.AppendHeader(sip.NewHeader("User-Agent", p.st.agent))
	r.SetBody(nil)
	r.SetTransport(h.transport)
	r.SetDestination(h.dest)
	r.Laddr = h.laddr
	return r, nil
}
