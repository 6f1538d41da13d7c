package provision

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

// memStore is a Store in memory: PUT merges like Asterisk, GET
// returns what was stored plus a default, nothing is normalised. Tests that
// need Asterisk's behaviour use the fake ARI server (ari/aritest) through
// cmd/companion.
type memStore struct {
	objs map[Key][]companion.SorceryField
	log  []string
	fail map[string]error // "PUT res_pjsip/endpoint/alice" -> error
}

func newMemStore() *memStore {
	return &memStore{objs: map[Key][]companion.SorceryField{}, fail: map[string]error{}}
}

func (m *memStore) op(op string, k Key) error {
	m.log = append(m.log, op+" "+k.String())
	return m.fail[op+" "+k.String()]
}

func (m *memStore) Get(_ context.Context, k Key) ([]companion.SorceryField, error) {
	if err := m.op("GET", k); err != nil {
		return nil, err
	}
	f, ok := m.objs[k]
	if !ok {
		return nil, &StoreError{Op: "GET", Key: k, Kind: ErrNotFound, Status: 404}
	}
	return append(slices.Clone(f), companion.SorceryField{Name: "default_only", Value: "x"}), nil
}

func (m *memStore) Put(_ context.Context, k Key, fields []companion.SorceryField) error {
	if err := m.op("PUT", k); err != nil {
		return err
	}
	cur := m.objs[k]
	for _, f := range fields {
		i := slices.IndexFunc(cur, func(c companion.SorceryField) bool { return c.Name == f.Name })
		if i < 0 {
			cur = append(cur, companion.SorceryField{Name: f.Name, Value: f.Value})
		} else {
			cur[i].Value = f.Value
		}
	}
	m.objs[k] = cur
	return nil
}

func (m *memStore) Delete(_ context.Context, k Key) error {
	if err := m.op("DELETE", k); err != nil {
		return err
	}
	if _, ok := m.objs[k]; !ok {
		return &StoreError{Op: "DELETE", Key: k, Kind: ErrNotFound, Status: 404}
	}
	delete(m.objs, k)
	return nil
}

func (m *memStore) writes() []string {
	var out []string
	for _, l := range m.log {
		if !strings.HasPrefix(l, "GET") {
			out = append(out, l)
		}
	}
	return out
}

func aliceObjects() []companion.SorceryObject {
	return []companion.SorceryObject{
		sorceryObj("endpoint", "alice", "context", "default", "allow", "ulaw", "auth", "alice", "aors", "alice"),
		sorceryObj("aor", "alice", "max_contacts", "1"),
		sorceryObj("auth", "alice", "username", "alice", "password", "s3cret-Zq9"),
	}
}

func planApply(t *testing.T, p *Provisioner, objs []companion.SorceryObject, prune bool) (*Report, string, error) {
	t.Helper()
	plan, err := p.Plan(context.Background(), objs, prune)
	if err != nil {
		return nil, "", err
	}
	var out bytes.Buffer
	plan.Write(&out)
	rep, err := p.Apply(context.Background(), plan, &out)
	rep.WriteSummary(&out)
	return rep, out.String(), err
}

// The state file is written after every step: a failure part-way leaves a
// record of exactly what was applied, and a second run finishes the job.
func TestApplyStopsAndRecordsWhatWasDone(t *testing.T) {
	store := newMemStore()
	p := &Provisioner{Store: store, StateFile: filepath.Join(t.TempDir(), "state.json"), Target: "http://ast/ari"}
	store.fail["PUT res_pjsip/endpoint/alice"] = &StoreError{Op: "PUT", Kind: companion.ErrARIFailed, Status: 500, Message: "boom"}
	rep, out, err := planApply(t, p, aliceObjects(), false)
	var pe *Error
	if !errors.As(err, &pe) || pe.Step.Key.Type != "endpoint" || len(rep.Done) != 2 || len(rep.NotDone) != 1 {
		t.Fatalf("err %v, report %+v", err, rep)
	}
	for _, want := range []string{"Apply stopped: create res_pjsip/endpoint/alice failed.",
		"applied (2): res_pjsip/auth/alice (created), res_pjsip/aor/alice (created)",
		"not applied (1): res_pjsip/endpoint/alice (create, failed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	st, _ := LoadState(p.StateFile)
	if len(st.Objects) != 2 || st.record(Key{"res_pjsip", "endpoint", "alice"}) != nil {
		t.Errorf("state %+v", st.Objects)
	}

	delete(store.fail, "PUT res_pjsip/endpoint/alice")
	store.log = nil
	if _, out, err = planApply(t, p, aliceObjects(), false); err != nil {
		t.Fatal(err)
	}
	if w := store.writes(); !slices.Equal(w, []string{"PUT res_pjsip/endpoint/alice"}) {
		t.Errorf("rerun wrote %v", w)
	}
	if !strings.Contains(out, "Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted, 2 unchanged.") {
		t.Errorf("summary:\n%s", out)
	}
	if strings.Contains(out, "s3cret-Zq9") {
		t.Errorf("secret printed:\n%s", out)
	}
}

// Losing the state file never causes a deletion: prune deletes only what
// the record names.
func TestPruneWithoutRecordDeletesNothing(t *testing.T) {
	store := newMemStore()
	p := &Provisioner{Store: store, StateFile: filepath.Join(t.TempDir(), "state.json"), Target: "http://ast/ari"}
	if _, _, err := planApply(t, p, aliceObjects(), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p.StateFile); err != nil {
		t.Fatal(err)
	}
	store.log = nil
	if _, _, err := planApply(t, p, aliceObjects()[:1], true); err != nil {
		t.Fatal(err)
	}
	if w := store.writes(); len(w) != 0 {
		t.Errorf("wrote %v", w)
	}
	if len(store.objs) != 3 {
		t.Errorf("objects %v", store.objs)
	}
}

// A record for another Asterisk is not pruned against this one.
func TestPruneIgnoresRecordOfOtherAsterisk(t *testing.T) {
	store := newMemStore()
	dir := t.TempDir()
	p := &Provisioner{Store: store, StateFile: filepath.Join(dir, "state.json"), Target: "http://ast1/ari"}
	if _, _, err := planApply(t, p, aliceObjects(), false); err != nil {
		t.Fatal(err)
	}
	p.Target = "http://ast2/ari"
	store.log = nil
	plan, err := p.Plan(context.Background(), nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) != 0 || len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "http://ast1/ari") {
		t.Errorf("steps %+v warnings %v", plan.Steps, plan.Warnings)
	}
}

// A corrupt state file stops apply before any change.
func TestApplyRefusesUnreadableState(t *testing.T) {
	store := newMemStore()
	p := &Provisioner{Store: store, StateFile: filepath.Join(t.TempDir(), "state.json"), Target: "http://ast/ari"}
	if err := os.WriteFile(p.StateFile, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := planApply(t, p, aliceObjects(), true)
	if err == nil || len(store.writes()) != 0 {
		t.Fatalf("err %v, writes %v", err, store.writes())
	}
	if b, _ := os.ReadFile(p.StateFile); string(b) != "{" {
		t.Errorf("state file replaced: %q", b)
	}
}

func TestDiffPlansWhatAsteriskNeeds(t *testing.T) {
	have := []companion.SorceryField{
		{Name: "allow", Value: "(ulaw)"}, {Name: "context", Value: "default"}, {Name: "callerid", Value: "unknown"},
		{Name: "rewrite_contact", Value: "true"}, {Name: "set_var", Value: ""},
	}
	o := sorceryObj("endpoint", "alice", "context", "default", "disallow", "all", "allow", "ulaw", "rewrite_contact", "yes")
	if st := diffObject(&o, have, nil); st.Action != ActionUnchanged || len(st.Warnings) != 0 {
		t.Errorf("matching object: %+v", st)
	}

	// A different codec list goes out whole, disallow first.
	o = sorceryObj("endpoint", "alice", "context", "default", "allow", "g722,ulaw")
	st := diffObject(&o, have, nil)
	want := []companion.SorceryField{{Name: "disallow", Value: "all"}, {Name: "allow", Value: "g722,ulaw"}}
	if st.Action != ActionUpdate || !slices.Equal(st.Send, want) {
		t.Errorf("codec change: %v %v", st.Action, st.Send)
	}

	// One changed field is one field sent.
	o = sorceryObj("endpoint", "alice", "context", "default", "allow", "ulaw", "callerid", `"Alice" <201>`)
	st = diffObject(&o, have, nil)
	if st.Action != ActionUpdate || len(st.Send) != 1 || st.Send[0].Name != "callerid" {
		t.Errorf("callerid change: %v %v", st.Action, st.Send)
	}

	// set_var accumulates: replace, with every field.
	o = sorceryObj("endpoint", "alice", "context", "default", "allow", "ulaw", "set_var", "A=1")
	st = diffObject(&o, have, nil)
	if st.Action != ActionReplace || len(st.Send) != 3 {
		t.Errorf("set_var change: %v %v", st.Action, st.Send)
	}

	// A field that left the file: Asterisk keeps it until re-created.
	o = sorceryObj("endpoint", "alice", "allow", "ulaw")
	st = diffObject(&o, have, &Record{Fields: []string{"allow", "context"}})
	if st.Action != ActionReplace || !strings.Contains(st.Reasons[0], "context removed") {
		t.Errorf("removed field: %v %v", st.Action, st.Reasons)
	}

	// A field Asterisk does not report cannot be compared: a warning, not
	// an update on every run.
	o = sorceryObj("endpoint", "alice", "allow", "ulaw", "permit", "192.0.2.0/24")
	st = diffObject(&o, have, nil)
	if st.Action != ActionUnchanged || len(st.Warnings) != 1 {
		t.Errorf("unreported field: %v %v", st.Action, st.Warnings)
	}
}

func TestPlanPrintsNoSecret(t *testing.T) {
	have := []companion.SorceryField{{Name: "password", Value: "old-Zq9"}, {Name: "md5_cred", Value: ""}, {Name: "username", Value: "a"}}
	o := sorceryObj("auth", "a", "password", "new-Zq9", "username", "b")
	o.Fields = append(o.Fields, companion.SecretSorceryField("realm", "env-Zq9"))
	have = append(have, companion.SorceryField{Name: "realm", Value: "oldrealm-Zq9"})
	plan := &Plan{Target: "t", StateFile: "s", Steps: []Step{
		diffObject(&o, have, &Record{Fields: []string{"md5_cred"}}),
		{Key: keyOf(o), Action: ActionCreate, Object: &o, Send: o.Fields},
	}}
	var out bytes.Buffer
	plan.Write(&out)
	if strings.Contains(out.String(), "Zq9") {
		t.Fatalf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), `username: "a" -> "b"`) || !strings.Contains(out.String(), "password: ****** -> ****** (differs)") {
		t.Errorf("plan:\n%s", out.String())
	}
}
