package provision

import (
	"context"
	"testing"

	"github.com/astcompanion/sidecar/companion/internal/background"
)

// runInBackground runs run until the returned stop; see background.Run.
func runInBackground(t *testing.T, what string, run func(context.Context)) (stop func()) {
	t.Helper()
	return background.Run(t, what, run)
}
