// Package config loads the companion's TOML file into a companion.Config:
// Load reads a file, Parse validates its bytes. Every problem is reported
// as a companion.ConfigError, FILE:LINE: KEY: message, without repeating
// secrets.
//
// It is the only package that imports github.com/BurntSushi/toml; besides
// the standard library it imports only companion/, where the configuration
// types live. cmd/ calls it; companion/provision pushes the [[sorcery]]
// objects it reads.
package config
