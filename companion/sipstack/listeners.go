package sipstack

import "github.com/astcompanion/sidecar/companion"

// ListenerState is one sip_listen entry and whether it is bound now.
type ListenerState struct {
	Listener companion.Listener // as bound: the real port
	// Up is false after Close, and while a listener whose loop ended is
	// not yet bound again.
	Up bool
}

// Listeners returns the state of every listener, in sip_listen order.
func (s *Stack) Listeners() []ListenerState {
	closed := s.isClosed()
	out := make([]ListenerState, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ListenerState{Listener: ln.addr, Up: !closed && !ln.down.Load()}
	}
	return out
}
