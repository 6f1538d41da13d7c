package companion

import (
	"context"
	"errors"
	"fmt"
)

// SorceryKey names one sorcery object, as in the ARI URL
// /asterisk/config/dynamic/{Class}/{Type}/{ID}.
type SorceryKey struct {
	Class, Type, ID string
}

func (k SorceryKey) String() string { return k.Class + "/" + k.Type + "/" + k.ID }

// Key returns the object's key.
func (o SorceryObject) Key() SorceryKey { return SorceryKey{Class: o.Class, Type: o.Type, ID: o.ID} }

// SorceryStore is Asterisk's sorcery as ARI exposes it; the ari adapter
// implements it. ARI cannot list dynamic objects, hence no List.
type SorceryStore interface {
	// Get returns every attribute Asterisk reports for the object, defaults
	// included, values as Asterisk renders them (passwords in clear: never
	// print them). A missing object is an error wrapping ErrSorceryNotFound.
	Get(ctx context.Context, key SorceryKey) ([]SorceryField, error)
	// Put creates the object or merges fields onto the existing one. Every
	// field is sent with its value (a field without one crashes Asterisk
	// 22.10.1).
	Put(ctx context.Context, key SorceryKey, fields []SorceryField) error
	// Delete removes the object; a missing one wraps ErrSorceryNotFound.
	Delete(ctx context.Context, key SorceryKey) error
}

// What went wrong with a SorceryStore call. A SorceryError wraps exactly
// one of them.
var (
	ErrSorceryNotFound    = errors.New("no such sorcery object")        // 404 "Object with id 'x' not found"
	ErrSorceryUnknownType = errors.New("unknown sorcery class or type") // 404 "configClass/objectType 'x' not found"
	ErrSorceryReadOnly    = errors.New("sorcery wizard is read-only")   // 403
	//lint:ignore ST1005 Asterisk is a proper noun
	ErrSorceryRejected = errors.New("Asterisk refused a field name or value") // 400
	ErrARIUnauthorized = errors.New("ARI refused the credentials")            // 401
	ErrARIUnreachable  = errors.New("no answer from ARI")                     // refused, timed out, reset
	ErrARIFailed       = errors.New("ARI answered with an error")             // anything else
)

// SorceryError is a failed SorceryStore call, with what Asterisk said.
type SorceryError struct {
	Op      string // "GET", "PUT" or "DELETE"
	Key     SorceryKey
	Kind    error  // one of the Err* values above
	Status  int    // HTTP status; 0 when Asterisk did not answer
	Message string // Asterisk's own "message"; it names ids and types, never field values
	Where   string // the URL tried, without credentials
	Err     error  // the transport error when Status is 0
}

func (e *SorceryError) Error() string {
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
func (e *SorceryError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// ProvisionRetryable reports whether err is one that time alone may cure:
// ARI not answering (Asterisk down, restarting, unreachable) or answering
// 5xx (503 while Asterisk boots), or another run holding the state file's
// lock. A refused field, a read-only wizard or refused credentials need the
// file or Asterisk's configuration changed first.
func ProvisionRetryable(err error) bool {
	if errors.Is(err, ErrProvisionBusy) {
		return true
	}
	var se *SorceryError
	if !errors.As(err, &se) {
		return false
	}
	return errors.Is(se.Kind, ErrARIUnreachable) || se.Status >= 500
}
