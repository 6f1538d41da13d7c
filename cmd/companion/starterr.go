package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/astcompanion/sidecar/companion"
)

// errStartInterrupted is newNode's error when a signal ended the start.
var errStartInterrupted = errors.New("stopped while starting")

// eidError explains why eid = "auto" could not be resolved, with the fix
// that fits the cause: refused credentials need [ari] fixed (an explicit
// eid would only hide that provisioning and ARI apply fail too), a signal
// is no failure at all, anything else may be worked around with an
// explicit eid.
func eidError(ctx context.Context, file string, err error) error {
	switch {
	case ctx.Err() != nil:
		return errStartInterrupted
	case errors.Is(err, companion.ErrARIUnauthorized):
		return fmt.Errorf("%s: eid = \"auto\": ARI refused the credentials (401) for GET /asterisk/info: %w; "+
			"fix [ari] username/password (password, password_env or password_file) to match an ari.conf user; not starting", file, err)
	}
	return fmt.Errorf("%s: eid = \"auto\": could not read the Entity ID from Asterisk (GET /asterisk/info): %w; "+
		"set eid explicitly in [companion] (Asterisk's 'core show settings' prints it as Entity ID)", file, err)
}
