package sipstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/astcompanion/sidecar/companion"
)

// DefaultRequestTimeout bounds one Publish when Options leaves it zero.
// sipgo would otherwise wait for Timer F (32 s over UDP).
const DefaultRequestTimeout = 10 * time.Second

// DefaultUserAgent is the User-Agent (and Server) header when Options
// leaves it empty.
const DefaultUserAgent = "companion"

// ErrClosed is returned by Serve and Publish once the Stack is closed.
var ErrClosed = errors.New("sipstack: closed")

// Options configures a Stack.
type Options struct {
	// Node gives the listeners and the TLS certificate and key files.
	Node companion.NodeConfig
	// UserAgent is sent as User-Agent in requests and Server in responses.
	UserAgent string
	// Logger receives the stack's own messages; sipgo's are passed on at
	// debug level. nil discards.
	Logger *slog.Logger
	// Realm is the digest realm of challenges; default Node.Name.
	Realm string
	// RequestTimeout bounds one Publish (all its authentication rounds).
	RequestTimeout time.Duration
	// TLSClientConfig verifies peers reached over TLS (sips: or
	// transport=tls); nil verifies against the system roots. The
	// listener's certificate is offered to peers that ask for one.
	TLSClientConfig *tls.Config

	// Admit says whether a source address may send to the listeners at
	// all (companion.Config.AdmitsSource: some peer may use it). A TCP
	// or TLS connection from a source refused is closed at accept; a UDP
	// datagram never reaches the SIP stack, and a request gets a
	// stateless 403 within a per-source rate. nil admits every source.
	Admit func(netip.Addr) bool
	// MaxConns caps the TCP and TLS connections open at once, all
	// listeners together; MaxConnsPerSource those from one address. A
	// connection over a cap is closed at accept. Zero: DefaultMaxConns,
	// DefaultMaxConnsPerSource.
	MaxConns          int
	MaxConnsPerSource int
	// MessageTimeout closes a TCP or TLS connection on which a message
	// (or the TLS handshake) started and is not complete that long after;
	// IdleTimeout one on which no complete message came for that long
	// (keep-alive CRLFs do not count). Zero: DefaultMessageTimeout,
	// DefaultIdleTimeout.
	MessageTimeout time.Duration
	IdleTimeout    time.Duration
}

// Stack is the SIP edge: listeners, answers and senders on one sipgo user
// agent. Its listeners are bound by New and read from then on, so a
// Sender works before Serve. A PUBLISH that arrives before the first Serve
// waits for it up to 2 s; one that arrives after Serve ended (shutdown) is
// answered 503.
//
// What a listener is sent cannot end it: connections and datagrams from
// sources not admitted are refused before sipgo sees them, connections
// are capped and timed by whole messages, accept errors such as running
// out of file descriptors are waited out, and a listener whose loop ends
// all the same is bound again on its address until Close.
type Stack struct {
	log     *slog.Logger
	agent   string
	realm   string
	timeout time.Duration

	admit        func(netip.Addr) bool
	maxConns     int
	maxPerSource int
	msgTimeout   time.Duration
	idleTimeout  time.Duration
	refusals     *companion.RateLog // every refusal, rate-limited per source
	forbidRate   *rateLimiter
	count        counters

	connMu    sync.Mutex
	connsOpen int
	perSource map[netip.Addr]int

	ua     *sipgo.UserAgent
	client *sipgo.Client
	nonces *nonces
	lns    []*listener

	localAddrs localAddrs // UDP source address per destination

	loops   sync.WaitGroup // one per listener, and the refusal log's flusher
	done    chan struct{}  // closed by Close
	started chan struct{}  // closed by the first Serve

	mu       sync.Mutex
	closed   bool
	serving  bool
	handler  companion.PublishHandler
	hctx     context.Context // Serve's ctx, handed to the handler
	inflight sync.WaitGroup  // handler calls
}

// refusalSources bounds the sources the refusal log tells apart: UDP
// source addresses can be forged, and a flood from many writes at most
// this many first lines (and summaries) a window.
const refusalSources = 64

// New binds every listener of opts.Node and starts reading from them.
func New(opts Options) (*Stack, error) {
	tuneSipgo()
	s := &Stack{
		log:     opts.Logger,
		agent:   opts.UserAgent,
		realm:   opts.Realm,
		timeout: opts.RequestTimeout,
		done:    make(chan struct{}),
		started: make(chan struct{}),

		admit:        opts.Admit,
		maxConns:     opts.MaxConns,
		maxPerSource: opts.MaxConnsPerSource,
		msgTimeout:   opts.MessageTimeout,
		idleTimeout:  opts.IdleTimeout,
		forbidRate:   newRateLimiter(),
		perSource:    make(map[netip.Addr]int),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.agent == "" {
		s.agent = DefaultUserAgent
	}
	if s.realm == "" {
		s.realm = opts.Node.Name
	}
	if s.realm == "" {
		s.realm = DefaultUserAgent
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	if s.maxConns <= 0 {
		s.maxConns = DefaultMaxConns
	}
	if s.maxPerSource <= 0 {
		s.maxPerSource = DefaultMaxConnsPerSource
	}
	if s.msgTimeout <= 0 {
		s.msgTimeout = DefaultMessageTimeout
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = DefaultIdleTimeout
	}
	s.refusals = companion.NewRateLog(s.log, 0, refusalSources)
	var err error
	if s.nonces, err = newNonces(time.Now); err != nil {
		return nil, err
	}
	serverTLS, clientTLS, err := tlsConfigs(opts)
	if err != nil {
		return nil, err
	}

	sipLog := slog.New(debugOnly{s.log.Handler()})
	parser := sip.NewParser()
	parser.MaxMessageLength = maxMessageSize
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent(s.agent),
		sipgo.WithUserAgentParser(parser),
		sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerTransports(sip.TransportsConfig{
				TCP: streamTransport(),
				TLS: &sip.TransportTLS{TransportTCP: streamTransport()},
			}),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			// Retransmitted final answers arrive after their transaction
			// ended; sipgo would log each one at info on slog.Default.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				sipLog.Debug("response without transaction", "response", r.StartLine())
			}),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("sipstack: %w", err)
	}
	srv, err := sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		_ = s.ua.Close()
		return nil, fmt.Errorf("sipstack: %w", err)
	}
	s.route(srv)
	if s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientLogger(sipLog)); err != nil {
		_ = s.ua.Close()
		return nil, fmt.Errorf("sipstack: %w", err)
	}

	for _, l := range opts.Node.SIPListen {
		ln, err := bind(l, serverTLS, s)
		if err != nil {
			for _, b := range s.lns {
				b.close()
			}
			_ = s.ua.Close()
			return nil, fmt.Errorf("sipstack: listen on %s: %w", l, err)
		}
		s.lns = append(s.lns, ln)
	}
	for _, ln := range s.lns {
		s.loops.Add(1)
		go s.run(ln, srv)
		if ln.addr.Transport == "udp" {
			// A Sender may use the socket as soon as New returns, and
			// sipgo finds it only once its loop has pooled it.
			t := time.NewTimer(startWait)
			select {
			case <-ln.reading:
			case <-t.C:
			}
			t.Stop()
		}
		s.log.Info("SIP listening", "listener", ln.addr.String())
	}
	s.loops.Add(1)
	go s.flushRefusals()
	return s, nil
}

// run serves ln until Close. A loop that ends before (a listener
// failing in a way sipgo does not survive) is logged and counted, and
// the listener bound again on the same address, with a growing delay
// while that fails or the new loop ends soon again.
func (s *Stack) run(ln *listener, srv *sipgo.Server) {
	defer s.loops.Done()
	var delay time.Duration
	for {
		began := time.Now()
		err := ln.serve(srv, s)
		if s.isClosed() {
			return
		}
		if err == nil {
			err = errors.New("stopped reading")
		}
		s.count.restarts.Add(1)
		ln.down.Store(true)
		s.refusals.Log(slog.LevelError, ln.addr.String(), "listener stopped", "SIP listener stopped; binding it again",
			"error", err.Error())
		if time.Since(began) > 10*maxRetryDelay {
			delay = 0
		}
		for {
			delay = nextDelay(delay)
			t := time.NewTimer(delay)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			err := ln.rebind(s)
			if err == nil {
				ln.down.Store(false)
				break
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.refusals.Log(slog.LevelError, ln.addr.String(), "rebind failed", "binding a SIP listener again failed; retrying",
				"error", err.Error())
		}
	}
}

// flushRefusals writes the refusal log's summaries of quiet sources.
func (s *Stack) flushRefusals() {
	defer s.loops.Done()
	t := time.NewTicker(companion.DefaultRateLogWindow / 4)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			s.refusals.Flush()
			return
		case <-t.C:
			s.refusals.Flush()
		}
	}
}

// Addrs returns the bound listeners, with the ports the system chose for
// those configured with port 0.
func (s *Stack) Addrs() []companion.Listener {
	out := make([]companion.Listener, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.addr
	}
	return out
}

// Serve hands received PUBLISHes to h until ctx is done, then waits for
// the calls in progress and returns nil. It returns ErrClosed when the
// Stack is closed; a listener that fails is bound again and does not end
// it. Only one Serve runs at a time.
func (s *Stack) Serve(ctx context.Context, h companion.PublishHandler) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.serving:
		s.mu.Unlock()
		return errors.New("sipstack: Serve is already running")
	}
	// Handlers see the end of serving even when Close, not ctx, ends it.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.serving, s.handler, s.hctx = true, h, hctx
	select {
	case <-s.started:
	default:
		close(s.started)
	}
	s.mu.Unlock()

	var err error
	select {
	case <-ctx.Done():
	case <-s.done:
		err = ErrClosed
	}

	s.mu.Lock()
	s.serving, s.handler, s.hctx = false, nil, nil
	s.mu.Unlock()
	cancel()
	s.inflight.Wait()
	return err
}

// startWait is how long a PUBLISH that arrives between New and the first
// Serve waits for it: a stock Asterisk drops a state answered 503, and a
// peer over TCP would not retransmit.
const startWait = 2 * time.Second

// handlerFor returns the handler to call and its ctx, nil when not
// serving. Before the first Serve it waits for it a little.
func (s *Stack) handlerFor() (companion.PublishHandler, context.Context) {
	if h, ctx := s.acquire(); h != nil {
		return h, ctx
	}
	t := time.NewTimer(startWait)
	defer t.Stop()
	select {
	case <-s.started:
	case <-s.done:
	case <-t.C:
	}
	return s.acquire()
}

// acquire returns the handler to call and its ctx, nil when not serving.
// A non-nil handler must be released with s.inflight.Done.
func (s *Stack) acquire() (companion.PublishHandler, context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.handler == nil {
		return nil, nil
	}
	s.inflight.Add(1)
	return s.handler, s.hctx
}

// Close stops the listeners, ends every transaction and connection, and
// waits for the reading goroutines. Senders fail from then on.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	for _, ln := range s.lns {
		ln.close()
	}
	err := s.ua.Close()
	s.loops.Wait()
	s.inflight.Wait()
	return err
}

func (s *Stack) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
