package companion

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// asteriskDouble is an Applier recording what it is told to write.
type asteriskDouble struct {
	mu      sync.Mutex
	calls   []string
	devices map[string]DeviceState
	boxes   map[string]string
	fail    func(call string) error
}

func newAsteriskDouble() *asteriskDouble {
	return &asteriskDouble{devices: map[string]DeviceState{}, boxes: map[string]string{}}
}

func (d *asteriskDouble) ApplyDevice(_ context.Context, name string, s DeviceState) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	call := "device " + name + " " + s.String()
	d.calls = append(d.calls, call)
	if d.fail != nil {
		if err := d.fail(call); err != nil {
			return err
		}
	}
	d.devices[name] = s
	return nil
}

func (d *asteriskDouble) ApplyMailbox(_ context.Context, id MailboxID, old, new int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	call := fmt.Sprintf("mailbox %s %d/%d", id, old, new)
	d.calls = append(d.calls, call)
	if d.fail != nil {
		if err := d.fail(call); err != nil {
			return err
		}
	}
	d.boxes[id.String()] = fmt.Sprintf("%d/%d", old, new)
	return nil
}

func (d *asteriskDouble) device(name string) DeviceState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.devices[name]
}

func (d *asteriskDouble) box(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.boxes[id]
}

func (d *asteriskDouble) count(prefix string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func startApply(t *testing.T, a *Apply) func() {
	return runInBackground(t, "apply", func(ctx context.Context) { a.Run(ctx) })
}

var applyCfg = ApplyConfig{DeviceState: ApplyAMI, DeviceName: "Custom:{device}", MailboxState: ApplyAMI, ClearDeviceState: Unavailable}

func TestApplyWritesNewestAndClearsWhenPeersLeave(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	echoes := NewEchoes(applyCfg.DeviceName)
	peerB, peerC := mustEIDv("02:00:00:00:00:02"), mustEIDv("02:00:00:00:00:03")
	a := NewApply(applyCfg, remote, d, d, echoes, func(EntityID) string { return "p" }, ApplyOptions{})
	stop := startApply(t, a)
	defer stop()

	remote.Set(peerB, Device("PJSIP/alice", InUse, true))
	waitFor(t, "alice INUSE", func() bool { return d.device("Custom:PJSIP/alice") == InUse })
	remote.Set(peerC, Device("PJSIP/alice", Ringing, true))
	waitFor(t, "the newer peer wins", func() bool { return d.device("Custom:PJSIP/alice") == Ringing })
	remote.Delete(peerC, DeviceKey("PJSIP/alice"))
	waitFor(t, "the remaining peer's value back", func() bool { return d.device("Custom:PJSIP/alice") == InUse })
	remote.DeleteOrigin(peerB)
	waitFor(t, "cleared", func() bool { return d.device("Custom:PJSIP/alice") == Unavailable })

	mb := MailboxID{Box: "100", Context: "default"}
	remote.Set(peerB, Mailbox(mb, 1, 2))
	waitFor(t, "mailbox", func() bool { return d.box("100@default") == "1/2" })
	remote.Replace(peerB, KindMailbox, nil)
	waitFor(t, "mailbox cleared", func() bool { return d.box("100@default") == "0/0" })

	if !echoes.Device("Custom:alice") && !echoes.Mailbox(mb, 0, 0) {
		t.Error("writes not recorded as echoes")
	}
	if !echoes.Mailbox(mb, 1, 2) {
		t.Error("mailbox write not recorded as an echo")
	}
}

func TestApplyRetriesWhileCurrent(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	var mu sync.Mutex
	failing := true
	d.fail = func(call string) error {
		mu.Lock()
		defer mu.Unlock()
		if failing && strings.HasSuffix(call, "BUSY") {
			return errors.New("Response: Error")
		}
		return nil
	}
	peer := mustEIDv("02:00:00:00:00:02")
	a := NewApply(applyCfg, remote, d, d, NewEchoes(""), func(EntityID) string { return "p" }, ApplyOptions{MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	stop := startApply(t, a)
	defer stop()
	remote.Set(peer, Device("PJSIP/a", Busy, true))
	waitFor(t, "retries", func() bool { return d.count("device Custom:PJSIP/a BUSY") >= 3 })
	// Superseded: the failing value is not retried any more.
	remote.Set(peer, Device("PJSIP/a", NotInUse, true))
	waitFor(t, "newer value", func() bool { return d.device("Custom:PJSIP/a") == NotInUse })
	n := d.count("device Custom:PJSIP/a BUSY")
	time.Sleep(20 * time.Millisecond) // ten retry periods
	if d.count("device Custom:PJSIP/a BUSY") != n {
		t.Error("a superseded value was retried")
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	remote.Set(peer, Device("PJSIP/a", Busy, true))
	waitFor(t, "busy once Asterisk accepts", func() bool { return d.device("Custom:PJSIP/a") == Busy })
}

func TestApplyUnsupportedIsNotRetriedUntilReapply(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	var mu sync.Mutex
	unsupported := true
	d.fail = func(call string) error {
		mu.Lock()
		defer mu.Unlock()
		if unsupported && strings.HasPrefix(call, "mailbox") {
			return fmt.Errorf("MWIUpdate: %w", ErrUnsupported)
		}
		return nil
	}
	peer := mustEIDv("02:00:00:00:00:02")
	a := NewApply(applyCfg, remote, d, d, NewEchoes(""), func(EntityID) string { return "p" }, ApplyOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond})
	stop := startApply(t, a)
	defer stop()
	remote.Set(peer, Mailbox(MailboxID{Box: "1"}, 0, 1))
	remote.Set(peer, Mailbox(MailboxID{Box: "2"}, 0, 1))
	remote.Set(peer, Device("PJSIP/a", Busy, true))
	waitFor(t, "device still applied", func() bool { return d.device("Custom:PJSIP/a") == Busy })
	time.Sleep(20 * time.Millisecond)
	if n := d.count("mailbox"); n != 1 {
		t.Errorf("%d MWIUpdate attempts, want 1 (unsupported is permanent)", n)
	}
	mu.Lock()
	unsupported = false
	mu.Unlock()
	a.Reapply(KindDevice)
	time.Sleep(20 * time.Millisecond) // a device reapply must not retry mailboxes
	if n := d.count("mailbox"); n != 1 {
		t.Errorf("%d MWIUpdate attempts after a device reapply, want 1", n)
	}
	a.Reapply(KindMailbox)
	waitFor(t, "mailboxes after reapply", func() bool { return d.box("1") == "0/1" && d.box("2") == "0/1" })
}

func TestApplyShortensLongNamesDeterministically(t *testing.T) {
	a := NewApply(applyCfg, NewTable(), nil, nil, NewEchoes(""), func(EntityID) string { return "" }, ApplyOptions{})
	long := "Custom:PJSIP/" + strings.Repeat("é", 50)
	s1, s2 := a.deviceName(long), a.deviceName(long+"x")
	if len(s1) > MaxDeviceNameLength || len(s2) > MaxDeviceNameLength || s1 == s2 || s1 != a.deviceName(long) {
		t.Errorf("shortened %q (%d) and %q (%d)", s1, len(s1), s2, len(s2))
	}
	if !strings.HasPrefix(s1, "Custom:PJSIP/é") || !strings.Contains(s1, "~") {
		t.Errorf("shortened %q", s1)
	}
	if short := "Custom:" + strings.Repeat("a", 72); a.deviceName(short) != short {
		t.Error("a 79-byte name was changed")
	}
}

// Peers coming and going with ever new names leave nothing behind in
// Apply once their states are cleared, and Echoes stays bounded.
func TestApplyForgetsWhatDepartedPeersPutThere(t *testing.T) {
	remote := NewTable()
	d := newAsteriskDouble()
	echoes := NewEchoes("Custom:{device}")
	a := NewApply(applyCfg, remote, d, d, echoes, func(EntityID) string { return "p" }, ApplyOptions{})
	stop := startApply(t, a)
	const n = 300
	for i := range n {
		origin := EntityID{2, 0, 0, 0, byte(i >> 8), byte(i)}
		name := fmt.Sprintf("PJSIP/%d-%s", i, strings.Repeat("x", 80)) // long: warned about and shortened
		remote.Set(origin, Device(name, InUse, true))
		remote.Set(origin, Mailbox(MailboxID{Box: fmt.Sprint(i), Context: "default"}, 0, 1))
	}
	waitFor(t, "all written", func() bool { return d.count("mailbox ") >= n })
	for i := range n {
		remote.DeleteOrigin(EntityID{2, 0, 0, 0, byte(i >> 8), byte(i)})
	}
	waitFor(t, "all cleared", func() bool { return d.count("mailbox ") >= 2*n && d.count("device ") >= 2*n })
	stop()
	if len(a.at)+len(a.sources)+len(a.want)+len(a.written)+len(a.retryAt)+len(a.failures)+len(a.warnedLong) != 0 {
		t.Errorf("left behind: at %d, sources %d, want %d, written %d, retryAt %d, failures %d, warnedLong %d",
			len(a.at), len(a.sources), len(a.want), len(a.written), len(a.retryAt), len(a.failures), len(a.warnedLong))
	}
	// The cleared names are still echoes (their last write may echo), and
	// bounded.
	if !echoes.Mailbox(MailboxID{Box: "0", Context: "default"}, 0, 0) {
		t.Error("a released mailbox is no longer an echo")
	}
	if len(echoes.released) != 2*n {
		t.Errorf("%d released names remembered, want %d", len(echoes.released), 2*n)
	}
}

func TestEchoesReleasedAreBounded(t *testing.T) {
	e := NewEchoes("")
	for i := range echoReleased + 500 {
		name := fmt.Sprintf("Custom:%d", i)
		e.WroteDevice(name, InUse)
		e.ReleaseDevice(name)
		id := MailboxID{Box: fmt.Sprint(i)}
		e.WroteMailbox(id, 0, 0)
		e.ReleaseMailbox(id)
	}
	if len(e.devices) > echoReleased || len(e.mailboxes) > echoReleased || len(e.released) > echoReleased {
		t.Errorf("%d devices, %d mailboxes, %d released kept; bound %d", len(e.devices), len(e.mailboxes), len(e.released), echoReleased)
	}
	if e.Device("Custom:0") || !e.Device(fmt.Sprintf("Custom:%d", echoReleased+499)) {
		t.Error("the oldest release should be forgotten and the newest kept")
	}
	// Written again after its release: no longer the release's to forget.
	e.WroteDevice("Custom:keep", InUse)
	e.ReleaseDevice("Custom:keep")
	e.WroteDevice("Custom:keep", InUse)
	for i := range echoReleased {
		e.WroteDevice(fmt.Sprintf("Custom:more%d", i), InUse)
		e.ReleaseDevice(fmt.Sprintf("Custom:more%d", i))
	}
	if !e.Device("Custom:keep") {
		t.Error("a name written again was forgotten with its old release")
	}
}

// BenchmarkApplyRewrite is the rewrite after an AMI reconnect, with one
// device per origin: it must grow no worse than n log n in the origins.
func BenchmarkApplyRewrite(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			remote := NewTable()
			for i := range n {
				remote.Set(EntityID{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}, Device(fmt.Sprintf("PJSIP/%d", i), InUse, true))
			}
			d := newAsteriskDouble()
			a := NewApply(applyCfg, remote, d, d, NewEchoes(applyCfg.DeviceName), func(EntityID) string { return "p" }, ApplyOptions{})
			a.rewrite(KindDevice)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				a.rewrite(KindDevice)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/origin")
		})
	}
}
