package companion

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Provisioner brings Asterisk's sorcery objects to match [[sorcery]], like
// terraform plan/apply: Plan reads and compares, Apply performs the plan.
type Provisioner struct {
	Store     SorceryStore
	StateFile string // the record of applied objects (see ProvisionState)
	Target    string // the ARI URL, recorded in the state file and shown in messages
}

// ProvisionAction is what a step does to one object.
type ProvisionAction uint8

const (
	ActionUnchanged ProvisionAction = iota
	ActionCreate
	ActionUpdate
	ActionReplace // DELETE then PUT: a field that accumulates changed, or a field was removed
	ActionDelete  // --prune: applied earlier, no longer in the file
	ActionForget  // --prune: applied earlier, already gone from Asterisk; only the record goes
)

var actionNames = [...]string{"unchanged", "create", "update", "replace", "delete", "forget"}

func (a ProvisionAction) String() string { return actionNames[a] }

// FieldChange is one difference between the file and Asterisk.
type FieldChange struct {
	Name      string
	Have      string // as Asterisk reports it
	Want      string // as the file says; "" when Removed
	Sensitive bool   // never print Have or Want
	Removed   bool   // in the state record, no longer in the file
}

// ProvisionStep is the plan for one object.
type ProvisionStep struct {
	Key      SorceryKey
	Action   ProvisionAction
	Object   *SorceryObject // the file's object; nil for Delete and Forget
	Changes  []FieldChange  // Update, Replace
	Send     []SorceryField // the PUT body of Create, Update, Replace
	Reasons  []string       // why Replace, Delete or Forget
	Warnings []string
}

// ProvisionPlan is the ordered list of steps: the file's objects in
// dependency order (auth and aor before the endpoint that names them,
// identify after its endpoint), then the deletions of --prune in reverse
// dependency order.
type ProvisionPlan struct {
	Target    string
	StateFile string
	Prune     bool
	Steps     []ProvisionStep
	Warnings  []string
	Orphans   []SorceryKey // recorded, not in the file, not pruned (no --prune)

	state    *ProvisionState // the record as loaded; nil when unusable
	stateErr error           // why the record cannot be read
}

// Plan reads every object of objs (and, with prune, every recorded object
// that is no longer in objs) and decides what to do. It changes nothing.
// A read that fails stops planning with a *ProvisionError.
func (p *Provisioner) Plan(ctx context.Context, objs []SorceryObject, prune bool) (*ProvisionPlan, error) {
	plan := &ProvisionPlan{Target: p.Target, StateFile: p.StateFile, Prune: prune}
	state, err := LoadProvisionState(p.StateFile)
	switch {
	case err != nil:
		plan.stateErr = err
		plan.Warnings = append(plan.Warnings, err.Error()+"; nothing is pruned and apply refuses to run until it is fixed")
		state = &ProvisionState{Version: provisionStateVersion}
	case state.Target != "" && state.Target != p.Target:
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("the state file records objects applied to %s, not %s: they are not pruned, and apply starts a new record", state.Target, p.Target))
		plan.state = &ProvisionState{Version: provisionStateVersion}
		state = plan.state
	default:
		plan.state = state
	}

	nodes := make([]orderNode, len(objs))
	for i, o := range objs {
		nodes[i] = orderNode{key: o.Key(), refs: references(o.Type, o.Fields)}
	}
	order, cycle := dependencyOrder(nodes)
	if len(cycle) > 0 {
		plan.Warnings = append(plan.Warnings, "these objects name each other in a circle, so they go in type order: "+keyList(cycle))
	}
	inFile := map[SorceryKey]bool{}
	for _, i := range order {
		o := &objs[i]
		inFile[o.Key()] = true
		have, err := p.Store.Get(ctx, o.Key())
		var step ProvisionStep
		switch {
		case errors.Is(err, ErrSorceryNotFound):
			step = ProvisionStep{Key: o.Key(), Action: ActionCreate, Object: o, Send: o.Fields}
		case err != nil:
			return plan, &ProvisionError{Step: ProvisionStep{Key: o.Key(), Object: o}, Planning: true, Err: err}
		default:
			step = diffObject(o, have, state.record(o.Key()))
		}
		step.Warnings = append(step.Warnings, codecWarnings(o)...)
		plan.Steps = append(plan.Steps, step)
	}

	var gone []ProvisionRecord
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
func (p *Provisioner) planDeletions(ctx context.Context, plan *ProvisionPlan, gone []ProvisionRecord) error {
	var nodes []orderNode
	var dels []ProvisionStep
	for _, r := range gone {
		have, err := p.Store.Get(ctx, r.Key())
		switch {
		case errors.Is(err, ErrSorceryNotFound):
			plan.Steps = append(plan.Steps, ProvisionStep{Key: r.Key(), Action: ActionForget,
				Reasons: []string{"applied earlier, no longer in the file, already gone from Asterisk"}})
			continue
		case err != nil:
			return &ProvisionError{Step: ProvisionStep{Key: r.Key(), Action: ActionDelete}, Planning: true, Err: err}
		}
		nodes = append(nodes, orderNode{key: r.Key(), refs: references(r.Type, have)})
		dels = append(dels, ProvisionStep{Key: r.Key(), Action: ActionDelete,
			Reasons: []string{"applied earlier, no longer in the file"}})
	}
	order, _ := dependencyOrder(nodes)
	slices.Reverse(order)
	deleted := map[objectRef]SorceryKey{}
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
func diffObject(o *SorceryObject, have []SorceryField, rec *ProvisionRecord) ProvisionStep {
	step := ProvisionStep{Key: o.Key(), Object: o}
	cur := map[string]string{}
	for _, f := range have {
		cur[f.Name] = f.Value
	}
	codecs, hasCodecs := desiredCodecs(o.Fields)
	codecsDiffer := hasCodecs && !codecs.matches(cur["allow"])
	if codecsDiffer {
		step.Changes = append(step.Changes, FieldChange{Name: "allow", Have: cur["allow"], Want: codecs.String()})
	}
	var send []SorceryField
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
					Sensitive: SorceryField{Name: name}.Sensitive()})
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
				send = append(send, SorceryField{Name: "disallow", Value: "all"})
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
func codecWarnings(o *SorceryObject) []string {
	if o.Type != "endpoint" {
		return nil
	}
	l, ok := desiredCodecs(o.Fields)
	if ok && (len(l.codecs) > 0 || l.all) {
		return nil
	}
	return []string{"has no codecs (set disallow and allow): Asterisk accepts the PUT but cannot read the endpoint back, so it plans as create on every run"}
}
