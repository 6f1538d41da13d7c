package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/ami"
	"github.com/astcompanion/sidecar/ari"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/provision"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

// node is one running companion: the exchange and the adapters around it.
type node struct {
	cfg   *companion.Config
	log   *slog.Logger
	eid   companion.EntityID
	x     *companion.Exchange
	ami   *ami.Client // nil without [ami]
	ari   *ari.Client // nil without [ari]
	stack *sipstack.Stack
	// keeper applies [[sorcery]] at start, on SIGHUP and after every AMI
	// connect; nil without [ari].
	keeper *provision.Keeper
	out    io.Writer // where provisioning prints its plan and report
}

// observerProxy lets the AMI client be built before the exchange it
// reports to, since the exchange in turn writes through the AMI client.
type observerProxy struct{ companion.Observer }

// eidAttempts bounds how long startup waits for ARI to tell the EID.
const eidAttempts = 5

// eidPauseForTest is the pause between attempts (2 s; tests shorten it).
var eidPauseForTest = 2 * time.Second

func newNode(ctx context.Context, cfg *companion.Config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log, eid: cfg.Node.EID, out: os.Stderr}
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
			return nil, fmt.Errorf("%s: eid = \"auto\": could not read the Entity ID from Asterisk (GET /asterisk/info): %w; set eid explicitly in [companion] (Asterisk's 'core show settings' prints it as Entity ID)", cfg.File, err)
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
		Node:              cfg.Node,
		UserAgent:         "asterisk-companion/" + buildVersion(),
		Logger:            log.With("part", "sip"),
		TLSClientConfig:   tlsClient,
		Admit:             cfg.AdmitsSource,
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
	n.x = companion.NewExchange(cfg, n.eid, companion.ExchangeOptions{
		Ledger: ledger,
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
	stopAdapters()
	wg.Wait()
	n.stack.Close()
	return failed
}

// reload re-reads the file on SIGHUP and hands its [[sorcery]] objects to
// the keeper. Other settings take effect at the next start.
func (n *node) reload(path string) {
	n.log.Info("SIGHUP: re-reading the configuration", "file", path)
	cfg, err := config.Load(path)
	if err != nil {
		n.log.Error("configuration not reloaded", "err", err)
		return
	}
	if n.keeper == nil {
		n.log.Warn("configuration read; without [ari] at start nothing is re-applied, and other changes take effect at the next start")
		return
	}
	n.keeper.Use(cfg)
	n.log.Info("applying the [[sorcery]] objects again; changes to other settings take effect at the next start")
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
