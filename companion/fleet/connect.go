package fleet

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/astcompanion/sidecar/companion"
)

// natsOptions are the connection options of cfg: identity, auth, TLS and
// endless reconnects. Secrets go straight into nats.go, never into an
// error or a log.
func natsOptions(cfg *companion.FleetConfig, self companion.EntityID, timeout time.Duration) ([]nats.Option, error) {
	o := []nats.Option{
		nats.Name("asterisk-companion " + self.String()),
		nats.Timeout(timeout),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
	}
	switch {
	case cfg.CredsFile != "":
		o = append(o, nats.UserCredentials(cfg.CredsFile))
	case cfg.NKeySeedFile != "":
		opt, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, errSeed{cfg.NKeySeedFile}
		}
		o = append(o, opt)
	case cfg.Username != "":
		o = append(o, nats.UserInfo(cfg.Username, cfg.Password.Reveal()))
	}
	if cfg.TLSCAFile != "" {
		o = append(o, nats.RootCAs(cfg.TLSCAFile))
	}
	if cfg.TLSCertFile != "" {
		o = append(o, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	return o, nil
}

// errSeed names the seed file but not what nats.go read from it.
type errSeed struct{ file string }

func (e errSeed) Error() string {
	return "fleet: nkey_seed_file " + e.file + " holds no usable nkey seed"
}

func joinURLs(urls []string) string { return strings.Join(urls, ",") }
