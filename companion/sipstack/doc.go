// Package sipstack is the companion's SIP edge: the only package that
// imports sipgo and icholy/digest. It turns received PUBLISHes into
// companion.InboundPublish values for a companion.PublishHandler and sends
// the answers back, and it sends the PUBLISHes of companion.Sender the way
// a stock Asterisk (res_pjsip_outbound_publish) writes them, and the
// OPTIONS of companion.Prober (qualify), as recorded against Asterisk.
//
// One Stack owns one sipgo user agent: its listeners (udp, tcp, tls), its
// transaction layer and the connections it opens as a client. Requests to
// a peer over UDP leave from a UDP listener when one can reach the peer,
// as Asterisk's leave from its transport, so a peer sees one address.
//
// Besides sipgo and digest it imports only companion/; cmd/ hands its
// Stack to companion.Exchange.
//
// The listeners are the part of the companion anyone can reach, so the
// Stack guards them in front of sipgo (guard.go, frame.go, refuse.go):
// sources no peer may use are refused before parsing (Options.Admit: TCP
// and TLS connections closed at accept, UDP requests answered a
// stateless, rate-limited 403), TCP and TLS connections are capped in
// all and per source address and timed by whole messages, accept errors
// such as running out of file descriptors are waited out, a listener
// that stops all the same is bound again, and every refusal is logged
// through a companion.RateLog and counted in Stats.
package sipstack
