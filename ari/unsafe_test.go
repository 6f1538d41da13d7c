package ari

import (
	"context"
	"errors"
	"testing"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

var unsafeBytes = []string{"\r\n", "\n", "\r", "\x00", "\x01", "\t", "\x1b", "\x1f", "\x7f"}

// checkUnsafe asserts that err is a refusal of a name with a control byte,
// whose text holds no control byte itself.
func checkUnsafe(t *testing.T, what string, err error) {
	t.Helper()
	var ue *UnsafeNameError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafeName) {
		t.Errorf("%s: %v, want an *UnsafeNameError", what, err)
		return
	}
	if errors.Is(err, companion.ErrUnsupported) {
		t.Errorf("%s: wraps ErrUnsupported, which would stop Apply for the whole kind", what)
	}
	msg := err.Error()
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < 0x20 || c == 0x7f {
			t.Errorf("%s: the error echoes byte 0x%02x raw: %q", what, c, msg)
			break
		}
	}
}

// Whatever goes into a URL path is refused, with no request sent, when it
// holds a control byte: escaped, Asterisk would decode it into the name.
func TestUnsafeNamesAreRefusedBeforeAnyRequest(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	ctx := context.Background()
	for _, b := range unsafeBytes {
		for _, st := range []companion.DeviceState{companion.InUse, companion.Unknown} {
			err := c.ApplyDevice(ctx, "Stasis:inj"+b+"x", st)
			checkUnsafe(t, "ApplyDevice", err)
			if !errors.Is(err, companion.ErrARIFailed) {
				t.Errorf("ApplyDevice: %v, want kind ErrARIFailed", err)
			}
		}
		for _, id := range []companion.MailboxID{{Box: "inj" + b, Context: "default"}, {Box: "100", Context: "d" + b}} {
			checkUnsafe(t, "ApplyMailbox", c.ApplyMailbox(ctx, id, 1, 2))
		}
		for _, key := range []provision.Key{
			{Class: "res_pjsip", Type: "endpoint", ID: "inj" + b},
			{Class: "res_pjsip", Type: "end" + b + "point", ID: "alice"},
			{Class: b + "res_pjsip", Type: "endpoint", ID: "alice"},
		} {
			_, err := c.Get(ctx, key)
			checkUnsafe(t, "Get", err)
			checkUnsafe(t, "Put", c.Put(ctx, key, []companion.SorceryField{{Name: "allow", Value: "ulaw"}}))
			checkUnsafe(t, "Delete", c.Delete(ctx, key))
			var se *provision.StoreError
			if _, err := c.Get(ctx, key); !errors.As(err, &se) {
				t.Errorf("Get: %v, want a *provision.StoreError", err)
			}
		}
	}
	if r := s.Requests(); len(r) != 0 {
		t.Fatalf("%d requests reached the server, the first %s %s", len(r), r[0].Method, r[0].URI)
	}

	// Names with everything else still go out, escaped.
	good := `Stasis:ünï/cødé:x@y,z|a;b=c#d*e%f"g'h`
	if err := c.ApplyDevice(ctx, good, companion.InUse); err != nil {
		t.Fatalf("ApplyDevice(%q) = %v", good, err)
	}
	if st, ok := s.DeviceState(good); !ok || st != "INUSE" {
		t.Errorf("%q: state %q %v", good, st, ok)
	}
	if r := s.Requests(); len(r) != 1 {
		t.Errorf("%d requests, want 1", len(r))
	}
}
