package ami

import "github.com/astcompanion/sidecar/companion"

// listRun collects one snapshot of a kind. amigo has no notion of event
// lists: a list action (DeviceStateList, VoicemailUsersList, MWIGet) gets
// its response through Action, and its items and closing "...Complete"
// event arrive later on the event path, tagged with the action's ActionID.
// The response itself never reaches a handler (amigo calls handlers only
// for messages with an Event header), so its place on the wire is unknown.
//
// Order against live events: amigo's single event goroutine sees every
// message in wire order. A live event handled before the run began was
// sent before the list action, so the list is newer. From then on, of a
// list item and a live event for the same key, the later on the wire is
// the newer: both write into the run and the last one wins. (A live event
// between the action and its first item is older in theory, but Asterisk
// writes a list in one go and flushes queued events only after it, so
// none occurs; should one, it names a key that exists, so keeping it
// costs nothing.) The run then goes to the queue as one snapshot, which
// supersedes the live events queued before it (queue.putSnapshot); live
// events after it are delivered after it. All of this happens under
// Client.mu, so no live event falls between the run and the queue.
type listRun struct {
	kind     companion.Kind
	actionID string        // the list action now running
	done     chan struct{} // closed when its Complete event has passed
	items    map[companion.Key]companion.State
	order    []companion.Key
}

func newListRun(kind companion.Kind) *listRun {
	return &listRun{kind: kind, items: make(map[companion.Key]companion.State)}
}

// expect starts collecting the answer to the action with this ActionID.
func (r *listRun) expect(actionID string) <-chan struct{} {
	r.actionID = actionID
	r.done = make(chan struct{})
	return r.done
}

func (r *listRun) set(s companion.State) {
	if _, ok := r.items[s.Key]; !ok {
		r.order = append(r.order, s.Key)
	}
	r.items[s.Key] = s
}

func (r *listRun) finish() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
}

// states is the snapshot, in the order keys were first seen.
func (r *listRun) states() []companion.State {
	out := make([]companion.State, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.items[k])
	}
	return out
}
