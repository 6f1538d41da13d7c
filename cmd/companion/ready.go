package main

import (
	"sync"

	"github.com/astcompanion/sidecar/companion"
)

// snapshotGate tells the exchange's Apply when the local state is first
// known (the first device snapshot after the AMI login), so that remote
// states arriving before are written then, not tried and failed with
// "not connected". Without [ami] there is no snapshot to wait for.
type snapshotGate struct {
	once sync.Once
	c    chan struct{}
}

func newSnapshotGate(hasAMI bool) *snapshotGate {
	if !hasAMI {
		return &snapshotGate{}
	}
	return &snapshotGate{c: make(chan struct{})}
}

// ready is what ApplyOptions.Ready takes: nil when nothing is awaited.
func (g *snapshotGate) ready() <-chan struct{} { return g.c }

// observe is registered with Exchange.OnSnapshot.
func (g *snapshotGate) observe(kind companion.Kind) {
	if g.c != nil && kind == companion.KindDevice {
		g.once.Do(func() { close(g.c) })
	}
}
