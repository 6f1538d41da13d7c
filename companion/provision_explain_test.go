package companion

import (
	"errors"
	"strings"
	"testing"
)

func explain(step ProvisionStep, se *SorceryError) string {
	return ExplainProvisionError(&ProvisionError{Step: step, Err: se}, "asterisk")
}

func TestExplainInAsteriskTerms(t *testing.T) {
	ep := SorceryKey{"res_pjsip", "endpoint", "alice"}
	id := SorceryKey{"res_pjsip", "identify", "alice"}
	for _, tt := range []struct {
		name string
		step ProvisionStep
		err  *SorceryError
		want []string
	}{
		{"static wizard", ProvisionStep{Key: ep, Action: ActionCreate},
			&SorceryError{Op: "PUT", Key: ep, Kind: ErrSorceryReadOnly, Status: 403, Message: "Cannot create sorcery objects of type 'endpoint'"},
			[]string{"sorcery.conf", "[res_pjsip]", "endpoint = astdb,ps_endpoints", "restart Asterisk", "Cannot create sorcery objects of type 'endpoint'"}},
		{"identify lives in its module's section", ProvisionStep{Key: id, Action: ActionCreate},
			&SorceryError{Op: "PUT", Key: id, Kind: ErrSorceryReadOnly, Status: 403, Message: "Cannot create sorcery objects of type 'identify'"},
			[]string{"[res_pjsip_endpoint_identifier_ip]", "identify = astdb,ps_endpoint_id_ips"}},
		{"pjsip.conf object", ProvisionStep{Key: ep, Action: ActionUpdate},
			&SorceryError{Op: "PUT", Key: ep, Kind: ErrSorceryReadOnly, Status: 403, Message: "Cannot update sorcery objects of type 'endpoint'"},
			[]string{"comes from a read-only", "pjsip.conf"}},
		{"read-only ARI user", ProvisionStep{Key: ep},
			&SorceryError{Op: "PUT", Key: ep, Kind: ErrSorceryReadOnly, Status: 403, Message: "Write access denied"},
			[]string{`ARI user "asterisk"`, "read_only = no"}},
		{"bad field", ProvisionStep{Key: ep, Action: ActionCreate, Send: []SorceryField{{Name: "context", Value: "default"}, {Name: "password", Value: "pw-Zq9"}}},
			&SorceryError{Op: "PUT", Key: ep, Kind: ErrSorceryRejected, Status: 400, Message: "Creation of object 'alice' failed field value validation"},
			[]string{"res_pjsip/endpoint/alice", "does not say which field", "Fields sent: context=default password=******"}},
		{"credentials", ProvisionStep{Key: ep},
			&SorceryError{Op: "GET", Key: ep, Kind: ErrARIUnauthorized, Status: 401, Message: "Authentication required"},
			[]string{`credentials of user "asterisk"`, "ari.conf"}},
		{"refused", ProvisionStep{Key: ep},
			&SorceryError{Op: "GET", Key: ep, Kind: ErrARIUnreachable, Where: "http://127.0.0.1:8088/ari/asterisk/config/dynamic/res_pjsip/endpoint/alice",
				Err: errors.New("dial tcp 127.0.0.1:8088: connect: connection refused")},
			[]string{"no answer from ARI at http://127.0.0.1:8088/ari/", "connection refused", "http.conf"}},
		{"unknown type", ProvisionStep{Key: ep},
			&SorceryError{Op: "GET", Key: ep, Kind: ErrSorceryUnknownType, Status: 404, Message: "objectType 'endpoint' not found"},
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
