package provision

import (
	"context"
	"errors"
	"fmt"

	"github.com/astcompanion/sidecar/companion"
)

// Key names one sorcery object, as in the ARI URL
// /asterisk/config/dynamic/{Class}/{Type}/{ID}.
type Key struct {
	Class, Type, ID string
}

func (k Key) String() string { return k.Class + "/" + k.Type + "/" + k.ID }

// keyOf returns the object's key.
func keyOf(o companion.SorceryObject) Key {
	return Key{Class: o.Class, Type: o.Type, ID: o.ID}
}

// Store is Asterisk's sorcery as ARI exposes it; the ari adapter
// implements it. ARI cannot list dynamic objects, hence no List.
type Store interface {
	// Get returns every attribute Asterisk reports for the object, defaults
	// included, values as Asterisk renders them (passwords in clear: never
	// print them). A missing object is an error wrapping ErrNotFound.
	Get(ctx context.Context, key Key) ([]companion.SorceryField, error)
	// Put creates the object or merges fields onto the existing one. Every
	// field is sent with its value (a field without one crashes Asterisk
	// 22.10.1).
	Put(ctx context.Context, key Key, fields []companion.SorceryField) error
	// Delete removes the object; a missing one wraps ErrNotFound.
	Delete(ctx context.Context, key Key) error
}

// What went wrong with a Store call. A StoreError wraps exactly one of
// them or one of companion.ErrARIUnauthorized, companion.ErrARIUnreachable
// and companion.ErrARIFailed.
var (
	ErrNotFound    = errors.New("no such sorcery object")        // 404 "Object with id 'x' not found"
	ErrUnknownType = errors.New("unknown sorcery class or type") // 404 "configClass/objectType 'x' not found"
	ErrReadOnly    = errors.New("sorcery wizard is read-only")   // 403
	//lint:ignore ST1005 Asterisk is a proper noun
	ErrRejected = errors.New("Asterisk refused a field name or value") // 400
)

// StoreError is a failed Store call, with what Asterisk said.
type StoreError struct {
	Op      string // "GET", "PUT" or "DELETE"
	Key     Key
	Kind    error  // one of the Err* values above or a companion.ErrARI* one
	Status  int    // HTTP status; 0 when Asterisk did not answer
	Message string // Asterisk's own "message"; it names ids and types, never field values
	Where   string // the URL tried, without credentials
	Err     error  // the transport error when Status is 0
}

func (e *StoreError) Error() string {
	s := fmt.Sprintf("%s %s: %v", e.Op, e.Key, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (%d", e.Status)
		if e.Message != "" {
			s += fmt.Sprintf(" %q", e.Message)
		}
		s += ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is see both the kind and the transport cause.
func (e *StoreError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Retryable reports whether err is one that time alone may cure:
// ARI not answering (Asterisk down, restarting, unreachable) or answering
// 5xx (503 while Asterisk boots), or another run holding the state file's
// lock. A refused field, a read-only wizard or refused credentials need the
// file or Asterisk's configuration changed first.
func Retryable(err error) bool {
	if errors.Is(err, ErrBusy) {
		return true
	}
	var se *StoreError
	if !errors.As(err, &se) {
		return false
	}
	return errors.Is(se.Kind, companion.ErrARIUnreachable) || se.Status >= 500
}
