package provision

import (
	"errors"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func explain(step Step, se *StoreError) string {
	return ExplainError(&Error{Step: step, Err: se}, "asterisk")
}

func TestExplainInAsteriskTerms(t *testing.T) {
	ep := Key{"res_pjsip", "endpoint", "alice"}
	id := Key{"res_pjsip", "identify", "alice"}
	for _, tt := range []struct {
		name string
		step Step
		err  *StoreError
		want []string
	}{
		{"static wizard", Step{Key: ep, Action: ActionCreate},
			&StoreError{Op: "PUT", Key: ep, Kind: ErrReadOnly, Status: 403, Message: "Cannot create sorcery objects of type 'endpoint'"},
			[]string{"sorcery.conf", "[res_pjsip]", "endpoint = astdb,ps_endpoints", "restart Asterisk", "Cannot create sorcery objects of type 'endpoint'"}},
		{"identify lives in its module's section", Step{Key: id, Action: ActionCreate},
			&StoreError{Op: "PUT", Key: id, Kind: ErrReadOnly, Status: 403, Message: "Cannot create sorcery objects of type 'identify'"},
			[]string{"[res_pjsip_endpoint_identifier_ip]", "identify = astdb,ps_endpoint_id_ips"}},
		{"pjsip.conf object", Step{Key: ep, Action: ActionUpdate},
			&StoreError{Op: "PUT", Key: ep, Kind: ErrReadOnly, Status: 403, Message: "Cannot update sorcery objects of type 'endpoint'"},
			[]string{"comes from a read-only", "pjsip.conf"}},
		{"read-only ARI user", Step{Key: ep},
			&StoreError{Op: "PUT", Key: ep, Kind: ErrReadOnly, Status: 403, Message: "Write access denied"},
			[]string{`ARI user "asterisk"`, "read_only = no"}},
		{"bad field", Step{Key: ep, Action: ActionCreate, Send: []companion.SorceryField{{Name: "context", Value: "default"}, {Name: "password", Value: "pw-Zq9"}}},
			&StoreError{Op: "PUT", Key: ep, Kind: ErrRejected, Status: 400, Message: "Creation of object 'alice' failed field value validation"},
			[]string{"res_pjsip/endpoint/alice", "does not say which field", "Fields sent: context=default password=******"}},
		{"credentials", Step{Key: ep},
			&StoreError{Op: "GET", Key: ep, Kind: companion.ErrARIUnauthorized, Status: 401, Message: "Authentication required"},
			[]string{`credentials of user "asterisk"`, "ari.conf"}},
		{"refused", Step{Key: ep},
			&StoreError{Op: "GET", Key: ep, Kind: companion.ErrARIUnreachable, Where: "http://127.0.0.1:8088/ari/asterisk/config/dynamic/res_pjsip/endpoint/alice",
				Err: errors.New("dial tcp 127.0.0.1:8088: connect: connection refused")},
			[]string{"no answer from ARI at http://127.0.0.1:8088/ari/", "connection refused", "http.conf"}},
		{"unknown type", Step{Key: ep},
			&StoreError{Op: "GET", Key: ep, Kind: ErrUnknownType, Status: 404, Message: "objectType 'endpoint' not found"},
			[]string{"does not know res_pjsip/endpoint", "module"}},
	} {
		got := explain(tt.step, tt.err)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: explanation lacks %q:\n%s", tt.name, w, got)
			}
		}
		if strings.Contains(got, "Zq9") {
			t.Errorf("%s: secret printed:\n%s", tt.name, got)
		}
	}
}
