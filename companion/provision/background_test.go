package provision

import (
	"context"
	"testing"
	"time"
)

// runInBackground runs run on a goroutine of its own until the returned
// stop cancels its context; stop fails the test when run has not returned
// within 5 s.
func runInBackground(t *testing.T, what string, run func(context.Context)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { run(ctx); close(done) }()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal(what + " did not stop")
		}
	}
}
