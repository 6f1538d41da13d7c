package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/fleet"
)

// fleetBenchResult is what benchFleet measured.
type fleetBenchResult struct {
	Nodes, Devices, Burst int
	// Start is how long until every node held every other node's
	// devices, from the links' start.
	Start time.Duration
	// Burst is from the first of Burst changes on node 0 until the last
	// of the other nodes held them all; PerNode is when each got there.
	Fanout  time.Duration
	PerNode []time.Duration
	// HeapPerNode is the live heap after the burst, divided by the nodes
	// (the embedded NATS server included: an upper bound).
	HeapPerNode uint64
}

func (r fleetBenchResult) String() string {
	return fmt.Sprintf("fleet: %d nodes × %d devices, start %s, %d-change burst on one node converged on the %d others in %s, heap ≤ %.1f MiB per node",
		r.Nodes, r.Devices, r.Start.Round(time.Millisecond), r.Burst, r.Nodes-1, r.Fanout.Round(time.Millisecond), float64(r.HeapPerNode)/(1<<20))
}

// benchFleet runs nodes fleet links in this process against one embedded
// NATS server (loopback, JetStream in a temporary folder), each holding
// devices local devices, then changes burst devices of node 0 at once and
// waits, at most within, for the others to hold the new values. The
// companions' AMI and SIP sides are left out: this measures the fleet
// path (bucket writes, watches, remote tables), which is what grows with
// the number of nodes.
func benchFleet(ctx context.Context, nodes, devices, burst int, within time.Duration) (fleetBenchResult, error) {
	res := fleetBenchResult{Nodes: nodes, Devices: devices, Burst: burst}
	if burst > devices || nodes < 2 {
		return res, fmt.Errorf("want at least 2 nodes and burst ≤ devices")
	}
	dir, err := os.MkdirTemp("", "companion-bench-fleet-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	ns, err := startEmbeddedNATS(dir, 0)
	if err != nil {
		return res, err
	}
	defer ns.Shutdown()

	cfg := &companion.FleetConfig{
		NATSURLs: []string{ns.ClientURL()}, Bucket: "bench-state", Replicas: 1, PresenceTTL: 15 * time.Second,
		Publish: companion.FleetSwitches{DeviceState: true}, Accept: companion.FleetSwitches{DeviceState: true},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type benchNode struct {
		eid           companion.EntityID
		local, remote *companion.Table
	}
	members := make([]benchNode, nodes)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	name := func(n, i int) string { return fmt.Sprintf("PJSIP/n%02d-%05d", n, i) }
	name0 := func(i int) string { return name(0, i) }
	for n := range members {
		b := &members[n]
		b.eid = companion.EntityID{0x02, 0, 0, 0, byte(n >> 8), byte(n)}
		b.local, b.remote = companion.NewTable(), companion.NewTable()
		for i := range devices {
			b.local.Set(b.eid, companion.Device(name(n, i), companion.NotInUse, true))
		}
	}
	// cursors[m] is how many of node 0's burst devices node m was seen to
	// hold in the burst's state: a state, once there, stays, so each poll
	// looks only at what is left, and polling takes little of the CPU the
	// nodes are measured on.
	cursors := make([]int, nodes)
	allHeld := func(m int, st companion.DeviceState) bool {
		for n := range members {
			if n != m && members[m].remote.Len(members[n].eid) != devices {
				return false
			}
		}
		if st == companion.NotInUse || m == 0 {
			return true
		}
		return holdsFrom(members[m].remote, members[0].eid, burst, st, name0, &cursors[m])
	}
	wait := func(st companion.DeviceState, from time.Time, per []time.Duration) error {
		deadline := time.Now().Add(within)
		done := make([]bool, nodes)
		left := nodes
		for left > 0 {
			for m := range members {
				if !done[m] && allHeld(m, st) {
					done[m] = true
					left--
					if per != nil {
						per[m] = time.Since(from)
					}
				}
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%d of %d nodes not converged within %s", left, nodes, within)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	}

	started := time.Now()
	for n := range members {
		link := fleet.New(fleet.Options{Config: cfg, Self: members[n].eid, Local: members[n].local, Remote: members[n].remote})
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = link.Run(ctx)
		}()
	}
	if err := wait(companion.NotInUse, started, nil); err != nil {
		return res, fmt.Errorf("start: %w", err)
	}
	res.Start = time.Since(started)

	per := make([]time.Duration, nodes)
	from := time.Now()
	for i := range burst {
		members[0].local.Set(members[0].eid, companion.Device(name(0, i), companion.InUse, true))
	}
	if err := wait(companion.InUse, from, per); err != nil {
		return res, fmt.Errorf("burst: %w", err)
	}
	res.PerNode = per[1:]
	for _, d := range res.PerNode {
		res.Fanout = max(res.Fanout, d)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapPerNode = ms.HeapAlloc / uint64(nodes)
	return res, nil
}

// holdsFrom reports whether remote holds the first n devices of origin,
// named by name, in state st, checking from *cursor on and moving it past
// every device found there.
func holdsFrom(remote *companion.Table, origin companion.EntityID, n int, st companion.DeviceState, name func(int) string, cursor *int) bool {
	for ; *cursor < n; *cursor++ {
		e, ok := remote.Get(origin, companion.DeviceKey(name(*cursor)))
		if !ok || e.State.Device != st {
			return false
		}
	}
	return true
}

// benchFleetScenario is the bench's fleet scenario: the companion's
// figure is fleet mode (benchFleet), the baseline's the same fan-out over
// a SIP full mesh (benchMesh). Each reports the burst's fan-out and the
// heap per node.
func benchFleetScenario(o benchOptions, v variant) ([]measure, error) {
	n, d := o.fleetNodes, o.fleetDevices
	if !v.fifo {
		r, err := benchFleet(context.Background(), n, d, d, o.timeout)
		if err != nil {
			return nil, err
		}
		return []measure{
			{metric: "burst converged", unit: "s", value: r.Fanout.Seconds(),
				detail: fmt.Sprintf("%d nodes × %d devices, %d-change burst on one node, held by the %d others (fleet start %s)", n, d, d, n-1, r.Start.Round(time.Millisecond))},
			{metric: "heap per node", unit: "MiB", value: float64(r.HeapPerNode) / (1 << 20),
				detail: "each node holds every other node's devices; the NATS server included"},
		}, nil
	}
	r, err := benchMesh(o, n, d, o.cap, o.timeout)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("SIP mesh: 1 sender → %d peers (mesh start %s)", n-1, r.Start.Round(time.Millisecond))
	if r.Bound {
		detail += fmt.Sprintf("; %d of %d receivers held the burst at the bound", r.Held, n-1)
	}
	return []measure{
		{metric: "burst converged", unit: "s", value: r.Fanout.Seconds(), lower: r.Bound, detail: detail},
		{metric: "heap per node", unit: "MiB", value: float64(r.HeapPerNode) / (1 << 20), detail: "only the receivers hold states"},
	}, nil
}
