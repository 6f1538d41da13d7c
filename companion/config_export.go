package companion

// The configuration loader (companion/config) fills the types of config.go
// with these. They forward to config.go's own helpers, which other work in
// progress is editing; fold them into config.go once that has landed.

// ParseHostPort reads host[:port] where the port is optional, and checks the
// host: an IPv4 address, a bracketed IPv6 address or a host name. It returns
// port 0 when absent. Error messages do not repeat the input.
func ParseHostPort(hp string) (host string, port int, err error) { return splitHostPort(hp) }

// ValidURIUser checks the user part of a SIP URI against RFC 3261
// (unreserved, user-unreserved and %HH escapes).
func ValidURIUser(s string) bool { return validURIUser(s) }

// SecretSorceryField returns a field whose value was read from the
// environment or a file ({ env = ... } or { file = ... }): Sensitive
// whatever its name.
func SecretSorceryField(name, value string) SorceryField {
	return SorceryField{Name: name, Value: value, secret: true}
}
