package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/fleet"
	"github.com/astcompanion/sidecar/companion/httpstatus"
)

// startFleet runs the fleet link beside the exchange, when [fleet] is
// set. The returned stop ends it: after an error exit (abandon) our
// presence is left to expire, as SIP publications are; otherwise the
// others are told at once that we left.
func (n *node) startFleet(ctx context.Context) (stop func(abandon bool)) {
	if n.cfg.Fleet == nil {
		return func(bool) {}
	}
	link := fleet.New(fleet.Options{
		Config: n.cfg.Fleet,
		Self:   n.eid,
		Local:  n.x.LocalTable,
		Remote: n.x.RemoteTable,
		Logger: n.log.With("part", "fleet"),
	})
	n.fleet.Store(link)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := link.Run(ctx); err != nil {
			n.log.Error("fleet link stopped; SIP peers carry on", "err", err)
		}
	}()
	n.log.Info("fleet link started", "servers", strings.Join(n.cfg.Fleet.NATSURLs, ","), "bucket", n.cfg.Fleet.Bucket)
	return func(abandon bool) {
		if abandon {
			link.Abandon()
		}
		cancel()
		<-done
	}
}

// fleetState is the link's figures for the status listener (with
// [fleet]); not connected while the link is not built yet.
func (n *node) fleetState() httpstatus.FleetState {
	out := httpstatus.FleetState{Ignored: make(map[string]uint64, len(fleet.IgnoredReasons))}
	for _, r := range fleet.IgnoredReasons {
		out.Ignored[r] = 0
	}
	link := n.fleet.Load()
	if link == nil {
		return out
	}
	s := link.Stats()
	out.Connected, out.Members, out.HeldStates, out.OurKeys, out.Pending = s.Connected, s.Members, s.HeldStates, s.OurKeys, s.Pending
	out.Written, out.Failed, out.Purged, out.LastError, out.SyncedAt = s.Written, s.Failed, s.Purged, s.LastError, s.SyncedAt
	for r, v := range s.Ignored {
		out.Ignored[r] = v
	}
	return out
}

// summarizeFleet prints [fleet] for check-config, never a secret.
func summarizeFleet(w io.Writer, f *companion.FleetConfig) {
	if f == nil {
		fmt.Fprintf(w, "fleet     not configured\n")
		return
	}
	fmt.Fprintf(w, "fleet     %s, bucket %s (%d %s when created), presence ttl %s, auth %s, tls %s\n",
		strings.Join(f.NATSURLs, ", "), f.Bucket, f.Replicas, plural(f.Replicas, "replica", "replicas"),
		f.PresenceTTL, f.Auth(), fleetTLS(f))
	fmt.Fprintf(w, "  publish %s, filters %s\n", events(f.Publish.DeviceState, f.Publish.MailboxState),
		filters(f.Publish.DeviceState, f.Publish.DeviceStateFilter, f.Publish.MailboxState, f.Publish.MailboxStateFilter))
	fmt.Fprintf(w, "  accept  %s, filters %s\n", events(f.Accept.DeviceState, f.Accept.MailboxState),
		filters(f.Accept.DeviceState, f.Accept.DeviceStateFilter, f.Accept.MailboxState, f.Accept.MailboxStateFilter))
}

func fleetTLS(f *companion.FleetConfig) string {
	var parts []string
	if f.TLSCAFile != "" {
		parts = append(parts, "ca "+f.TLSCAFile)
	}
	if f.TLSCertFile != "" {
		parts = append(parts, "client cert "+f.TLSCertFile)
	}
	if len(parts) == 0 {
		return "per URL scheme"
	}
	return strings.Join(parts, ", ")
}
