package ami

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ivahaev/amigo"

	"github.com/astcompanion/sidecar/companion"
)

// settings turns the [ami] section into amigo's settings.
func settings(cfg companion.AMIConfig) (*amigo.Settings, error) {
	host, port, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("ami: address %q: %v", cfg.Address, err)
	}
	// amigo silently logs in as admin/amp111 when either is empty.
	if cfg.Username == "" || cfg.Secret.IsZero() {
		return nil, errors.New("ami: username and secret are required")
	}
	// amigo writes the Login action itself, outside do: its two values
	// follow checkAction's rule. The secret is never quoted.
	if i := badHeaderValue(cfg.Username); i >= 0 {
		return nil, &UnsafeHeaderError{Action: "Login", Header: "Username", Offset: i, Value: cfg.Username}
	}
	if badHeaderValue(cfg.Secret.Reveal()) >= 0 {
		return nil, fmt.Errorf("%w: the [ami] secret holds a control byte (CR, LF, NUL, below 0x20 but TAB, or DEL)", ErrUnsafeHeader)
	}
	// amigo joins host and port with a bare ':' (no net.JoinHostPort), so
	// an IPv6 host must carry its brackets.
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	reconnect := orDefault(cfg.ReconnectInterval, companion.DefaultAMIReconnectInterval)
	timeout := orDefault(cfg.ActionTimeout, companion.DefaultAMIActionTimeout)
	return &amigo.Settings{
		Username:          cfg.Username,
		Password:          cfg.Secret.Reveal(),
		Host:              host,
		Port:              port,
		ActionTimeout:     timeout,
		DialTimeout:       timeout, // amigo's 10 s default would hold off every retry
		ReconnectInterval: reconnect,
		// amigo's Ping every 5 s, answered within 3 s, is the only way to
		// notice a connection that went silent: nothing else can make it
		// drop one.
		Keepalive: true,
	}, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
