package ari

import (
	"context"
	"encoding/json"
	"fmt"

	ariv6 "github.com/CyCoreSystems/ari/v6"
	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/astcompanion/sidecar/companion"
)

// EntityID reads the local Asterisk's Entity ID (system.entity_id of
// GET /asterisk/info), for eid = "auto". The error says what failed; the
// caller adds that eid can be set explicitly.
func (c *Client) EntityID(ctx context.Context) (companion.EntityID, error) {
	var info *ariv6.AsteriskInfo
	x, err := c.call(ctx, func(lib *native.Client) error {
		var e error
		info, e = lib.Asterisk().Info(nil)
		return e
	})
	const op = "GET /asterisk/info"
	raw := ""
	be, done := c.baseError(op, x, err)
	switch {
	case !done:
		return companion.EntityID{}, &Error{Op: op, Where: c.url, Status: x.status, Message: x.msg, Kind: companion.ErrARIFailed}
	case be == nil:
		raw = info.SystemInfo.EntityID
	case x.status/100 == 2 && entityFromBody(x.body, &raw):
		// ari/v6 refused the answer (say, a timestamp it cannot parse),
		// but entity_id is there.
	default:
		return companion.EntityID{}, be
	}
	eid, perr := companion.ParseEntityID(raw)
	if perr != nil || eid.IsZero() {
		return companion.EntityID{}, fmt.Errorf("ARI GET /asterisk/info at %s: entity_id %q is not an Entity ID", c.url, raw)
	}
	return eid, nil
}

func entityFromBody(body []byte, raw *string) bool {
	var m struct {
		System struct {
			EntityID string `json:"entity_id"`
		} `json:"system"`
	}
	if json.Unmarshal(body, &m) != nil || m.System.EntityID == "" {
		return false
	}
	*raw = m.System.EntityID
	return true
}
