package companion

import (
	"fmt"
	"log/slog"
)

// SecretMask is what every printing path shows instead of a secret.
const SecretMask = "******"

// Secret holds a password or AMI secret. Every way of printing it (fmt verbs,
// %#v, encoding.TextMarshaler, hence JSON, and slog) yields SecretMask, so a
// config dumped into a log cannot leak it; Reveal is the one way to read it.
//
// The value sits behind a pointer: when fmt meets a bad verb (say %s on a
// struct holding a *AMIConfig) it prints nested values without calling
// their methods, but it never follows a nested pointer.
type Secret struct {
	v *secretValue
}

type secretValue struct{ value, source string }

// NewSecret wraps value; source says where it came from ("inline",
// "env NAME", "file PATH") for summaries.
func NewSecret(value, source string) Secret {
	if value == "" {
		return Secret{}
	}
	return Secret{v: &secretValue{value: value, source: source}}
}

// Reveal returns the secret itself. Call it only where the value goes on
// the wire.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return s.v.value
}

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.v == nil }

// Source says where the secret was read from, never what it is.
func (s Secret) Source() string {
	if s.v == nil {
		return ""
	}
	return s.v.source
}

// String returns the mask, or "" when no secret is set (an absent secret
// has nothing to hide and "" tells the reader it is unset).
func (s Secret) String() string {
	if s.IsZero() {
		return ""
	}
	return SecretMask
}

// GoString keeps %#v masked too.
func (s Secret) GoString() string { return fmt.Sprintf("companion.Secret(%q)", s.String()) }

// Format handles every verb, so %x or %q cannot reach the value either.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = f.Write([]byte(s.GoString()))
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", s.String())
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// MarshalText masks the secret in JSON, TOML and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue masks the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
