package main

import (
	"fmt"

	"github.com/astcompanion/sidecar/companion/httpstatus"
)

// serveStatus starts the status listener on [companion] http_listen and
// returns what stops it; with http_listen = "" it starts nothing. It logs
// the address actually bound (port 0 picks one). A failure to bind is a
// startup error.
func (n *node) serveStatus() (stop func(), err error) {
	addr := n.cfg.Node.HTTPListen
	if addr == "" {
		n.log.Info("status listener off (http_listen = \"\")")
		return func() {}, nil
	}
	srv, err := httpstatus.Start(addr, n.statusSource(), n.log.With("part", "http"))
	if err != nil {
		n.stack.Close() // run ends before anything started: release what newNode bound
		return nil, fmt.Errorf("%s: [companion] http_listen = %q: %w; choose another address, or \"\" to turn the status listener off", n.cfg.File, addr, err)
	}
	n.log.Info("status listener", "address", srv.Addr().String(), "serves", "/metrics /healthz /readyz /status")
	return srv.Close, nil
}

// statusSource is what the status listener reads: snapshots of the
// exchange and the adapters, never the configuration itself (it holds
// secrets), only names and addresses from it.
func (n *node) statusSource() *httpstatus.Source {
	src := &httpstatus.Source{
		Node:           n.cfg.Node.Name,
		EID:            n.eid,
		Version:        buildVersion(),
		Listeners:      n.stack.Listeners,
		SIP:            n.stack.Stats,
		Local:          n.x.LocalStats,
		Receiver:       n.x.ReceiverStats,
		Apply:          n.x.ApplyStats,
		PublisherStats: n.x.PublisherStats,
		PeerNames:      n.x.PeerNames,
		LocalTable:     n.x.LocalTable,
		RemoteTable:    n.x.RemoteTable,
		PeerOf:         n.x.PeerOf,
	}
	if n.ami != nil {
		src.AMI = func() httpstatus.AMIState {
			s := n.ami.Stats()
			return httpstatus.AMIState{Connected: s.Connected, Connects: s.Connects, LastConnect: s.LastConnect, State: s.State, Reason: s.Reason}
		}
	}
	if n.cfg.Fleet != nil {
		src.Fleet = func() (httpstatus.FleetState, bool) { return n.fleetState(), true }
	}
	if n.keeper != nil {
		src.Provision = func() httpstatus.ProvisionState {
			s := n.keeper.Stats()
			return httpstatus.ProvisionState{Runs: s.Runs, Failures: s.Failures, LastRun: s.LastRun, LastError: s.LastError}
		}
	}
	return src
}
