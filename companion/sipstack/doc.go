// Package sipstack is the companion's SIP edge: the only package that
// imports sipgo and icholy/digest. It turns received PUBLISHes into
// companion.InboundPublish values for a companion.PublishHandler and sends
// the answers back, and it sends the PUBLISHes of companion.Sender the way
// a stock Asterisk (res_pjsip_outbound_publish) writes them.
//
// One Stack owns one sipgo user agent: its listeners (udp, tcp, tls), its
// transaction layer and the connections it opens as a client. Requests to
// a peer over UDP leave from a UDP listener when one can reach the peer,
// as Asterisk's leave from its transport, so a peer sees one address.
//
// Besides sipgo and digest it imports only companion/; cmd/ hands its
// Stack to companion.Exchange.
package sipstack
