package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/astcompanion/sidecar/ami"
	"github.com/astcompanion/sidecar/ari"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/fleet"
	"github.com/astcompanion/sidecar/companion/provision"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

// node is one running companion: the exchange and the adapters around it.
type node struct {
	// cfg is the running configuration, replaced by reload (run's
	// goroutine only); live is the same for other goroutines.
	cfg   *companion.Config
	live  atomic.Pointer[companion.Config]
	log   *slog.Logger
	eid   companion.EntityID
	x     *companion.Exchange
	ami   *ami.Client // nil without [ami]
	ari   *ari.Client // nil without [ari]
	stack *sipstack.Stack
	// keeper applies [[sorcery]] at start, on SIGHUP and after every AMI
	// connect; nil without [ari].
	keeper *provision.Keeper
	// fleet is the fleet link while it runs (startFleet); nil without
	// [fleet] and before it starts. The status listener reads it.
	fleet atomic.Pointer[fleet.Link]
	out   io.Writer // where provisioning prints its plan and report
	// barrier, when set, keeps the SIP stack up after the exchange stopped
	// until its peers in this process stopped theirs (demo).
	barrier *stopBarrier
}

// observerProxy lets the AMI client be built before the exchange it
// reports to, since the exchange in turn writes through the AMI client.
type observerProxy struct{ companion.Observer }

// eidAttempts bounds how long startup waits for ARI to tell the EID.
const eidAttempts = 5

// eidPauseForTest is the pause between attempts (2 s; tests shorten it).
var eidPauseForTest = 2 * time.Second

func newNode(ctx context.Context, cfg *companion.Config, log *slog.Logger) (*node, error) {
	return newNodeWith(ctx, cfg, log, companion.PublisherOptions{})
}

// newNodeWith is newNode with the publishers tuned: the bench's
// native-like baseline (PublisherOptions.FIFO) is built here too, so
// that it differs from a real node in that switch only.
func newNodeWith(ctx context.Context, cfg *companion.Config, log *slog.Logger, publisher companion.PublisherOptions) (*node, error) {
	n := &node{cfg: cfg, log: log, eid: cfg.Node.EID, out: os.Stderr}
	n.live.Store(cfg)
	if cfg.ARI != nil {
		c, err := ari.New(cfg.ARI, log.With("part", "ari"))
		if err != nil {
			return nil, err
		}
		n.ari = c
	}
	if cfg.Node.EIDAuto() {
		eid, err := n.readEID(ctx)
		if err != nil {
			return nil, eidError(ctx, cfg.File, err)
		}
		n.eid = eid
		log.Info("entity ID read from Asterisk", "eid", eid.String())
	}

	proxy := &observerProxy{}
	if cfg.AMI != nil {
		n.ami = ami.New(*cfg.AMI, log.With("part", "ami"), proxy)
	}
	var tlsClient *tls.Config
	if cfg.Node.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.Node.TLSCAFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: tls_ca_file %s holds no PEM certificate", cfg.File, cfg.Node.TLSCAFile)
		}
		tlsClient = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	stack, err := sipstack.New(sipstack.Options{
		Node:            cfg.Node,
		UserAgent:       "asterisk-companion/" + buildVersion(),
		Logger:          log.With("part", "sip"),
		TLSClientConfig: tlsClient,
		// The peers, hence the sources admitted, change on reload.
		Admit:             func(a netip.Addr) bool { return n.live.Load().AdmitsSource(a) },
		MaxConns:          cfg.Node.SIPMaxConnections,
		MaxConnsPerSource: cfg.Node.SIPMaxConnectionsPerSource,
		MessageTimeout:    cfg.Node.SIPMessageTimeout,
		IdleTimeout:       cfg.Node.SIPIdleTimeout,
	})
	if err != nil {
		return nil, err
	}
	n.stack = stack
	ledger, err := openLedger(cfg, log)
	if err != nil {
		stack.Close()
		return nil, err
	}
	gate := newSnapshotGate(n.ami != nil, n.applier(cfg.Apply.MailboxState) != nil)
	n.x = companion.NewExchange(cfg, n.eid, companion.ExchangeOptions{
		Ledger:    ledger,
		Apply:     companion.ApplyOptions{Ready: gate.ready()},
		Publisher: publisher,
		Sender: func(p *companion.PeerConfig, ev companion.Event) companion.Sender {
			return stack.Sender(p.Publish, ev)
		},
		Prober: func(p *companion.PeerConfig) companion.Prober {
			return stack.Prober(p.Publish)
		},
		DeviceApplier:  n.applier(cfg.Apply.DeviceState),
		MailboxApplier: n.applier(cfg.Apply.MailboxState),
		Logger:         log,
	})
	proxy.Observer = n.x.Observer()
	n.x.OnSnapshot(gate.observe)
	if n.ari != nil {
		n.keeper = provision.NewKeeper(func(ctx context.Context, cfg *companion.Config, quiet bool) error {
			return applySorcery(ctx, cfg, n.out, quiet)
		}, provision.KeeperOptions{Logger: log.With("part", "provision")})
		// A device snapshot follows every AMI connect: Asterisk may have
		// restarted, and objects kept by a memory wizard are gone then.
		n.x.OnSnapshot(func(kind companion.Kind) {
			if kind == companion.KindDevice {
				n.keeper.Recheck()
			}
		})
	}
	return n, nil
}

func (n *node) readEID(ctx context.Context) (companion.EntityID, error) {
	if n.ari == nil {
		return companion.EntityID{}, errors.New("no [ari] section")
	}
	var err error
	for i := range eidAttempts {
		var eid companion.EntityID
		if eid, err = n.ari.EntityID(ctx); err == nil {
			return eid, nil
		}
		if errors.Is(err, companion.ErrARIUnauthorized) || ctx.Err() != nil {
			return eid, err // retrying cannot help
		}
		if i < eidAttempts-1 {
			n.log.Warn("reading the Entity ID over ARI failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return eid, ctx.Err()
			case <-time.After(eidPauseForTest):
			}
		}
	}
	return companion.EntityID{}, err
}

// applier is what writes remote state for the given mode; a nil
// interface (not a nil pointer) when nothing does.
func (n *node) applier(mode companion.ApplyMode) companion.Applier {
	switch {
	case mode == companion.ApplyAMI && n.ami != nil:
		return n.ami
	case mode == companion.ApplyARI && n.ari != nil:
		return n.ari
	}
	return nil
}

// run runs until ctx is done. Shutdown goes in order: the exchange first,
// whose publishers remove their publications through the still-running
// SIP stack, then the SIP stack and AMI (Logoff).
func (n *node) run(ctx context.Context, path string, hup <-chan os.Signal) error {
	stopStatus, err := n.serveStatus()
	if err != nil {
		return err
	}
	defer stopStatus()
	adapters, stopAdapters := context.WithCancel(context.Background())
	defer stopAdapters()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	if n.ami != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.ami.Run(adapters); err != nil && adapters.Err() == nil {
				errs <- fmt.Errorf("AMI: %w", err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.stack.Serve(adapters, n.x.Handler()); err != nil && adapters.Err() == nil {
			errs <- fmt.Errorf("SIP: %w", err)
		}
	}()

	exchange, stopExchange := context.WithCancel(ctx)
	defer stopExchange()
	exchangeDone := make(chan struct{})
	go func() {
		n.x.Run(exchange)
		close(exchangeDone)
	}()
	if n.keeper != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.keeper.Run(exchange)
		}()
		n.keeper.Use(n.cfg)
	}
	stopFleet := n.startFleet(exchange)
	n.log.Info("running", "node", n.cfg.Node.Name, "eid", n.eid.String(), "peers", len(n.cfg.Peers))

	var failed error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errs:
			failed = err
			break loop
		case <-hup:
			if ctx.Err() != nil {
				break loop // stopping: the exchange is not to change now
			}
			n.reload(path)
		}
	}
	if failed != nil {
		// Only a signal removes our publications: on an error exit the
		// peers keep our states until they expire or we are back.
		n.x.Abandon()
	}
	stopFleet(failed != nil)
	stopExchange()
	<-exchangeDone
	n.barrier.arrive()
	stopAdapters()
	wg.Wait()
	n.stack.Close()
	return failed
}

// reload re-reads the file on SIGHUP. An invalid file is refused whole,
// every error logged, and the running configuration stays. Otherwise the
// peers change live (companion.Exchange.Reload), the [[sorcery]] objects
// go to the keeper, and what cannot change in a running process (the
// EID, listeners, [ami], [ari], [apply], state_dir) is logged and keeps
// its running value until the next start.
func (n *node) reload(path string) {
	n.log.Info("SIGHUP: re-reading the configuration", "file", path)
	cfg, err := config.Load(path)
	if err != nil {
		var errs companion.ConfigErrors
		if !errors.As(err, &errs) {
			// os errors name the file and the cause, never its contents.
			errs = companion.ConfigErrors{{File: path, Msg: err.Error()}}
		}
		for _, e := range errs {
			n.log.Error("configuration error", "error", e.Error())
		}
		n.log.Error("configuration refused; the running configuration stays", "file", path, "errors", len(errs))
		return
	}
	for _, w := range cfg.Warnings {
		n.log.Warn("configuration", "warning", w.Error())
	}
	diff := companion.DiffConfig(n.cfg, cfg)
	for _, s := range diff.Restart {
		n.log.Warn("setting changed in the file; it takes effect at the next start, the running value stays", "setting", s)
	}
	for _, p := range diff.Added {
		n.log.Info("peer added", "peer", p)
	}
	for _, p := range diff.Removed {
		n.log.Info("peer removed: its publications are removed and the states it asserted cleared", "peer", p)
	}
	for _, c := range diff.Changed {
		n.log.Info("peer changed", "peer", c.Name, "settings", strings.Join(c.Fields, " "))
	}
	if _, err := n.x.Reload(cfg); err != nil {
		n.log.Error("configuration not reloaded", "err", err)
		return
	}
	n.cfg = companion.ReloadedConfig(n.cfg, cfg)
	n.live.Store(n.cfg)
	switch {
	case n.keeper != nil:
		n.keeper.Use(n.cfg)
	case len(cfg.Sorcery) > 0:
		n.log.Warn("[[sorcery]] objects are pushed through ARI: they need [ari] at start")
	}
	n.log.Info("configuration reloaded", "peers", len(n.cfg.Peers), "added", len(diff.Added), "removed", len(diff.Removed),
		"changed", len(diff.Changed), "need_restart", len(diff.Restart))
}

// openLedger opens the record of what this node wrote into its Asterisk
// for peers. A damaged one stops the start: without it, those states
// would be taken for local ones and published back to their origins. A
// folder that cannot be written is only warned about: the record then
// lives in memory, and is lost with the process.
func openLedger(cfg *companion.Config, log *slog.Logger) (*companion.Ledger, error) {
	if cfg.Apply.DeviceState == companion.ApplyNone && cfg.Apply.MailboxState == companion.ApplyNone {
		return nil, nil
	}
	path := cfg.Apply.LedgerFile
	l, err := companion.OpenLedger(path)
	if err != nil {
		return nil, fmt.Errorf("%s: apply.ledger_file: %w; if the file is damaged, move it away (the states it lists are then taken for local ones once)", cfg.File, err)
	}
	if path == "" {
		return l, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".companion-ledger-check-*")
	if err != nil {
		log.Warn("the ledger's folder cannot be written: what is written for peers will not be remembered across restarts; create it or set apply.ledger_file",
			"file", path, "err", err)
		return l, nil
	}
	f.Close()
	os.Remove(f.Name())
	return l, nil
}
