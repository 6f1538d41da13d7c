package companion

// ParseConfig reads a TOML configuration for the exchange and receiver
// tests. The loader lives in companion/config, which imports this package,
// so these tests cannot import it: the external test package sets this
// (parseconfig_ext_test.go) before any test runs.
var ParseConfig func(file string, data []byte) (*Config, error)
