package sipstack

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"

	"github.com/astcompanion/sidecar/companion"
)

// listener is one bound sip_listen entry. A listener whose loop ends
// while the Stack is open is bound again on the same address (rebind).
type listener struct {
	addr      companion.Listener // as bound: the real port
	local     netip.AddrPort     // bound address, for picking a UDP source
	udpKey    string             // the UDP socket's address as sipgo's pool knows it
	serverTLS *tls.Config

	mu     sync.Mutex
	udp    *net.UDPConn // for udp
	ln     net.Listener // for tcp and tls: what sipgo accepts from
	closed bool
	// down is set while the listener is not bound: its loop ended and
	// binding it again has not succeeded yet.
	down atomic.Bool

	// reading is closed when sipgo first reads the UDP socket: by then it
	// has pooled it, and requests may be sent from it.
	reading chan struct{}
	once    sync.Once
}

// bind opens l. The address family follows the host so that a UDP
// listener's family is known when picking it as a request's source.
func bind(l companion.Listener, serverTLS *tls.Config, st *Stack) (*listener, error) {
	b := &listener{addr: l, serverTLS: serverTLS, reading: make(chan struct{})}
	if l.Transport == "tls" && serverTLS == nil {
		return nil, errors.New("no TLS certificate configured")
	}
	if err := b.open(l.Address(), st); err != nil {
		return nil, err
	}
	b.addr.Port = int(b.local.Port())
	if b.udp != nil {
		b.udpKey = b.udp.LocalAddr().String()
	}
	return b, nil
}

// open binds address for b's transport. A TCP or TLS listener is
// wrapped for sipgo: guardListener (admission, caps, accept errors) on
// the TCP socket, then TLS, then frameListener (message timing).
func (b *listener) open(address string, st *Stack) error {
	family := ""
	if a, err := netip.ParseAddr(b.addr.Host); err == nil {
		family = "4"
		if a.Is6() && !a.Is4In6() {
			family = "6"
		}
	}
	switch b.addr.Transport {
	case "udp":
		ua, err := net.ResolveUDPAddr("udp"+family, address)
		if err != nil {
			return err
		}
		if b.udp, err = net.ListenUDP("udp"+family, ua); err != nil {
			return err
		}
		b.local = b.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	case "tcp", "tls":
		ta, err := net.ResolveTCPAddr("tcp"+family, address)
		if err != nil {
			return err
		}
		tl, err := net.ListenTCP("tcp"+family, ta)
		if err != nil {
			return err
		}
		b.local = tl.Addr().(*net.TCPAddr).AddrPort()
		var ln net.Listener = &guardListener{Listener: tl, st: st, name: b.addr.String(), stop: make(chan struct{})}
		if b.addr.Transport == "tls" {
			ln = tls.NewListener(ln, b.serverTLS)
		}
		b.ln = frameListener{Listener: ln, st: st}
	default:
		return fmt.Errorf("unsupported transport %q", b.addr.Transport)
	}
	return nil
}

// rebind closes b's socket and binds its address again, unless b is
// closed.
func (b *listener) rebind(st *Stack) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return net.ErrClosed
	}
	b.closeSocket()
	b.udp, b.ln = nil, nil
	return b.open(net.JoinHostPort(b.local.Addr().String(), strconv.Itoa(int(b.local.Port()))), st)
}

// serve runs sipgo's read loop until the listener is closed or fails.
func (b *listener) serve(srv *sipgo.Server, st *Stack) error {
	b.mu.Lock()
	udp, ln := b.udp, b.ln
	b.mu.Unlock()
	switch {
	case udp != nil:
		return srv.ServeUDP(admitPacketConn{UDPConn: udp, st: st, b: b})
	case ln == nil:
		return net.ErrClosed
	case b.addr.Transport == "tcp":
		return srv.ServeTCP(ln)
	default:
		return srv.ServeTLS(ln)
	}
}

func (b *listener) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.closeSocket()
}

func (b *listener) closeSocket() {
	if b.udp != nil {
		_ = b.udp.Close()
	}
	if b.ln != nil {
		_ = b.ln.Close()
	}
}

// tlsConfigs loads the node's certificate, if any, for the TLS listeners
// and to offer to peers that ask a client for one.
func tlsConfigs(opts Options) (server, client *tls.Config, err error) {
	client = &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSClientConfig != nil {
		client = opts.TLSClientConfig.Clone()
	}
	n := opts.Node
	if n.TLSCertFile == "" && n.TLSKeyFile == "" {
		return nil, client, nil
	}
	cert, err := tls.LoadX509KeyPair(n.TLSCertFile, n.TLSKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("sipstack: TLS certificate: %w", err)
	}
	if len(client.Certificates) == 0 && client.GetClientCertificate == nil {
		client.Certificates = []tls.Certificate{cert}
	}
	server = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
