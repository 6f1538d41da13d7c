package companion

import (
	"fmt"
	"sync"
	"testing"
)

// A modify racing a removal of the same publication never leaves a state
// behind without a publication (the body used to be applied after the
// lock was released: 92 strays in 3,000 races).
func TestReceiverModifyRacingRemovalLeavesNoStrayState(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	strays := 0
	for i := range 3000 {
		eid := fmt.Sprintf("06:00:00:00:%02x:%02x", i>>8, i&255)
		first := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", eid))
		if first.Status != 200 {
			t.Fatalf("%d: %+v", i, first)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); g.send("a", ds, first.ETag, 60, devBody("PJSIP/y", "BUSY", eid)) }()
		go func() { defer wg.Done(); g.send("a", ds, first.ETag, 0, "") }()
		wg.Wait()
		if g.r.Publications() == 0 && g.remote.Len(eidOf(eid)) != 0 {
			strays++
		}
		// Whatever won, end with nothing before the next round.
		for _, tag := range g.tags() {
			g.send("a", ds, tag, 0, "")
		}
	}
	if strays != 0 {
		t.Errorf("%d of 3000 races left states without a publication", strays)
	}
}

func (g *secRig) tags() []string {
	g.r.mu.Lock()
	defer g.r.mu.Unlock()
	var out []string
	for _, p := range g.r.expiry {
		out = append(out, p.etag)
	}
	return out
}

// Two PUBLISHes naming the same entity tag at once (a retry overtaking
// the original) both find the publication; it ends with one current tag,
// the one answered last, and no data race (run with -race).
func TestReceiverConcurrentSameIfMatch(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	first := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0a"))
	var wg sync.WaitGroup
	answers := make([]Answer, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = g.send("a", ds, first.ETag, 60, devBody("PJSIP/x", "BUSY", "02:00:00:00:00:0a"))
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != 200 {
			t.Errorf("answer %d: %+v", i, a)
		}
	}
	if n := g.r.Publications(); n != 1 {
		t.Fatalf("%d publications, want 1", n)
	}
	cur := g.tags()[0]
	if cur != answers[0].ETag && cur != answers[1].ETag {
		t.Errorf("current tag %q is neither answer", cur)
	}
}

// A graceful stop clears what the peer asserted even when the 200 to its
// last refresh was lost: the removal names the tag the peer knows.
func TestReceiverRemovalAfterLostRefreshAnswer(t *testing.T) {
	ds := string(EventDeviceState)
	g := newSecRig(t, nil)
	known := g.send("a", ds, "", 60, devBody("PJSIP/x", "INUSE", "02:00:00:00:00:0a")).ETag
	g.send("a", ds, known, 60, "") // refreshed; its answer never arrives
	if a := g.send("a", ds, known, 0, ""); a.Status != 200 {
		t.Fatalf("removal naming the tag the peer knows: %+v", a)
	}
	if g.r.Publications() != 0 || g.total() != 0 {
		t.Errorf("left behind: %d publications, %d states", g.r.Publications(), g.total())
	}
}
