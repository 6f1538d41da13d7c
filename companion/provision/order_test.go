package provision

import (
	"slices"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func sorceryObj(typ, id string, kv ...string) companion.SorceryObject {
	o := companion.SorceryObject{Class: "res_pjsip", Type: typ, ID: id}
	for i := 0; i < len(kv); i += 2 {
		o.Fields = append(o.Fields, companion.SorceryField{Name: kv[i], Value: kv[i+1]})
	}
	return o
}

func orderOf(objs []companion.SorceryObject) ([]string, []Key) {
	nodes := make([]orderNode, len(objs))
	for i, o := range objs {
		nodes[i] = orderNode{key: keyOf(o), refs: references(o.Type, o.Fields)}
	}
	order, cycle := dependencyOrder(nodes)
	var out []string
	for _, i := range order {
		out = append(out, objs[i].Type+"/"+objs[i].ID)
	}
	return out, cycle
}

// Written in the worst order, the objects still go in the order PJSIP
// needs: what an object names before it, identify after its endpoint.
func TestDependencyOrder(t *testing.T) {
	objs := []companion.SorceryObject{
		sorceryObj("identify", "alice", "endpoint", "alice", "match", "192.0.2.1"),
		sorceryObj("endpoint", "alice", "auth", "alice", "aors", "alice", "transport", "t-udp", "outbound_auth", "trunk"),
		sorceryObj("registration", "trunk", "outbound_auth", "trunk"),
		sorceryObj("aor", "alice"),
		sorceryObj("transport", "t-udp"),
		sorceryObj("auth", "trunk"),
		sorceryObj("auth", "alice"),
		sorceryObj("endpoint", "bob", "aors", "elsewhere"), // names an object not in the file
	}
	got, cycle := orderOf(objs)
	want := []string{"auth/trunk", "auth/alice", "aor/alice", "transport/t-udp", "registration/trunk", "endpoint/alice", "identify/alice", "endpoint/bob"}
	if !slices.Equal(got, want) || cycle != nil {
		t.Errorf("order %v\nwant  %v (cycle %v)", got, want, cycle)
	}
}

func TestDependencyOrderCycle(t *testing.T) {
	objs := []companion.SorceryObject{
		sorceryObj("asterisk-publication", "p", "devicestate_publish", "x"),
		sorceryObj("outbound-publish", "x", "outbound_auth", "a"),
		sorceryObj("auth", "a"),
		sorceryObj("endpoint", "e1", "outbound_auth", "a"),
		sorceryObj("identify", "i", "endpoint", "e1"),
	}
	got, cycle := orderOf(objs)
	want := []string{"auth/a", "endpoint/e1", "identify/i", "outbound-publish/x", "asterisk-publication/p"}
	if !slices.Equal(got, want) || cycle != nil {
		t.Errorf("order %v, want %v", got, want)
	}
	// Two identify objects naming each other cannot happen in PJSIP, but
	// a cycle must not lose objects.
	refFields["identify"]["endpoint"] = "identify"
	defer func() { refFields["identify"]["endpoint"] = "endpoint" }()
	got, cycle = orderOf([]companion.SorceryObject{sorceryObj("identify", "a", "endpoint", "b"), sorceryObj("identify", "b", "endpoint", "a"), sorceryObj("auth", "z")})
	if len(got) != 3 || got[0] != "auth/z" || len(cycle) != 2 {
		t.Errorf("order %v cycle %v", got, cycle)
	}
}
