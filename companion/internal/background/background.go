// Package background runs a loop for a test and stops it: shared by the
// tests of companion and companion/provision, which both drive loops that
// run until their context ends.
package background

import (
	"context"
	"testing"
	"time"
)

// Run runs run on a goroutine of its own until the returned stop cancels
// its context; stop fails the test when run has not returned within 5 s.
func Run(t testing.TB, what string, run func(context.Context)) (stop func()) {
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
