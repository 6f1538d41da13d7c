package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Provisioner brings Asterisk's sorcery objects to match [[sorcery]], like
// terraform plan/apply: Plan reads and compares, Apply performs the plan.
type Provisioner struct {
	Store     Store
	StateFile string // the record of applied objects (see State)
	Target    string // the ARI URL, recorded in the state file and shown in messages
}

// Action is what a step does to one object.
type Action uint8

const (
	ActionUnchanged Action = iota
	ActionCreate
	ActionUpdate
	ActionReplace // DELETE then PUT: a field that accumulates changed, or a field was removed
	ActionDelete  // --prune: applied earlier, no longer in the file
	ActionForget  // --prune: applied earlier, already gone from Asterisk; only the record goes
)

var actionNames = [...]string{"unchanged", "create", "update", "replace", "delete", "forget"}

func (a Action) String() string { return actionNames[a] }

// FieldChange is one difference between the file and Asterisk.
type FieldChange struct {
	Name      string
	Have      string // as Asterisk reports it
	Want      string // as the file says; "" when Removed
	Sensitive bool   // never print Have or Want
	Removed   bool   // in the state record, no longer in the file
}

// Step is the plan for one object.
type Step struct {
	Key      Key
	Action   Action
	Object   *companion.SorceryObject // the file's object; nil for Delete and Forget
	Changes  []FieldChange            // Update, Replace
	Send     []companion.SorceryField // the PUT body of Create, Update, Replace
	Reasons  []string                 // why Replace, Delete or Forget
	Warnings []string
}

// Plan is the ordered list of steps: the file's objects in
// dependency order (auth and aor before the endpoint that names them,
// identify after its endpoint), then the deletions of --prune in reverse
// dependency order.
type Plan struct {
	Target    string
	StateFile string
	Prune     bool
	Steps     []Step
	Warnings  []string
	Orphans   []Key // recorded, not in the file, not pruned (no --prune)

	state    *State // the record as loaded; nil when unusable
	stateErr error  // why the record cannot be read
}

// Plan reads every object of objs (and, with prune, every recorded object
// that is no longer in objs) and decides what to do. It changes nothing.
// A read that fails stops planning with a *Error.
func (p *Provisioner) Plan(ctx context.Context, objs []companion.SorceryObject, prune bool) (*Plan, error) {
	plan := &Plan{Target: p.Target, StateFile: p.StateFile, Prune: prune}
	state, err := LoadState(p.StateFile)
	switch {
	case err != nil:
		plan.stateErr = err
		plan.Warnings = append(plan.Warnings, err.Error()+"; nothing is pruned and apply refuses to run until it is fixed")
		state = &State{Version: stateVersion}
	case state.Target != "" && state.Target != p.Target:
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("the state file records objects applied to %s, not %s: they are not pruned, and apply starts a new record", state.Target, p.Target))
		plan.state = &State{Version: stateVersion}
		state = plan.state
	default:
		plan.state = state
	}

	nodes := make([]orderNode, len(objs))
	for i, o := range objs {
		nodes[i] = orderNode{key: keyOf(o), refs: references(o.Type, o.Fields)}
	}
	order, cycle := dependencyOrder(nodes)
	if len(cycle) > 0 {
		plan.Warnings = append(plan.Warnings, "these objects name each other in a circle, so they go in type order: "+keyList(cycle))
	}
	inFile := map[Key]bool{}
	for _, i := range order {
		o := &objs[i]
		inFile[keyOf(*o)] = true
		have, err := p.Store.Get(ctx, keyOf(*o))
		var step Step
		switch {
		case errors.Is(err, ErrNotFound):
			step = Step{Key: keyOf(*o), Action: ActionCreate, Object: o, Send: o.Fields}
		case err != nil:
			return plan, &Error{Step: Step{Key: keyOf(*o), Object: o}, Planning: true, Err: err}
		default:
			step = diffObject(o, have, state.record(keyOf(*o)))
		}
		step.Warnings = append(step.Warnings, codecWarnings(o)...)
		plan.Steps = append(plan.Steps, step)
	}

	var gone []Record
	for _, r := range state.Objects {
		if !inFile[r.Key()] {
			gone = append(gone, r)
		}
	}
	if !prune || plan.stateErr != nil {
		for _, r := range gone {
			plan.Orphans = append(plan.Orphans, r.Key())
		}
		return plan, nil
	}
	return plan, p.planDeletions(ctx, plan, gone)
}

// planDeletions adds a step for every recorded object that left the file:
// delete it, or forget it when Asterisk no longer has it. The deletions go
// in reverse dependency order (an endpoint before its aor and auth), read
// from the objects as Asterisk has them.
func (p *Provisioner) planDeletions(ctx context.Context, plan *Plan, gone []Record) error {
	var nodes []orderNode
	var dels []Step
	for _, r := range gone {
		have, err := p.Store.Get(ctx, r.Key())
		switch {
		case errors.Is(err, ErrNotFound):
			plan.Steps = append(plan.Steps, Step{Key: r.Key(), Action: ActionForget,
				Reasons: []string{"applied earlier, no longer in the file, already gone from Asterisk"}})
			continue
		case err != nil:
			return &Error{Step: Step{Key: r.Key(), Action: ActionDelete}, Planning: true, Err: err}
		}
		nodes = append(nodes, orderNode{key: r.Key(), refs: references(r.Type, have)})
		dels = append(dels, Step{Key: r.Key(), Action: ActionDelete,
			Reasons: []string{"applied earlier, no longer in the file"}})
	}
	order, _ := dependencyOrder(nodes)
	slices.Reverse(order)
	deleted := map[objectRef]Key{}
	for _, i := range order {
		plan.Steps = append(plan.Steps, dels[i])
		deleted[objectRef{dels[i].Key.Type, dels[i].Key.ID}] = dels[i].Key
	}
	// Deleting what a kept object still names breaks that object.
	for i := range plan.Steps {
		st := &plan.Steps[i]
		if st.Object == nil {
			continue
		}
		for _, r := range references(st.Object.Type, st.Object.Fields) {
			if k, ok := deleted[r]; ok {
				st.Warnings = append(st.Warnings, fmt.Sprintf("names %s, which --prune deletes", k))
			}
		}
	}
	return nil
}

// diffObject compares the file's object with what Asterisk reports.
func diffObject(o *companion.SorceryObject, have []companion.SorceryField, rec *Record) Step {
	step := Step{Key: keyOf(*o), Object: o}
	cur := map[string]string{}
	for _, f := range have {
		cur[f.Name] = f.Value
	}
	codecs, hasCodecs := desiredCodecs(o.Fields)
	codecsDiffer := hasCodecs && !codecs.matches(cur["allow"])
	if codecsDiffer {
		step.Changes = append(step.Changes, FieldChange{Name: "allow", Have: cur["allow"], Want: codecs.String()})
	}
	var send []companion.SorceryField
	for _, f := range o.Fields {
		if isCodecField(f.Name) {
			continue
		}
		if f.Name == "type" && f.Value == o.Type {
			continue // pjsip.conf habit; ARI takes the type from the URL
		}
		h, reported := cur[f.Name]
		if !reported {
			step.Warnings = append(step.Warnings, fmt.Sprintf("Asterisk does not report %s, so it cannot be compared", f.Name))
			continue
		}
		change := FieldChange{Name: f.Name, Have: h, Want: f.Value, Sensitive: f.Sensitive()}
		if accumulates(o.Type, f.Name) {
			w, comparable := listEntries(f.Name, f.Value)
			hv, _ := listEntries(f.Name, h)
			switch {
			case sameSet(w, hv):
			case !comparable:
				step.Warnings = append(step.Warnings, fmt.Sprintf("%s holds a host name, which Asterisk resolves: it cannot be compared and is not changed", f.Name))
			default:
				step.Changes = append(step.Changes, change)
				step.Reasons = append(step.Reasons, fmt.Sprintf("%s accumulates on PUT", f.Name))
			}
			continue
		}
		if !sameValue(f.Name, f.Value, h) {
			step.Changes = append(step.Changes, change)
			send = append(send, f)
		}
	}
	if rec != nil {
		var removed []string
		for _, name := range rec.Fields {
			if _, ok := o.Field(name); !ok {
				removed = append(removed, name)
				step.Changes = append(step.Changes, FieldChange{Name: name, Have: cur[name], Removed: true,
					Sensitive: companion.SorceryField{Name: name}.Sensitive()})
			}
		}
		if len(removed) > 0 {
			step.Reasons = append(step.Reasons, fmt.Sprintf("%s removed from the file (Asterisk keeps a field until the object is re-created)", strings.Join(removed, ", ")))
		}
	}
	switch {
	case len(step.Reasons) > 0:
		step.Action, step.Send = ActionReplace, o.Fields
	case len(step.Changes) > 0:
		step.Action = ActionUpdate
		if codecsDiffer {
			// A PUT adds to the existing codecs: clear them first, and
			// always send disallow and allow together.
			if !startsWithReset(o.Fields) {
				send = append(send, companion.SorceryField{Name: "disallow", Value: "all"})
			}
			for _, f := range o.Fields {
				if isCodecField(f.Name) {
					send = append(send, f)
				}
			}
		}
		step.Send = send
	default:
		step.Action = ActionUnchanged
	}
	return step
}

// codecWarnings flags an endpoint that would end up without codecs:
// Asterisk 22.10.1 answers its PUT with 200 but cannot read it back.
func codecWarnings(o *companion.SorceryObject) []string {
	if o.Type != "endpoint" {
		return nil
	}
	l, ok := desiredCodecs(o.Fields)
	if ok && (len(l.codecs) > 0 || l.all) {
		return nil
	}
	return []string{"has no codecs (set disallow and allow): Asterisk accepts the PUT but cannot read the endpoint back, so it plans as create on every run"}
}
