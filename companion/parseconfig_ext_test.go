package companion_test

import (
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
)

// The loader for the tests of package companion (parseconfig_test.go).
func init() { companion.ParseConfig = config.Parse }
