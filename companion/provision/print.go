package provision

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// Everything provisioning prints goes through this file, which masks every
// sensitive value: ARI GET returns passwords in clear.

var planSymbols = [...]string{"=", "+", "~", "-/+", "-", "-"}

// Write prints the plan: one line per object, its warnings, a summary.
func (plan *Plan) Write(w io.Writer) {
	fmt.Fprintf(w, "Plan for %s (state file %s):\n", plan.Target, plan.StateFile)
	for _, msg := range plan.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", msg)
	}
	var counts [len(actionNames)]int
	for _, st := range plan.Steps {
		counts[st.Action]++
		fmt.Fprintf(w, "  %-3s %-10s %s%s\n", planSymbols[st.Action], st.Action, st.Key, stepDetail(st))
		for _, msg := range st.Warnings {
			fmt.Fprintf(w, "      warning: %s\n", msg)
		}
	}
	if len(plan.Orphans) > 0 {
		fmt.Fprintf(w, "  not in the file any more, kept (--prune deletes them): %s\n", keyList(plan.Orphans))
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to replace, %d to delete, %d unchanged.\n",
		counts[ActionCreate], counts[ActionUpdate], counts[ActionReplace], counts[ActionDelete]+counts[ActionForget], counts[ActionUnchanged])
}

// Changes reports whether applying the plan would do anything.
func (plan *Plan) Changes() bool {
	for _, st := range plan.Steps {
		if st.Action != ActionUnchanged {
			return true
		}
	}
	return false
}

func stepDetail(st Step) string {
	switch st.Action {
	case ActionCreate:
		if len(st.Send) == 0 {
			return ""
		}
		return "  " + fieldsText(st.Send)
	case ActionUpdate, ActionReplace:
		parts := make([]string, len(st.Changes))
		for i, c := range st.Changes {
			parts[i] = changeText(c)
		}
		s := "  " + strings.Join(parts, "; ")
		if len(st.Reasons) > 0 {
			s += " (" + strings.Join(st.Reasons, "; ") + ": DELETE, then PUT)"
		}
		return s
	case ActionDelete, ActionForget:
		return "  (" + strings.Join(st.Reasons, "; ") + ")"
	}
	return ""
}

func changeText(c FieldChange) string {
	switch {
	case c.Removed && c.Sensitive:
		return c.Name + ": " + companion.SecretMask + " -> (removed)"
	case c.Removed:
		return c.Name + ": " + strconv.Quote(c.Have) + " -> (removed)"
	case c.Sensitive:
		return c.Name + ": " + companion.SecretMask + " -> " + companion.SecretMask + " (differs)"
	}
	return c.Name + ": " + strconv.Quote(c.Have) + " -> " + strconv.Quote(c.Want)
}

// fieldsText prints name=value pairs, masked, quoted where a value has
// spaces or quotes.
func fieldsText(fields []companion.SorceryField) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		v := f.Value
		switch {
		case f.Sensitive():
			v = companion.SecretMask
		case v == "" || strings.ContainsAny(v, " \"'\\;") || strings.IndexFunc(v, notPrint) >= 0:
			v = strconv.Quote(v)
		}
		parts[i] = f.Name + "=" + v
	}
	return strings.Join(parts, " ")
}

func notPrint(r rune) bool { return !strconv.IsPrint(r) }

var doneVerbs = [...]string{"unchanged", "created", "updated", "replaced", "deleted", "forgotten"}

func writeDoneLine(w io.Writer, r Result) {
	st := r.Step
	detail := ""
	switch st.Action {
	case ActionUpdate, ActionReplace:
		names := make([]string, len(st.Changes))
		for i, c := range st.Changes {
			names[i] = c.Name
		}
		detail = "  " + strings.Join(names, ", ")
	case ActionForget:
		detail = "  (already gone from Asterisk)"
	}
	fmt.Fprintf(w, "  %-10s %s%s\n", doneVerbs[st.Action], st.Key, detail)
	for _, msg := range r.Warnings {
		fmt.Fprintf(w, "      warning: %s\n", msg)
	}
}

func writeFailedLine(w io.Writer, e *Error) {
	if e.Step.Key == (Key{}) {
		return
	}
	what := e.Step.Action.String()
	if e.Partial != "" {
		what += ", " + e.Partial
	}
	fmt.Fprintf(w, "  %-10s %s  %s failed\n", "FAILED", e.Step.Key, what)
}

// WriteSummary prints the totals, or after a failure which objects were
// applied and which were not.
func (r *Report) WriteSummary(w io.Writer) {
	if r.Failed == nil {
		var counts [len(actionNames)]int
		for _, d := range r.Done {
			counts[d.Step.Action]++
		}
		fmt.Fprintf(w, "Apply complete: %d created, %d updated, %d replaced, %d deleted, %d unchanged.\n",
			counts[ActionCreate], counts[ActionUpdate], counts[ActionReplace], counts[ActionDelete]+counts[ActionForget], counts[ActionUnchanged])
		return
	}
	if r.Failed.Step.Key == (Key{}) {
		fmt.Fprintf(w, "Apply did not start: %v\n", r.Failed.Err)
	} else {
		fmt.Fprintf(w, "Apply stopped: %s %s failed.\n", r.Failed.Step.Action, r.Failed.Step.Key)
	}
	done := make([]string, len(r.Done))
	for i, d := range r.Done {
		done[i] = fmt.Sprintf("%s (%s)", d.Step.Key, doneVerbs[d.Step.Action])
	}
	notDone := make([]string, len(r.NotDone))
	for i, st := range r.NotDone {
		notDone[i] = fmt.Sprintf("%s (%s)", st.Key, st.Action)
		if i == 0 && r.Failed.Step.Key == st.Key {
			notDone[i] = fmt.Sprintf("%s (%s, failed", st.Key, st.Action)
			if r.Failed.Partial != "" {
				notDone[i] += ": " + r.Failed.Partial
			}
			notDone[i] += ")"
		}
	}
	fmt.Fprintf(w, "  applied (%d): %s\n", len(done), orNone(strings.Join(done, ", ")))
	fmt.Fprintf(w, "  not applied (%d): %s\n", len(notDone), orNone(strings.Join(notDone, ", ")))
	fmt.Fprintln(w, rerunAdvice(r.Failed.Err))
}

// rerunAdvice says whether running again can continue: only a failure
// that time cures can; the others need a change first, which it names.
func rerunAdvice(err error) string {
	const rerun = "run the same command again: what was applied shows as unchanged."
	var cause string
	switch {
	case errors.Is(err, ErrReadOnly):
		cause = "Asterisk's configuration changes (sorcery.conf maps the type to a writable wizard, then Asterisk restarts; " +
			"or ari.conf gives the user read_only = no), as explained above"
	case errors.Is(err, companion.ErrARIUnauthorized):
		cause = "[ari] username/password match an ari.conf user"
	case errors.Is(err, ErrRejected), errors.Is(err, ErrUnknownType):
		cause = "the [[sorcery]] object in the file is corrected (or the module providing its type is loaded), as explained above"
	default:
		return "Run the same command again to continue: what was applied shows as unchanged."
	}
	return "Running it again cannot succeed until " + cause + ". Then " + rerun
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
