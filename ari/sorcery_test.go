package ari

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

func newClient(t *testing.T, s *aritest.Server) *Client {
	t.Helper()
	c, err := New(s.ARIConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var aliceAuth = provision.Key{Class: "res_pjsip", Type: "auth", ID: "alice"}

func field(fields []companion.SorceryField, name string) (string, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

func sorceryErr(t *testing.T, err error, kind error) *provision.StoreError {
	t.Helper()
	var se *provision.StoreError
	if !errors.As(err, &se) || !errors.Is(err, kind) {
		t.Fatalf("error %v, want a provision.StoreError of kind %v", err, kind)
	}
	return se
}

func TestSorceryPutGetDelete(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	ctx := context.Background()

	_, err := c.Get(ctx, aliceAuth)
	se := sorceryErr(t, err, provision.ErrNotFound)
	if se.Status != 404 || se.Message != "Object with id 'alice' not found" {
		t.Errorf("status %d message %q: Asterisk's answer lost", se.Status, se.Message)
	}

	err = c.Put(ctx, aliceAuth, []companion.SorceryField{
		{Name: "auth_type", Value: "userpass"}, {Name: "username", Value: "alice"},
		{Name: "password", Value: "alicepw"}, {Name: "realm", Value: ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, aliceAuth)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := field(got, "username"); v != "alice" {
		t.Errorf("username %q", v)
	}
	if v, _ := field(got, "nonce_lifetime"); v != "32" {
		t.Errorf("default nonce_lifetime %q: defaults not read", v)
	}

	// Every field went out with a value, the empty one included: a field
	// without one crashes Asterisk 22.10.1.
	reqs := s.Requests()
	var body struct {
		Fields []map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(reqs[1].Body, &body); err != nil {
		t.Fatalf("PUT body %s: %v", reqs[1].Body, err)
	}
	for _, f := range body.Fields {
		if _, ok := f["value"].(string); !ok {
			t.Errorf("field %v sent without a value", f)
		}
	}
	if len(body.Fields) != 4 || s.Crashed() {
		t.Errorf("sent %v", body.Fields)
	}

	if err := c.Delete(ctx, aliceAuth); err != nil {
		t.Fatal(err)
	}
	sorceryErr(t, c.Delete(ctx, aliceAuth), provision.ErrNotFound)
}

func TestSorceryErrorsKeepAsteriskMessage(t *testing.T) {
	s := aritest.New(t)
	s.StaticOnly("res_pjsip", "endpoint")
	s.AddConfigObject("res_pjsip", "aor", "static100", map[string]string{"max_contacts": "1"})
	c := newClient(t, s)
	ctx := context.Background()
	ep := provision.Key{Class: "res_pjsip", Type: "endpoint", ID: "alice"}

	se := sorceryErr(t, c.Put(ctx, ep, []companion.SorceryField{{Name: "allow", Value: "ulaw"}}), provision.ErrReadOnly)
	if se.Message != "Cannot create sorcery objects of type 'endpoint'" {
		t.Errorf("message %q", se.Message)
	}
	static := provision.Key{Class: "res_pjsip", Type: "aor", ID: "static100"}
	se = sorceryErr(t, c.Put(ctx, static, []companion.SorceryField{{Name: "max_contacts", Value: "2"}}), provision.ErrReadOnly)
	if se.Message != "Cannot update sorcery objects of type 'aor'" {
		t.Errorf("message %q", se.Message)
	}
	sorceryErr(t, c.Delete(ctx, static), provision.ErrReadOnly)

	aor := provision.Key{Class: "res_pjsip", Type: "aor", ID: "bad"}
	se = sorceryErr(t, c.Put(ctx, aor, []companion.SorceryField{{Name: "max_contacts", Value: "notanumber"}}), provision.ErrRejected)
	if se.Status != 400 || !strings.Contains(se.Message, "failed field value validation") {
		t.Errorf("status %d message %q", se.Status, se.Message)
	}
	_, err := c.Get(ctx, provision.Key{Class: "res_pjsip", Type: "nosuchtype", ID: "x"})
	sorceryErr(t, err, provision.ErrUnknownType)
	_, err = c.Get(ctx, provision.Key{Class: "res_nosuch", Type: "endpoint", ID: "x"})
	sorceryErr(t, err, provision.ErrUnknownType)
}

func TestSorceryUnauthorized(t *testing.T) {
	s := aritest.New(t)
	cfg := s.ARIConfig(t)
	cfg.Password = companion.NewSecret("wrong-pw-x7", "inline")
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), aliceAuth)
	se := sorceryErr(t, err, companion.ErrARIUnauthorized)
	if se.Status != 401 || strings.Contains(err.Error(), "wrong-pw-x7") {
		t.Errorf("error %v", err)
	}
}

func TestSorceryUnreachableSaysWhere(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	cfg := &companion.ARIConfig{URL: "http://" + addr + "/ari", Username: "u", Password: companion.NewSecret("p", "inline"), Timeout: companion.DefaultARITimeout}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), aliceAuth)
	se := sorceryErr(t, err, companion.ErrARIUnreachable)
	if !strings.Contains(se.Where, addr) || se.Err == nil || !strings.Contains(se.Err.Error(), "refused") {
		t.Errorf("where %q cause %v", se.Where, se.Err)
	}
}

// ari/v6 joins the key with '/' and splits it again: an id with '/' would
// address another object. No request may go out for one.
func TestSorceryRejectsUnsafeKeys(t *testing.T) {
	s := aritest.New(t)
	c := newClient(t, s)
	for _, id := range []string{"a/b", "a b", "a%2Fb", "", "a?b", "a:b"} {
		k := provision.Key{Class: "res_pjsip", Type: "endpoint", ID: id}
		if _, err := c.Get(context.Background(), k); err == nil {
			t.Errorf("id %q accepted", id)
		}
		if err := c.Put(context.Background(), k, nil); err == nil {
			t.Errorf("id %q accepted", id)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}
