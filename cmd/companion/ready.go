package main

import (
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// snapshotGate tells the exchange's Apply when the local state is known:
// the first device snapshot after the AMI login and, when mailboxes are
// applied, the first mailbox snapshot, which follows at once. Remote
// states arriving before are written then, not tried and failed with
// "not connected", and never over a device or mailbox the snapshot shows
// to be local. An Asterisk that cannot list mailboxes (neither
// app_voicemail nor res_mwi_external_ami) sends no mailbox snapshot: the
// gate then opens mailboxGrace after the device snapshot. Without [ami]
// there is nothing to wait for.
type snapshotGate struct {
	mailboxes bool // wait for a mailbox snapshot too

	mu     sync.Mutex
	seen   map[companion.Kind]bool
	opened bool
	c      chan struct{}
}

// mailboxGrace bounds the wait for a mailbox snapshot once the devices
// are read; Asterisk answers the mailbox list right after.
const mailboxGrace = 10 * time.Second

func newSnapshotGate(hasAMI, mailboxes bool) *snapshotGate {
	if !hasAMI {
		return &snapshotGate{}
	}
	return &snapshotGate{mailboxes: mailboxes, seen: make(map[companion.Kind]bool), c: make(chan struct{})}
}

// ready is what ApplyOptions.Ready takes: nil when nothing is awaited.
func (g *snapshotGate) ready() <-chan struct{} { return g.c }

// observe is registered with Exchange.OnSnapshot.
func (g *snapshotGate) observe(kind companion.Kind) {
	if g.c == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.opened {
		return
	}
	first := !g.seen[kind]
	g.seen[kind] = true
	switch {
	case g.seen[companion.KindDevice] && (g.seen[companion.KindMailbox] || !g.mailboxes):
		g.openLocked()
	case kind == companion.KindDevice && first:
		time.AfterFunc(mailboxGrace, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.openLocked()
		})
	}
}

func (g *snapshotGate) openLocked() {
	if !g.opened {
		g.opened = true
		close(g.c)
	}
}
