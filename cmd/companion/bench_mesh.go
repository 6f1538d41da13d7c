package main

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
)

// meshBenchResult is what benchMesh measured.
type meshBenchResult struct {
	Nodes, Devices int
	// Start is how long until every receiver held the sender's devices,
	// from the nodes' start.
	Start time.Duration
	// Fanout is from the first of the burst's changes on the sender until
	// the last receiver held them all; Bound means the wait hit its bound
	// first, and Fanout is only a lower bound.
	Fanout time.Duration
	Bound  bool
	Held   int // receivers holding the whole burst at the end
	// HeapPerNode is the live heap after the burst, divided by the nodes.
	HeapPerNode uint64
}

// benchMesh is the fleet scenario's baseline: the same fan-out over a SIP
// full mesh. One sending companion publishes its devices to nodes−1
// receiving companions, one SIP peer each, with the companion's own
// pipelined publisher (max_in_flight default); all run in this process
// on loopback UDP. As in benchFleet, the sender's states are set in its
// local table (no AMI), and a receiver has them once its remote table
// holds them: nothing is written into an Asterisk on either side, so
// both measure the path between the nodes. within bounds the burst's
// wait, setup the start's.
func benchMesh(o benchOptions, nodes, devices int, within, setup time.Duration) (meshBenchResult, error) {
	res := meshBenchResult{Nodes: nodes, Devices: devices}
	if nodes < 2 {
		return res, errors.New("want at least 2 nodes")
	}
	started := time.Now()
	recvs := make([]*benchNode, nodes-1)
	ports := make([]int, nodes-1)
	var sender *benchNode
	defer func() {
		// The sender first: its publications are removed while the
		// receivers still answer.
		sender.close()
		var wg sync.WaitGroup
		for _, r := range recvs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.close()
			}()
		}
		wg.Wait()
	}()
	for i := range recvs {
		port, err := freeUDPPort()
		if err != nil {
			return res, err
		}
		ports[i] = port
		if recvs[i], err = startBenchNode(receiverConfig(i, port, "", devices+1000), variantCompanion, o.log.With("node", fmt.Sprintf("recv%d", i))); err != nil {
			return res, err
		}
	}
	// The file needs [ami] to publish; the sender runs without: its
	// local table is the bench's.
	cfg, err := config.Parse("bench.toml", []byte(senderConfig("127.0.0.1:1", ports)))
	if err != nil {
		return res, err
	}
	cfg.AMI = nil
	if sender, err = startBenchNodeConfig(cfg, variantCompanion, o.log.With("node", "a")); err != nil {
		return res, err
	}
	eid := sender.n.eid
	name := func(i int) string { return fmt.Sprintf("PJSIP/s-%05d", i) }
	for i := range devices {
		sender.n.x.LocalTable.Set(eid, companion.Device(name(i), companion.NotInUse, true))
	}
	held := func(st companion.DeviceState, cursors []int) int {
		n := 0
		for i, r := range recvs {
			if holdsFrom(r.n.x.RemoteTable, eid, devices, st, name, &cursors[i]) {
				n++
			}
		}
		return n
	}
	cursors := make([]int, len(recvs))
	if !awaitCond(setup, func() bool { return held(companion.NotInUse, cursors) == len(recvs) }) {
		return res, fmt.Errorf("start: %d of %d receivers hold the sender's %d devices: %w", held(companion.NotInUse, cursors), len(recvs), devices, errNotConverged)
	}
	res.Start = time.Since(started)

	cursors = make([]int, len(recvs))
	from := time.Now()
	for i := range devices {
		sender.n.x.LocalTable.Set(eid, companion.Device(name(i), companion.InUse, true))
	}
	ok := awaitCond(within, func() bool { return held(companion.InUse, cursors) == len(recvs) })
	res.Fanout, res.Bound, res.Held = time.Since(from), !ok, held(companion.InUse, cursors)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapPerNode = ms.HeapAlloc / uint64(nodes)
	return res, nil
}
