package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Error is a request that failed while planning or applying one
// step.
type Error struct {
	Step     Step
	Planning bool   // failed reading, before anything was applied
	Partial  string // what of the step did happen, e.g. "deleted, not re-created"
	Applied  bool   // the change reached Asterisk (only reading it back failed)
	Err      error
}

func (e *Error) Error() string {
	if e.Step.Key == (Key{}) {
		return e.Err.Error()
	}
	what := e.Step.Action.String()
	if e.Planning {
		what = "reading"
	}
	s := fmt.Sprintf("%s %s: %v", what, e.Step.Key, e.Err)
	if e.Partial != "" {
		s += " (" + e.Partial + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Result is one step performed.
type Result struct {
	Step     Step
	Warnings []string
}

// Report says what Apply did: Done in order, then, after a
// failure, the failed step and the steps not attempted.
type Report struct {
	Done    []Result
	Failed  *Error
	NotDone []Step // the failed step first
}

// Apply performs the plan's steps in order, writing one line per object to
// w as it goes. It stops at the first failure; the report then says which
// objects were applied and which were not, and running again continues
// where it stopped. The state file is updated after every step, so a crash
// loses at most the record of the step in flight: an object created but not
// recorded is never pruned, a recorded one deleted twice is a 404 that
// counts as done.
func (p *Provisioner) Apply(ctx context.Context, plan *Plan, w io.Writer) (*Report, error) {
	rep := &Report{}
	if plan.stateErr != nil {
		err := &Error{Planning: true, Err: plan.stateErr}
		rep.Failed, rep.NotDone = err, plan.Steps
		return rep, err
	}
	state := plan.state.clone()
	state.Target = p.Target
	for i, st := range plan.Steps {
		warnings, err := p.applyStep(ctx, st)
		if err == nil {
			if p.record(state, st) {
				if serr := state.Save(p.StateFile); serr != nil {
					err = &Error{Step: st, Partial: st.Action.String() + " done, not recorded", Err: serr}
				}
			}
		}
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				pe = &Error{Step: st, Err: err}
			}
			if pe.Applied && p.record(state, st) {
				_ = state.Save(p.StateFile) // best effort: the step failed anyway
			}
			writeFailedLine(w, pe)
			rep.Failed, rep.NotDone = pe, plan.Steps[i:]
			return rep, pe
		}
		res := Result{Step: st, Warnings: warnings}
		writeDoneLine(w, res)
		rep.Done = append(rep.Done, res)
	}
	return rep, nil
}

// record updates the state for a step done; it reports whether it changed.
func (p *Provisioner) record(s *State, st Step) bool {
	switch st.Action {
	case ActionDelete, ActionForget:
		return s.forget(st.Key)
	}
	names := make([]string, 0, len(st.Object.Fields))
	for _, f := range st.Object.Fields {
		names = append(names, f.Name)
	}
	return s.set(st.Key, names)
}

func (p *Provisioner) applyStep(ctx context.Context, st Step) (warnings []string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Step: st, Partial: "not started", Err: err}
	}
	switch st.Action {
	case ActionUnchanged, ActionForget:
		return nil, nil
	case ActionDelete:
		if err := p.Store.Delete(ctx, st.Key); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, nil
	case ActionReplace:
		if err := p.Store.Delete(ctx, st.Key); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, &Error{Step: st, Partial: "not deleted, unchanged", Err: err}
		}
		if err := p.Store.Put(ctx, st.Key, st.Send); err != nil {
			return nil, &Error{Step: st, Partial: "deleted, not re-created: the object is missing until this succeeds", Err: err}
		}
	default: // create, update
		if err := p.Store.Put(ctx, st.Key, st.Send); err != nil {
			return nil, err
		}
	}
	return p.verify(ctx, st)
}

// verify reads the object back: ari/v6 discards the PUT's answer, and a
// 200 does not prove that Asterisk can use the object.
func (p *Provisioner) verify(ctx context.Context, st Step) ([]string, error) {
	have, err := p.Store.Get(ctx, st.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		msg := "Asterisk accepted the PUT but cannot read the object back"
		if st.Key.Type == "endpoint" {
			msg += " (an endpoint without codecs vanishes: set disallow and allow)"
		}
		return []string{msg}, nil
	case err != nil:
		return nil, &Error{Step: st, Partial: "applied, not verified", Applied: true, Err: err}
	}
	after := diffObject(st.Object, have, nil)
	var warnings []string
	for _, c := range after.Changes {
		if c.Sensitive {
			warnings = append(warnings, fmt.Sprintf("Asterisk reports %s differently after the PUT; the next plan will show it again", c.Name))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("Asterisk reports %s as %q after the PUT, not %q; the next plan will show it again", c.Name, c.Have, c.Want))
	}
	return warnings, nil
}
