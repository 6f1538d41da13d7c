package sipstack

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507

// maxMessageSize is the parser's bound on one message. Over TCP and TLS
// sipgo closes the connection without an answer past it, so it sits well
// above MaxBodySize plus headers: a body over MaxBodySize is read and
// answered 413 by the receiver. Past this bound the connection is still
// dropped: it is what one connection may make us buffer.
const maxMessageSize = 4 * companion.MaxBodySize

// Bounds sipgo applies to every TCP and TLS connection, the ones it dials
// included: a connection silent for streamIdleTimeout is closed (peers
// reconnect for their next PUBLISH), so idle sockets cannot pile up; a
// peer that stops reading cannot block an answer longer than
// streamWriteTimeout. sipgo restarts the read timeout with every read, so
// accepted connections are timed by whole messages as well (framedConn,
// Options.MessageTimeout and IdleTimeout), the sooner bound winning.
var (
	streamIdleTimeout  = 5 * time.Minute
	streamWriteTimeout = 10 * time.Second
)

func streamTransport() *sip.TransportTCP {
	return &sip.TransportTCP{ReadTimeout: streamIdleTimeout, WriteTimeout: streamWriteTimeout}
}

var tuneOnce sync.Once

// tuneSipgo sets sipgo's package-level sizes once, before any transport
// reads them.
func tuneSipgo() {
	tuneOnce.Do(func() {
		// Default 32 KiB: a larger datagram would be cut and dropped as
		// unparseable. 65535 holds any datagram whole.
		sip.TransportBufferReadSize = math.MaxUint16
		// sipgo refuses to send over UDP what exceeds UDPMTUSize-200
		// (RFC 3261 18.1.1 would switch to TCP). Asterisk sends large
		// PUBLISHes over UDP all the same; so does the companion rather
		// than fail a publication forever.
		sip.UDPMTUSize = maxDatagram + 200
		// A few sipgo paths log on this package-level logger (connection
		// reference counts, "ref went negative"), not on the one given.
		sip.SetDefaultLogger(slog.New(debugOnly{defaultHandler{}}))
	})
}

// defaultHandler is slog.Default's handler as it is at each call, so that
// a later slog.SetDefault is followed.
type defaultHandler struct{}

func (defaultHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return slog.Default().Handler().Enabled(ctx, l)
}

func (defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	return slog.Default().Handler().Handle(ctx, r)
}

func (defaultHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return slog.Default().Handler().WithAttrs(as)
}

func (defaultHandler) WithGroup(name string) slog.Handler {
	return slog.Default().Handler().WithGroup(name)
}

// debugOnly passes sipgo's records on at debug level: sipgo logs a
// malformed packet from anyone as an error, with its full text, and the
// failures that matter are reported by the Stack itself.
type debugOnly struct{ h slog.Handler }

func (d debugOnly) Enabled(ctx context.Context, _ slog.Level) bool {
	return d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugOnly) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugOnly) WithAttrs(as []slog.Attr) slog.Handler { return debugOnly{d.h.WithAttrs(as)} }
func (d debugOnly) WithGroup(name string) slog.Handler    { return debugOnly{d.h.WithGroup(name)} }
