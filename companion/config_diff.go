package companion

import "slices"

// ConfigDiff is what differs between the running configuration and a file
// read again (SIGHUP). It names settings, never their values: a changed
// password shows as "publish.password".
type ConfigDiff struct {
	Added   []string     // peers new in the file, in file order
	Removed []string     // peers gone from the file, in the running order
	Changed []PeerChange // peers in both whose settings differ, in file order
	// Restart lists the settings that differ but cannot change in a
	// running process (the EID, the SIP listeners, [ami], [ari], [apply],
	// state_dir): the running values stay until the next start.
	Restart []string
}

// PeerChange is one peer kept across a reload whose settings differ.
type PeerChange struct {
	Name   string
	Fields []string // dotted keys under [[peer]], e.g. "publish.server_uri"
}

// IsZero reports whether nothing differs.
func (d ConfigDiff) IsZero() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changed)+len(d.Restart) == 0
}

// DiffConfig compares the running configuration with next.
func DiffConfig(running, next *Config) ConfigDiff {
	var d ConfigDiff
	for i := range next.Peers {
		p := &next.Peers[i]
		old := running.Peer(p.Name)
		if old == nil {
			d.Added = append(d.Added, p.Name)
			continue
		}
		if fields := peerFieldsChanged(old, p); len(fields) > 0 {
			d.Changed = append(d.Changed, PeerChange{Name: p.Name, Fields: fields})
		}
	}
	for i := range running.Peers {
		if next.Peer(running.Peers[i].Name) == nil {
			d.Removed = append(d.Removed, running.Peers[i].Name)
		}
	}
	d.Restart = restartFieldsChanged(running, next)
	return d
}

// ReloadedConfig is the configuration a process runs after a reload from
// running to next: next's peers and [[sorcery]] objects, running's
// everything else (what DiffConfig lists under Restart).
func ReloadedConfig(running, next *Config) *Config {
	c := *next
	c.Node, c.AMI, c.ARI, c.Apply = running.Node, running.AMI, running.ARI, running.Apply
	// The fleet link is built at start; it follows the file at the next.
	c.Fleet = running.Fleet
	return &c
}

// fieldDiff collects the names of the fields that differ.
type fieldDiff []string

func (f *fieldDiff) check(name string, same bool) {
	if !same {
		*f = append(*f, name)
	}
}

func peerFieldsChanged(a, b *PeerConfig) []string {
	var f fieldDiff
	switch pa, pb := a.Publish, b.Publish; {
	case pa == nil && pb == nil:
	case pa == nil || pb == nil:
		f.check("publish", false)
	default:
		f.check("publish.server_uri", pa.ServerURI == pb.ServerURI)
		f.check("publish.from_uri", pa.FromURI == pb.FromURI)
		f.check("publish.to_uri", pa.ToURI == pb.ToURI)
		f.check("publish.device_state", pa.DeviceState == pb.DeviceState)
		f.check("publish.mailbox_state", pa.MailboxState == pb.MailboxState)
		f.check("publish.device_state_filter", sameFilter(pa.DeviceStateFilter, pb.DeviceStateFilter))
		f.check("publish.mailbox_state_filter", sameFilter(pa.MailboxStateFilter, pb.MailboxStateFilter))
		f.check("publish.expiration", pa.Expiration == pb.Expiration)
		f.check("publish.username", pa.Username == pb.Username)
		f.check("publish.password", sameSecret(pa.Password, pb.Password))
		f.check("publish.resend_interval", pa.Resend() == pb.Resend())
		f.check("publish.max_in_flight", pa.InFlight() == pb.InFlight())
	}
	switch aa, ab := a.Accept, b.Accept; {
	case aa == nil && ab == nil:
	case aa == nil || ab == nil:
		f.check("accept", false)
	default:
		f.check("accept.resource", aa.Resource == ab.Resource)
		f.check("accept.match", slices.Equal(aa.Match, ab.Match))
		f.check("accept.username", aa.Username == ab.Username)
		f.check("accept.password", sameSecret(aa.Password, ab.Password))
		f.check("accept.device_state", aa.DeviceState == ab.DeviceState)
		f.check("accept.mailbox_state", aa.MailboxState == ab.MailboxState)
		f.check("accept.device_state_filter", sameFilter(aa.DeviceStateFilter, ab.DeviceStateFilter))
		f.check("accept.mailbox_state_filter", sameFilter(aa.MailboxStateFilter, ab.MailboxStateFilter))
		f.check("accept.refresh", aa.Refresh == ab.Refresh)
		f.check("accept.eids", slices.Equal(aa.EIDs, ab.EIDs))
		pa, ka, ea, xa := aa.Limits()
		pb, kb, eb, xb := ab.Limits()
		f.check("accept.max_publications", pa == pb)
		f.check("accept.max_keys", ka == kb)
		f.check("accept.max_eids", ea == eb)
		f.check("accept.max_expires", xa == xb)
	}
	fa, na, ta := a.Qualify()
	fb, nb, tb := b.Qualify()
	f.check("accept.qualify", fa == fb && na == nb && ta == tb)
	return f
}

func restartFieldsChanged(a, b *Config) []string {
	var f fieldDiff
	na, nb := a.Node, b.Node
	f.check("companion.name", na.Name == nb.Name)
	f.check("companion.eid", na.EID == nb.EID)
	f.check("companion.sip_listen", slices.Equal(na.SIPListen, nb.SIPListen))
	f.check("companion.tls_cert_file", na.TLSCertFile == nb.TLSCertFile)
	f.check("companion.tls_key_file", na.TLSKeyFile == nb.TLSKeyFile)
	f.check("companion.tls_ca_file", na.TLSCAFile == nb.TLSCAFile)
	f.check("companion.state_dir", na.StateDir == nb.StateDir)
	f.check("companion.sip_max_connections", na.SIPMaxConnections == nb.SIPMaxConnections)
	f.check("companion.sip_max_connections_per_source", na.SIPMaxConnectionsPerSource == nb.SIPMaxConnectionsPerSource)
	f.check("companion.sip_message_timeout", na.SIPMessageTimeout == nb.SIPMessageTimeout)
	f.check("companion.sip_idle_timeout", na.SIPIdleTimeout == nb.SIPIdleTimeout)
	f.check("companion.http_listen", na.HTTPListen == nb.HTTPListen)
	f.check("fleet", sameFleet(a.Fleet, b.Fleet))

	switch aa, ab := a.AMI, b.AMI; {
	case aa == nil && ab == nil:
	case aa == nil || ab == nil:
		f.check("ami", false)
	default:
		f.check("ami.address", aa.Address == ab.Address)
		f.check("ami.username", aa.Username == ab.Username)
		f.check("ami.secret", sameSecret(aa.Secret, ab.Secret))
		f.check("ami.reconnect_interval", aa.ReconnectInterval == ab.ReconnectInterval)
		f.check("ami.action_timeout", aa.ActionTimeout == ab.ActionTimeout)
	}
	switch ra, rb := a.ARI, b.ARI; {
	case ra == nil && rb == nil:
	case ra == nil || rb == nil:
		f.check("ari", false)
	default:
		f.check("ari.url", ra.URL == rb.URL)
		f.check("ari.username", ra.Username == rb.Username)
		f.check("ari.password", sameSecret(ra.Password, rb.Password))
		f.check("ari.timeout", ra.Timeout == rb.Timeout)
		f.check("ari.state_file", ra.StateFile == rb.StateFile)
	}
	pa, pb := a.Apply, b.Apply
	f.check("apply.device_state", pa.DeviceState == pb.DeviceState)
	f.check("apply.device_name", pa.DeviceName == pb.DeviceName)
	f.check("apply.mailbox_state", pa.MailboxState == pb.MailboxState)
	f.check("apply.device_clear_state", pa.ClearDeviceState == pb.ClearDeviceState)
	f.check("apply.ledger_file", pa.LedgerFile == pb.LedgerFile)
	return f
}

func sameFilter(a, b Filter) bool { return a.String() == b.String() }

// sameFleet reports whether two [fleet] sections are the same, the
// password compared by value and the filters by their source.
func sameFleet(a, b *FleetConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	sw := func(x, y FleetSwitches) bool {
		return x.DeviceState == y.DeviceState && x.MailboxState == y.MailboxState &&
			sameFilter(x.DeviceStateFilter, y.DeviceStateFilter) && sameFilter(x.MailboxStateFilter, y.MailboxStateFilter)
	}
	return slices.Equal(a.NATSURLs, b.NATSURLs) && a.Bucket == b.Bucket && a.Replicas == b.Replicas &&
		a.PresenceTTL == b.PresenceTTL && a.CredsFile == b.CredsFile && a.NKeySeedFile == b.NKeySeedFile &&
		a.Username == b.Username && sameSecret(a.Password, b.Password) && a.TLSCAFile == b.TLSCAFile &&
		a.TLSCertFile == b.TLSCertFile && a.TLSKeyFile == b.TLSKeyFile && sw(a.Publish, b.Publish) && sw(a.Accept, b.Accept)
}

func sameSecret(a, b Secret) bool { return a.Reveal() == b.Reveal() }

// samePublication reports whether a publisher built for a could go on for
// b: same target, identity, credentials and timing. Only the switches and
// filters may differ.
func samePublication(a, b *PublishConfig) bool {
	return a.ServerURI == b.ServerURI && a.FromURI == b.FromURI && a.ToURI == b.ToURI &&
		a.Username == b.Username && sameSecret(a.Password, b.Password) &&
		a.Expiration == b.Expiration && a.Resend() == b.Resend() && a.InFlight() == b.InFlight()
}

// publishes reports whether p publishes event ev, and through which
// filter.
func publishes(p *PeerConfig, ev Event) (Filter, bool) {
	if p == nil || p.Publish == nil {
		return Filter{}, false
	}
	if ev == EventMWI {
		return p.Publish.MailboxStateFilter, p.Publish.MailboxState
	}
	return p.Publish.DeviceStateFilter, p.Publish.DeviceState
}

// accepts reports whether acc takes the state of k.
func accepts(acc *AcceptConfig, k Key) bool {
	if acc == nil {
		return false
	}
	if k.Kind == KindMailbox {
		return acc.MailboxState && acc.MailboxStateFilter.Match(k.Name)
	}
	return acc.DeviceState && acc.DeviceStateFilter.Match(k.Name)
}

// acceptWidened reports whether b may accept states a dropped: a switch
// turned on, or a filter other than match-everything changed. A filter
// set where there was none only narrows.
func acceptWidened(a, b *AcceptConfig) bool {
	if a == nil {
		return b != nil
	}
	if b == nil {
		return false
	}
	widened := func(onA, onB bool, fa, fb Filter) bool {
		return onB && (!onA || (!fa.IsZero() && !sameFilter(fa, fb)))
	}
	return widened(a.DeviceState, b.DeviceState, a.DeviceStateFilter, b.DeviceStateFilter) ||
		widened(a.MailboxState, b.MailboxState, a.MailboxStateFilter, b.MailboxStateFilter)
}
