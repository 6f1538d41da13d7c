package config

import (
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

var fleetKeys = []string{"nats_urls", "bucket", "replicas", "presence_ttl",
	"creds_file", "nkey_seed_file", "username", "password", "password_env", "password_file",
	"tls_ca_file", "tls_cert_file", "tls_key_file", "publish", "accept"}

var fleetSwitchKeys = []string{"device_state", "mailbox_state", "device_state_filter", "mailbox_state_filter"}

// fleet reads [fleet].
func (l *loader) fleet(s *section) *companion.FleetConfig {
	s.checkKnown()
	f := &companion.FleetConfig{
		Bucket:      companion.DefaultFleetBucket,
		Replicas:    companion.DefaultFleetReplicas,
		PresenceTTL: companion.DefaultFleetPresenceTTL,
	}
	if s.require("nats_urls") {
		if urls, ok := s.strings("nats_urls"); ok {
			if len(urls) == 0 {
				s.errorf("nats_urls", "is empty: name at least one server of the NATS cluster")
			}
			for i, v := range urls {
				if err := checkNATSURL(v); err != "" {
					s.elemErrorf("nats_urls", i, "%s", err)
					continue
				}
				f.NATSURLs = append(f.NATSURLs, v)
			}
		}
	}
	if v, ok := s.str("bucket"); ok {
		if !validBucket(v) {
			s.errorf("bucket", "want letters, digits, - and _ only (a JetStream key-value bucket name)")
		} else {
			f.Bucket = v
		}
	}
	if n, ok := s.integer("replicas"); ok {
		if n < 1 || n > 5 {
			s.errorf("replicas", "want 1 to 5 (JetStream's limit)")
		} else {
			f.Replicas = int(n)
		}
	}
	if d, ok := s.duration("presence_ttl"); ok {
		if d < time.Second || d%time.Second != 0 {
			s.errorf("presence_ttl", "want whole seconds, at least \"1s\" (JetStream per-message TTLs count in seconds)")
		} else {
			f.PresenceTTL = d
			if d < 5*time.Second {
				s.warnf("presence_ttl", "%s is shorter than a JetStream leader election takes when a server fails: members may be cleared during one (10s or more is safer)", d)
			}
		}
	}

	var methods []string
	if s.has("creds_file") {
		f.CredsFile = l.fleetFile(s, "creds_file", true)
		methods = append(methods, "creds_file")
	}
	if s.has("nkey_seed_file") {
		f.NKeySeedFile = l.fleetFile(s, "nkey_seed_file", true)
		methods = append(methods, "nkey_seed_file")
	}
	f.Username, f.Password = s.credentials("username", "password", false)
	if s.has("username") {
		methods = append(methods, "username")
	}
	if len(methods) > 1 {
		s.errorf(methods[1], "choose one way to authenticate: %s", strings.Join(methods, ", "))
	}

	if s.has("tls_ca_file") {
		f.TLSCAFile = l.fleetFile(s, "tls_ca_file", false)
	}
	if s.has("tls_cert_file") {
		f.TLSCertFile = l.fleetFile(s, "tls_cert_file", false)
	}
	if s.has("tls_key_file") {
		f.TLSKeyFile = l.fleetFile(s, "tls_key_file", true)
	}
	switch {
	case s.has("tls_cert_file") && !s.has("tls_key_file"):
		s.errorf("tls_cert_file", "needs tls_key_file")
	case s.has("tls_key_file") && !s.has("tls_cert_file"):
		s.errorf("tls_key_file", "needs tls_cert_file")
	}

	if p := s.table("publish", fleetSwitchKeys...); p != nil {
		f.Publish = l.fleetSwitches(p)
	}
	if a := s.table("accept", fleetSwitchKeys...); a != nil {
		f.Accept = l.fleetSwitches(a)
	}
	if !f.Publish.DeviceState && !f.Publish.MailboxState {
		s.warnf("publish", "this node puts nothing into the fleet: set [fleet.publish] device_state = true and/or mailbox_state = true (both default to false)")
	}
	if !f.Accept.DeviceState && !f.Accept.MailboxState {
		s.warnf("accept", "this node applies nothing from the fleet: set [fleet.accept] device_state = true and/or mailbox_state = true (both default to false)")
	}
	return f
}

// fleetSwitches reads [fleet.publish] or [fleet.accept].
func (l *loader) fleetSwitches(s *section) companion.FleetSwitches {
	s.checkKnown()
	var w companion.FleetSwitches
	w.DeviceState, _ = s.boolean("device_state")
	w.MailboxState, _ = s.boolean("mailbox_state")
	w.DeviceStateFilter = s.filter("device_state_filter")
	w.MailboxStateFilter = s.filter("mailbox_state_filter")
	warnIdleFilter(s, w.DeviceState, "device_state")
	warnIdleFilter(s, w.MailboxState, "mailbox_state")
	return w
}

// fleetFile reads the path at k, resolved against the file's folder, and
// checks that it can be read; secret files readable by every user are
// warned about.
func (l *loader) fleetFile(s *section, k string, secret bool) string {
	v, ok := s.str(k)
	if !ok {
		return ""
	}
	if v == "" {
		s.errorf(k, "names no file")
		return ""
	}
	path := l.resolve(v)
	if err := checkReadable(path); err != nil {
		s.errorf(k, "cannot read %s: %s", path, reason(err))
		return path
	}
	if fi, err := os.Stat(path); secret && err == nil && fi.Mode().Perm()&0o004 != 0 {
		s.warnf(k, "file %s is readable by every user of this host (chmod o-r)", path)
	}
	return path
}

// checkNATSURL returns why v is not a usable server URL, "" when it is.
// Credentials in the URL are refused: URLs are logged and shown by
// check-config.
func checkNATSURL(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "":
		return "want a URL such as \"nats://10.0.0.1:4222\" or \"tls://nats.example.net:4222\""
	case u.Scheme != "nats" && u.Scheme != "tls":
		return "scheme must be nats:// or tls://"
	case u.User != nil:
		return "holds credentials: set username and password (or creds_file, nkey_seed_file) instead; the URL itself is not repeated here"
	case u.Path != "" && u.Path != "/", u.RawQuery != "":
		return "want scheme://host:port only"
	}
	return ""
}

func validBucket(v string) bool {
	if v == "" {
		return false
	}
	for _, c := range v {
		switch {
		case c == '-', c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}
