package main

import (
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func gateOpen(g *snapshotGate) bool {
	select {
	case <-g.ready():
		return true
	default:
		return false
	}
}

func TestSnapshotGate(t *testing.T) {
	if g := newSnapshotGate(false, true); g.ready() != nil {
		t.Error("without AMI the gate waits")
	}
	g := newSnapshotGate(true, true)
	g.observe(companion.KindDevice)
	if gateOpen(g) {
		t.Error("open before the mailbox snapshot, although mailboxes are applied")
	}
	g.observe(companion.KindMailbox)
	if !gateOpen(g) {
		t.Error("closed after both snapshots")
	}
	g.observe(companion.KindDevice) // later snapshots change nothing

	g = newSnapshotGate(true, false)
	g.observe(companion.KindMailbox)
	if gateOpen(g) {
		t.Error("open before the device snapshot")
	}
	g.observe(companion.KindDevice)
	if !gateOpen(g) {
		t.Error("closed after the device snapshot, mailboxes not applied")
	}
}
