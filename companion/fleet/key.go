package fleet

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Keys: "<eid>.presence" and "<eid>.<d|m>.<name>", eid as 12 lower-case
// hex digits. A NATS key may hold only letters, digits and - / _ = . and a
// dot separates subject tokens, while device names hold anything from
// "PJSIP/alice" to "Custom:a.b*c>" and UTF-8. The name is therefore
// base64url without padding: its alphabet is within the key rules, it
// never produces a dot (one name is one token, so "<eid>.>" covers a node's
// keys exactly), and it decodes back to the very bytes. Percent-encoding
// would need '%', which keys do not allow.

const presenceToken = "presence"

var nameEncoding = base64.RawURLEncoding

// stateKey is the bucket key of origin's value of k.
func stateKey(origin companion.EntityID, k companion.Key) string {
	return eidToken(origin) + "." + kindToken(k.Kind) + "." + nameEncoding.EncodeToString([]byte(k.Name))
}

// presenceKey is the bucket key of origin's presence.
func presenceKey(origin companion.EntityID) string { return eidToken(origin) + "." + presenceToken }

// PermittedSubject is the one subject pattern a member needs publish
// rights on (with the JetStream API) in a NATS permissions block: all of
// its keys in bucket and nothing of the others'.
func PermittedSubject(bucket string, self companion.EntityID) string {
	return "$KV." + bucket + "." + eidToken(self) + ".>"
}

func eidToken(e companion.EntityID) string { return hex.EncodeToString(e[:]) }

func kindToken(k companion.Kind) string {
	if k == companion.KindMailbox {
		return "m"
	}
	return "d"
}

// parsedKey is a bucket key read back.
type parsedKey struct {
	origin   companion.EntityID
	presence bool
	key      companion.Key // when !presence
}

var (
	errKeyShape = errors.New("not <eid>.presence or <eid>.<d|m>.<name>")
	errKeyName  = errors.New("name is not base64url")
)

// parseKey reads a bucket key. The name is checked with
// companion.CheckName by the caller, together with the value.
func parseKey(s string) (parsedKey, error) {
	parts := strings.Split(s, ".")
	var p parsedKey
	if len(parts) < 2 || len(parts) > 3 || len(parts[0]) != 12 {
		return p, errKeyShape
	}
	b, err := hex.DecodeString(parts[0])
	if err != nil || strings.ToLower(parts[0]) != parts[0] {
		return p, errKeyShape
	}
	copy(p.origin[:], b)
	if len(parts) == 2 {
		if parts[1] != presenceToken {
			return p, errKeyShape
		}
		p.presence = true
		return p, nil
	}
	switch parts[1] {
	case "d":
		p.key.Kind = companion.KindDevice
	case "m":
		p.key.Kind = companion.KindMailbox
	default:
		return p, errKeyShape
	}
	name, err := nameEncoding.DecodeString(parts[2])
	if err != nil || nameEncoding.EncodeToString(name) != parts[2] {
		return p, errKeyName // one name, one key: no second spelling
	}
	p.key.Name = string(name)
	return p, nil
}
