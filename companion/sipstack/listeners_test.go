package sipstack

import (
	"net"
	"testing"
)

// A listener that cannot be bound again shows down until it is.
func TestListenersShowDownWhileRebindFails(t *testing.T) {
	st := newStack(t, Options{}, "udp", "tcp")
	errc := serveCh(t, st, &script{})
	for _, l := range st.Listeners() {
		if !l.Up {
			t.Fatalf("%s down at start", l.Listener)
		}
	}
	tcpTo := addr(t, st, "tcp")
	ln := st.lns[1]
	ln.mu.Lock()
	ln.closeSocket() // the loop ends; rebinding waits minRetryDelay first
	squatter, err := net.Listen("tcp", tcpTo.String())
	ln.mu.Unlock()
	if err != nil {
		t.Fatalf("taking the port: %v", err)
	}
	until(t, "tcp down", func() bool { return !st.Listeners()[1].Up })
	if !st.Listeners()[0].Up {
		t.Error("udp down with tcp")
	}
	squatter.Close()
	until(t, "tcp up again", func() bool { return st.Listeners()[1].Up })
	stillServing(t, errc)
	st.Close()
	for _, l := range st.Listeners() {
		if l.Up {
			t.Errorf("%s up after Close", l.Listener)
		}
	}
}
