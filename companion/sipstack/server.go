package sipstack

import (
	"context"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// allowed is the Allow header of the edge's answers.
const allowed = "OPTIONS, PUBLISH"

// route registers the request handlers. sipgo runs each on its own
// goroutine, once per transaction: its transaction layer absorbs
// retransmissions and repeats the answer.
func (s *Stack) route(srv *sipgo.Server) {
	srv.OnPublish(s.safe(s.onPublish))
	srv.OnOptions(s.safe(s.onOptions))
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {}) // never answered
	srv.OnCancel(s.safe(func(req *sip.Request, tx sip.ServerTransaction) {
		// sipgo answers a CANCEL that matches an INVITE; there are none.
		s.respond(req, tx, companion.Answer{Status: 481, Expires: -1})
	}))
	srv.OnNoRoute(s.safe(func(req *sip.Request, tx sip.ServerTransaction) {
		s.respond(req, tx, companion.Answer{Status: 405, Expires: -1}, sip.NewHeader("Allow", allowed))
	}))
}

// safe keeps a panic in a handler from ending the process: sipgo runs
// handlers on goroutines of its own, without recovery.
func (s *Stack) safe(f sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("SIP request handler panicked", "method", string(req.Method), "panic", r, "stack", string(debug.Stack()))
			}
		}()
		f(req, tx)
	}
}

func (s *Stack) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, companion.Answer{Status: 200, Expires: -1},
		sip.NewHeader("Allow", allowed), sip.NewHeader("Accept", "application/json"))
}

func (s *Stack) onPublish(req *sip.Request, tx sip.ServerTransaction) {
	if tags := requires(req); tags != "" {
		// RFC 3261 8.2.2.3: no extension is supported.
		s.respond(req, tx, companion.Answer{Status: 420, Expires: -1}, sip.NewHeader("Unsupported", tags))
		return
	}
	h, ctx := s.handlerFor()
	if h == nil {
		s.respond(req, tx, companion.Answer{Status: 503, Expires: -1})
		return
	}
	a := func() companion.Answer {
		defer s.inflight.Done()
		return s.handle(ctx, h, req)
	}()
	s.respond(req, tx, a)
}

// handle builds the InboundPublish and asks h. A panic below becomes a
// 500: one bad request must not take the server down.
func (s *Stack) handle(ctx context.Context, h companion.PublishHandler, req *sip.Request) (a companion.Answer) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("PUBLISH handler panicked", "panic", r, "stack", string(debug.Stack()))
			a = companion.Answer{Status: 500, Expires: -1}
		}
	}()
	in, status, reason := s.inbound(req)
	if status != 0 {
		return companion.Answer{Status: status, Reason: reason, Expires: -1}
	}
	a = h.HandlePublish(ctx, in)
	if a.Status < 200 || a.Status > 699 {
		s.log.Error("PUBLISH handler gave no final status", "status", a.Status)
		return companion.Answer{Status: 500, Expires: -1}
	}
	s.log.Debug("PUBLISH answered", "source", in.Source.String(), "transport", in.Transport,
		"resource", in.Resource, "event", in.Event, "if_match", in.IfMatch, "status", a.Status)
	return a
}

// requires returns the option tags of Require headers.
func requires(req *sip.Request) string {
	var tags []string
	for _, h := range req.GetHeaders("require") {
		if v := strings.TrimSpace(h.Value()); v != "" {
			tags = append(tags, v)
		}
	}
	return strings.Join(tags, ", ")
}

// respond sends a's response: the headers of a stock Asterisk's answer
// (SIP-ETag, Expires, WWW-Authenticate, Server) and Content-Length last.
func (s *Stack) respond(req *sip.Request, tx sip.ServerTransaction, a companion.Answer, extra ...sip.Header) {
	reason := a.Reason
	if reason == "" {
		reason = reasonPhrase(a.Status)
	}
	res := sip.NewResponseFromRequest(req, a.Status, reason, nil)
	res.RemoveHeader("Content-Length")
	if a.ETag != "" {
		res.AppendHeader(sip.NewHeader("SIP-ETag", a.ETag))
	}
	if a.Expires >= 0 {
		res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(a.Expires)))
	}
	if a.Challenge {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate", s.nonces.challenge(s.realm, a.Stale)))
	}
	for _, h := range extra {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", s.agent))
	res.SetBody(nil)
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sending a response failed", "status", a.Status, "to", req.Source(), "error", err)
	}
}
