package main

import (
	"os"
	"testing"
)

// TestMain removes the state folders the companions of the tests used.
func TestMain(m *testing.M) {
	code := m.Run()
	removeScratchState()
	os.Exit(code)
}
