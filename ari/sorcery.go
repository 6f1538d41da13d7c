package ari

import (
	"context"
	"errors"
	"net/http"
	"strings"

	ariv6 "github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

// Get reads a sorcery object: GET /asterisk/config/dynamic/{class}/{type}/{id}.
// The values are Asterisk's, passwords in clear: callers must mask them.
func (c *Client) Get(ctx context.Context, key provision.Key) ([]companion.SorceryField, error) {
	if err := checkKey(key); err != nil {
		return nil, c.keyError("GET", key, err)
	}
	var data *ariv6.ConfigData
	x, err := c.call(ctx, func(lib *native.Client) error {
		var e error
		data, e = lib.Asterisk().Config().Data(configKey(key))
		return e
	})
	if e := c.sorceryError("GET", key, x, err); e != nil {
		return nil, e
	}
	fields := make([]companion.SorceryField, len(data.Fields))
	for i, t := range data.Fields {
		fields[i] = companion.SorceryField{Name: t.Attribute, Value: t.Value}
	}
	return fields, nil
}

// Put creates the object or merges fields onto it:
// PUT /asterisk/config/dynamic/... with {"fields":[{"attribute","value"}]}.
// ari/v6's ConfigTuple always carries "value" (a field without one crashes
// Asterisk 22.10.1). The answer is discarded by the library: read back with
// Get.
func (c *Client) Put(ctx context.Context, key provision.Key, fields []companion.SorceryField) error {
	if err := checkKey(key); err != nil {
		return c.keyError("PUT", key, err)
	}
	tuples := make([]ariv6.ConfigTuple, len(fields))
	for i, f := range fields {
		if f.Name == "" {
			return c.keyError("PUT", key, errors.New("a field without a name"))
		}
		tuples[i] = ariv6.ConfigTuple{Attribute: f.Name, Value: f.Value}
	}
	x, err := c.call(ctx, func(lib *native.Client) error {
		return lib.Asterisk().Config().Update(configKey(key), tuples)
	})
	return c.sorceryError("PUT", key, x, err)
}

// Delete removes the object: DELETE /asterisk/config/dynamic/....
func (c *Client) Delete(ctx context.Context, key provision.Key) error {
	if err := checkKey(key); err != nil {
		return c.keyError("DELETE", key, err)
	}
	x, err := c.call(ctx, func(lib *native.Client) error {
		return lib.Asterisk().Config().Delete(configKey(key))
	})
	return c.sorceryError("DELETE", key, x, err)
}

func configKey(k provision.Key) *ariv6.Key {
	return ariv6.NewKey("config", ariv6.ConfigID(k.Class, k.Type, k.ID))
}

// checkKey: ari/v6 joins and splits the key on '/' and escapes nothing.
func checkKey(k provision.Key) error {
	for _, p := range [][2]string{{"class", k.Class}, {"type", k.Type}, {"id", k.ID}} {
		if err := checkSegment("sorcery "+p[0], p[1]); err != nil {
			return err
		}
	}
	return nil
}

// keyError is a key refused before sending. StoreError prints its Key
// as is, so a key with a control byte is given percent-encoded there; the
// *UnsafeNameError in Err keeps the part at fault as given.
func (c *Client) keyError(op string, key provision.Key, err error) error {
	var ue *UnsafeNameError
	if errors.As(err, &ue) {
		key = provision.Key{Class: escapeSegment(key.Class), Type: escapeSegment(key.Type), ID: escapeSegment(key.ID)}
	}
	return &provision.StoreError{Op: op, Key: key, Kind: companion.ErrARIFailed, Where: c.url, Err: err}
}

// sorceryError maps the answer to a *provision.StoreError, from the
// captured status and Asterisk's message (the library keeps neither).
func (c *Client) sorceryError(op string, key provision.Key, x *exchange, libErr error) error {
	be, done := c.baseError(op, x, libErr)
	if done && be == nil {
		return nil
	}
	e := &provision.StoreError{Op: op, Key: key, Status: x.status, Message: x.msg, Where: c.url + x.path}
	if x.path == "" {
		e.Where = c.url
	}
	if done {
		e.Kind, e.Err = be.Kind, be.Err
		return e
	}
	switch x.status {
	case http.StatusNotFound:
		switch {
		case strings.HasPrefix(x.msg, "Object with id"):
			e.Kind = provision.ErrNotFound
		case strings.HasPrefix(x.msg, "configClass") || strings.HasPrefix(x.msg, "objectType"):
			e.Kind = provision.ErrUnknownType
		default:
			e.Kind = companion.ErrARIFailed
		}
	case http.StatusForbidden:
		e.Kind = provision.ErrReadOnly
	case http.StatusBadRequest:
		e.Kind = provision.ErrRejected
	default:
		e.Kind = companion.ErrARIFailed
	}
	return e
}
