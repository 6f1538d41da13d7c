package faultnet

// LinkDir is a direction between the two endpoints of a Link.
type LinkDir int

const (
	// AtoB is what A sends to B: A's requests and A's answers to B.
	AtoB LinkDir = iota
	// BtoA is what B sends to A: B's requests and B's answers to A.
	BtoA
)

func (d LinkDir) String() string {
	if d == BtoA {
		return "B→A"
	}
	return "A→B"
}

// Link joins two endpoints A and B through two UDPRelays: A sends to ToB
// to reach B, B sends to ToA to reach A, and each side's answers return
// the way the request came. Faults are set by LinkDir, so that AtoB
// covers A's requests to B and A's answers to B's requests alike.
type Link struct {
	toB, toA *UDPRelay
}

// NewLink relays between the UDP endpoints a and b ("host:port", on
// loopback); seed seeds both relays' decisions.
func NewLink(a, b string, seed uint64) (*Link, error) {
	toB, err := NewUDPRelay("", b, seed)
	if err != nil {
		return nil, err
	}
	toA, err := NewUDPRelay("", a, seed+1)
	if err != nil {
		toB.Close()
		return nil, err
	}
	return &Link{toB: toB, toA: toA}, nil
}

// ToB is the address A sends to in order to reach B.
func (l *Link) ToB() string { return l.toB.Addr() }

// ToA is the address B sends to in order to reach A.
func (l *Link) ToA() string { return l.toA.Addr() }

// ToBPort and ToAPort are the ports of ToB and ToA.
func (l *Link) ToBPort() int { return l.toB.Port() }
func (l *Link) ToAPort() int { return l.toA.Port() }

// parts are the relay directions that carry d.
func (l *Link) parts(d LinkDir) [2]struct {
	r *UDPRelay
	d Dir
} {
	type part = struct {
		r *UDPRelay
		d Dir
	}
	if d == AtoB {
		return [2]part{{l.toB, Forward}, {l.toA, Back}}
	}
	return [2]part{{l.toA, Forward}, {l.toB, Back}}
}

// Set sets the faults of direction d, replacing the previous ones.
func (l *Link) Set(d LinkDir, f Faults) {
	for _, p := range l.parts(d) {
		p.r.Set(p.d, f)
	}
}

// SetBoth sets the same faults in both directions.
func (l *Link) SetBoth(f Faults) {
	l.Set(AtoB, f)
	l.Set(BtoA, f)
}

// Heal turns every fault off in both directions.
func (l *Link) Heal() {
	l.toB.Heal()
	l.toA.Heal()
}

// Counters is what the link did so far in direction d.
func (l *Link) Counters(d LinkDir) Counters {
	var c Counters
	for _, p := range l.parts(d) {
		c.add(p.r.Counters(p.d))
	}
	return c
}

// Close stops both relays.
func (l *Link) Close() error {
	err := l.toB.Close()
	if err2 := l.toA.Close(); err == nil {
		err = err2
	}
	return err
}
