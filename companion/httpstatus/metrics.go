package httpstatus

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astcompanion/sidecar/companion"
)

// collector turns the Source's snapshots into metrics at each scrape.
// Every label value is a configured name, an event, a kind, a constant
// reason or a SIP status code (at most 600 values a publisher): nothing a
// peer writes becomes a label, so the series stay bounded.
type collector struct{ src *Source }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("companion_"+name, help, labels, nil)
}

var (
	infoDesc = desc("info", "This node: always 1, the labels tell.", "node", "eid", "version")

	amiConnected  = desc("ami_connected", "1 while the AMI session to the local Asterisk is logged in.")
	amiReconnects = desc("ami_reconnects_total", "AMI logins after the first one.")

	eventsIn    = desc("local_events_total", "States the local Asterisk reported one by one (DeviceStateChange, MessageWaiting), by kind.", "kind")
	snapshots   = desc("local_snapshots_total", "Full snapshots of the local states taken (one per kind follows every AMI connect), by kind.", "kind")
	badNames    = desc("local_bad_names_total", "Local states dropped for an unusable name.")
	statesTable = desc("states", "States held now: table local (this node's) or remote (the peers').", "table")

	publishSent      = desc("publish_requests_total", "PUBLISHes sent, by peer, event and final status (0: no final answer).", "peer", "event", "status")
	publishRetries   = desc("publish_retries_total", "PUBLISHes sent again after a failure.", "peer", "event")
	publishCoalesced = desc("publish_coalesced_total", "Queued values replaced by a newer one before they went out.", "peer", "event")
	publishQueued    = desc("publish_queued", "Keys waiting to be published.", "peer", "event")
	publishPubs      = desc("publish_publications", "Publication slots holding an entity tag (live publications).", "peer", "event")
	publishSlots     = desc("publish_publication_slots", "Publication slots (max_in_flight).", "peer", "event")
	publishLastSent  = desc("publish_last_success_timestamp_seconds", "When the last 2xx came, Unix time; absent before the first.", "peer", "event")
	publishLatency   = desc("publish_latency_seconds", "From a local change (AMI in) to the peer's 2xx.", "peer", "event")

	recvPubs     = desc("receive_publications", "Publications held for a peer, by event.", "peer", "event")
	recvStates   = desc("receive_states", "States held under a peer's Entity IDs.", "peer")
	recvRequests = desc("receive_requests_total", "PUBLISHes from a peer answered 200.", "peer")
	recvAccepted = desc("receive_states_accepted_total", "Device and mailbox states accepted into the remote table.")
	recvFiltered = desc("receive_states_filtered_total", "States answered 200 but dropped by [peer.accept] switches or filters.")
	recvNoise    = desc("receive_noise_dropped_total", "A stock peer's device states dropped by [peer.accept] ignore_mwi_devices, ignore_devices, ignore_invalid, by reason.", "reason")
	recvRefused  = desc("receive_refused_total", "PUBLISHes or bodies refused, by reason.", "reason")
	boundsHit    = desc("bounds_hit_total", "Times a bound was hit, by bound: the receiver's [peer.accept] limits and the SIP listeners' caps and timeouts.", "bound")

	applyWrites  = desc("apply_writes_total", "Writes of remote state into the local Asterisk, by result (ok, failed).", "result")
	applyRefused = desc("apply_refused_local_total", "Remote states not written because the device or mailbox is local.")

	provisionRuns     = desc("provision_runs_total", "Applies of the [[sorcery]] objects through ARI.")
	provisionFailures = desc("provision_failures_total", "Applies of the [[sorcery]] objects that failed.")

	fleetConnected = desc("fleet_connected", "1 while the fleet link is in sync with the NATS bucket.")
	fleetMembers   = desc("fleet_members", "Other fleet members present (their presence key lives).")
	fleetStates    = desc("fleet_states", "States held from the fleet.")
	fleetKeys      = desc("fleet_keys", "This node's own keys in the bucket.")
	fleetPending   = desc("fleet_keys_pending", "This node's keys waiting to be written into the bucket.")
	fleetWrites    = desc("fleet_writes_total", "Writes and removals of this node's keys in the bucket.")
	fleetFailures  = desc("fleet_write_failures_total", "Writes into the bucket that failed (each is retried).")
	fleetPurged    = desc("fleet_purged_total", "Departed members' keys this node removed from the bucket.")
	fleetIgnored   = desc("fleet_ignored_total", "Bucket entries ignored, by reason (wrong_eid, key_mismatch, bad_name, bad_value, bad_key, bad_presence, too_many_keys).", "reason")

	listenerUp   = desc("sip_listener_up", "1 while a SIP listener is bound.", "listener")
	sipConnsOpen = desc("sip_connections_open", "TCP and TLS connections open.")
	sipRefused   = desc("sip_refused_total", "Connections (connection) and datagrams (datagram) from sources no peer may use.", "what")
	sipForbidden = desc("sip_forbidden_sent_total", "Stateless 403s sent to refused UDP sources.")
	sipDropped   = desc("sip_datagrams_dropped_total", "Datagrams from refused sources dropped without an answer.")
	sipErrors    = desc("sip_errors_total", "Temporary errors waited out, by kind (accept, read), and listener restarts (restart).", "kind")
)

var allDescs = []*prometheus.Desc{
	infoDesc, amiConnected, amiReconnects, eventsIn, snapshots, badNames, statesTable,
	publishSent, publishRetries, publishCoalesced, publishQueued, publishPubs, publishSlots, publishLastSent, publishLatency,
	recvPubs, recvStates, recvRequests, recvAccepted, recvFiltered, recvNoise, recvRefused, boundsHit,
	applyWrites, applyRefused, provisionRuns, provisionFailures,
	fleetConnected, fleetMembers, fleetStates, fleetKeys, fleetPending, fleetWrites, fleetFailures, fleetPurged, fleetIgnored,
	listenerUp, sipConnsOpen, sipRefused, sipForbidden, sipDropped, sipErrors,
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(infoDesc, 1, s.Node, s.EID.String(), s.Version)

	if s.AMI != nil {
		a := s.AMI()
		gauge(amiConnected, b2f(a.Connected))
		counter(amiReconnects, a.Reconnects())
	}

	local := s.local()
	for _, k := range []companion.Kind{companion.KindDevice, companion.KindMailbox} {
		counter(eventsIn, local.Events[k], k.String())
		counter(snapshots, local.Snapshots[k], k.String())
	}
	counter(badNames, local.BadNames)
	if s.LocalTable != nil {
		gauge(statesTable, float64(s.LocalTable.Len(s.EID)), "local")
	}
	if s.RemoteTable != nil {
		n := 0
		for _, o := range s.RemoteTable.Origins() {
			n += s.RemoteTable.Len(o)
		}
		gauge(statesTable, float64(n), "remote")
	}

	for _, p := range s.publishers() {
		ev := string(p.Event)
		for status, n := range p.Answers {
			counter(publishSent, n, p.Peer, ev, strconv.Itoa(status))
		}
		counter(publishRetries, p.Retries, p.Peer, ev)
		counter(publishCoalesced, p.Coalesced, p.Peer, ev)
		gauge(publishQueued, float64(p.Queued), p.Peer, ev)
		up := 0
		for _, pub := range p.Publications {
			if pub.ETag != "" {
				up++
			}
		}
		gauge(publishPubs, float64(up), p.Peer, ev)
		gauge(publishSlots, float64(len(p.Publications)), p.Peer, ev)
		if !p.LastSent.IsZero() {
			gauge(publishLastSent, float64(p.LastSent.UnixNano())/1e9, p.Peer, ev)
		}
		if h, ok := histogram(p.Latency); ok {
			ch <- prometheus.MustNewConstHistogram(publishLatency, h.count, h.sum, h.buckets, p.Peer, ev)
		}
	}

	recv := s.receiver()
	for _, name := range s.peers() {
		ps, ok := recv.Peers[name]
		if !ok {
			continue
		}
		for _, ev := range []companion.Event{companion.EventDeviceState, companion.EventMWI} {
			gauge(recvPubs, float64(ps.Publications[ev]), name, string(ev))
		}
		gauge(recvStates, float64(ps.States), name)
		counter(recvRequests, ps.Received, name)
	}
	counter(recvAccepted, recv.StatesAccepted)
	counter(recvFiltered, recv.StatesFiltered)
	for reason, n := range recv.Refusals {
		counter(recvRefused, n, reason)
	}
	for _, reason := range []string{companion.FilteredMWIDevice, companion.FilteredIgnoredDevice, companion.FilteredInvalid} {
		counter(recvNoise, recv.Noise[reason], reason)
	}
	for _, reason := range companion.BoundReasons {
		counter(boundsHit, recv.Refusals[reason], boundNames[reason])
	}

	if s.Apply != nil {
		if a, ok := s.Apply(); ok {
			counter(applyWrites, a.WritesOK, "ok")
			counter(applyWrites, a.WritesFailed, "failed")
			counter(applyRefused, a.RefusedLocal)
		}
	}
	if s.Provision != nil {
		p := s.Provision()
		counter(provisionRuns, p.Runs)
		counter(provisionFailures, p.Failures)
	}

	if f, ok := s.fleet(); ok {
		gauge(fleetConnected, b2f(f.Connected))
		gauge(fleetMembers, float64(len(f.Members)))
		gauge(fleetStates, float64(f.HeldStates))
		gauge(fleetKeys, float64(f.OurKeys))
		gauge(fleetPending, float64(f.Pending))
		counter(fleetWrites, f.Written)
		counter(fleetFailures, f.Failed)
		counter(fleetPurged, f.Purged)
		for reason, n := range f.Ignored {
			counter(fleetIgnored, n, reason)
		}
	}

	for _, l := range s.listeners() {
		gauge(listenerUp, b2f(l.Up), l.Listener.String())
	}
	if s.SIP != nil {
		st := s.SIP()
		gauge(sipConnsOpen, float64(st.ConnsOpen))
		counter(sipRefused, st.ConnsRefused, "connection")
		counter(sipRefused, st.DatagramsRefused, "datagram")
		counter(sipForbidden, st.ForbiddenSent)
		counter(sipDropped, st.DatagramsDropped)
		counter(sipErrors, st.AcceptErrors, "accept")
		counter(sipErrors, st.ReadErrors, "read")
		counter(sipErrors, st.ListenerRestarts, "restart")
		counter(boundsHit, st.ConnsOverCap, "sip_max_connections")
		counter(boundsHit, st.ConnsOverSourceCap, "sip_max_connections_per_source")
		counter(boundsHit, st.SlowClosed, "sip_message_timeout")
		counter(boundsHit, st.IdleClosed, "sip_idle_timeout")
	}
}

// boundNames name the receiver's bounds after their [peer.accept] keys.
var boundNames = map[string]string{
	companion.RefusedTooManyPubs:   "max_publications",
	companion.RefusedTooManyKeys:   "max_keys",
	companion.RefusedTooManyEIDs:   "max_eids",
	companion.RefusedExpiresCapped: "max_expires",
}

type constHistogram struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// histogram converts a domain histogram; ok is false for an empty or
// malformed one.
func histogram(h companion.HistogramSnapshot) (constHistogram, bool) {
	if len(h.Bounds) == 0 || len(h.Bounds) != len(h.Cumulative) {
		return constHistogram{}, false
	}
	out := constHistogram{count: h.Count, sum: h.SumSeconds, buckets: make(map[float64]uint64, len(h.Bounds))}
	for i, b := range h.Bounds {
		out.buckets[b] = h.Cumulative[i]
	}
	return out, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
