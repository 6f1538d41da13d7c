package sipstack

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/emiago/sipgo"

	"github.com/astcompanion/sidecar/companion"
)

// listener is one bound sip_listen entry.
type listener struct {
	addr  companion.Listener // as bound: the real port
	local netip.AddrPort     // bound address, for picking a UDP source
	udp   *net.UDPConn       // for udp
	ln    net.Listener       // for tcp and tls

	// reading is closed when sipgo first reads the UDP socket: by then it
	// has pooled it, and requests may be sent from it.
	reading chan struct{}
	once    sync.Once
}

// readSignal is the UDP socket as handed to sipgo; it tells when sipgo
// starts reading.
type readSignal struct {
	*net.UDPConn
	b *listener
}

func (r readSignal) ReadFrom(p []byte) (int, net.Addr, error) {
	r.b.once.Do(func() { close(r.b.reading) })
	return r.UDPConn.ReadFrom(p)
}

// bind opens l. The address family follows the host so that a UDP
// listener's family is known when picking it as a request's source.
func bind(l companion.Listener, serverTLS *tls.Config) (*listener, error) {
	family := ""
	if a, err := netip.ParseAddr(l.Host); err == nil {
		family = "4"
		if a.Is6() && !a.Is4In6() {
			family = "6"
		}
	}
	b := &listener{addr: l, reading: make(chan struct{})}
	switch l.Transport {
	case "udp":
		ua, err := net.ResolveUDPAddr("udp"+family, l.Address())
		if err != nil {
			return nil, err
		}
		if b.udp, err = net.ListenUDP("udp"+family, ua); err != nil {
			return nil, err
		}
		b.local = b.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	case "tcp", "tls":
		ta, err := net.ResolveTCPAddr("tcp"+family, l.Address())
		if err != nil {
			return nil, err
		}
		tl, err := net.ListenTCP("tcp"+family, ta)
		if err != nil {
			return nil, err
		}
		b.local = tl.Addr().(*net.TCPAddr).AddrPort()
		b.ln = tl
		if l.Transport == "tls" {
			if serverTLS == nil {
				_ = tl.Close()
				return nil, errors.New("no TLS certificate configured")
			}
			b.ln = tls.NewListener(tl, serverTLS)
		}
	default:
		return nil, fmt.Errorf("unsupported transport %q", l.Transport)
	}
	b.addr.Port = int(b.local.Port())
	return b, nil
}

// serve runs sipgo's read loop until the listener is closed.
func (b *listener) serve(srv *sipgo.Server) error {
	switch b.addr.Transport {
	case "udp":
		return srv.ServeUDP(readSignal{b.udp, b})
	case "tcp":
		return srv.ServeTCP(b.ln)
	default:
		return srv.ServeTLS(b.ln)
	}
}

func (b *listener) close() {
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
