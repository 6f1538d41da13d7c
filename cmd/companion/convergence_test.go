package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/astcompanion/sidecar/cmd/companion/internal/faultnet"
)

// Convergence under faults: the product's promise is that once faults
// stop, every peer holds the newest value of every key, and a departed
// peer's states are cleared. Each scenario runs two companions as child
// processes, each beside a simulated Asterisk holding 2,000 devices and
// 200 mailboxes of its own (plus their MWI: twins) that change
// throughout, and ends with every key equal on both sides.

// convergeBound bounds every wait for convergence. It is generous on
// purpose (a loaded 2-core CI machine under -race): the measured times,
// logged, are a few seconds.
const convergeBound = 60 * time.Second

func TestConvergeAfterLossReorderDuplication(t *testing.T) {
	leakCheck(t)
	p := newPair(t, pairOptions{expiration: 10, seed: 1})
	converge(t, "initial sync", convergeBound, p.converged)

	// faultWindow is how long the link misbehaves, in both directions.
	const faultWindow = 10 * time.Second
	p.churn()
	p.link.SetBoth(faultnet.Faults{Loss: 0.3, Reorder: 0.2, ReorderBy: 40 * time.Millisecond, Duplicate: 0.1, Jitter: 5 * time.Millisecond})
	time.Sleep(faultWindow)
	p.link.Heal()
	p.settle(t, "after healing")

	// Backoff keeps the traffic in the window small (a few dozen
	// datagrams each way): each fault is asked of both directions together.
	var dropped, duplicated, reordered uint64
	for _, d := range []faultnet.LinkDir{faultnet.AtoB, faultnet.BtoA} {
		c := p.link.Counters(d)
		t.Logf("%v: %+v", d, c)
		if c.Dropped == 0 {
			t.Errorf("%v: the link dropped nothing: %+v", d, c)
		}
		dropped, duplicated, reordered = dropped+c.Dropped, duplicated+c.Duplicated, reordered+c.Reordered
	}
	if duplicated == 0 || reordered == 0 {
		t.Errorf("the link did not duplicate and reorder: %d duplicated, %d reordered", duplicated, reordered)
	}
	p.noEchoes(t)
	termAll(t, p.a.proc, p.b.proc)
}

// TestConvergeAfterKillAndExpiry: ast1's companion dies (SIGKILL: no
// removal), ast2 clears its states when the publications expire
// (expiration 5 s, kept 15 s past it), and when it comes back with
// nothing but what its Asterisk tells it, ast2 gets every newest value
// back, states changed while it was dead included.
func TestConvergeAfterKillAndExpiry(t *testing.T) {
	leakCheck(t)
	// expiration 5 s (refreshed every 2.5 s): cleared at most 5 + 15 s
	// after the last refresh.
	// One publication per event (max_in_flight = 1): the counts below
	// are per publication.
	p := newPair(t, pairOptions{expiration: 5, seed: 2, publish: "max_in_flight = 1"})
	converge(t, "initial sync", convergeBound, p.converged)
	p.churn()
	time.Sleep(time.Second)

	p.a.proc.kill()
	converge(t, "ast1's states cleared on ast2 once its publications expired", convergeBound, func() (bool, string) {
		n, d := p.a.work.mismatches(p.b.ast, true)
		return n == 0, d
	})
	if got := strings.Count(p.b.proc.log.String(), `msg="publication expired" part=receiver peer=ast1`); got != 2 {
		t.Errorf("ast2 logged %d expired publications of ast1, want 2 (one per event)", got)
	}

	p.a.proc.start()
	time.Sleep(time.Second) // still changing on both sides
	p.settle(t, "after ast1's restart")
	p.noEchoes(t)
	termAll(t, p.a.proc, p.b.proc)
}

// TestConvergeAcrossAMIOutage: ast1's Asterisk stops (a Shutdown event,
// the manager port closed) in the middle of changes on both sides, comes
// back, then drops its manager session once more without a word, in the
// middle of a burst. Its companion reconnects, reads the state again and
// writes the remote state again: no value stays stuck on either side.
func TestConvergeAcrossAMIOutage(t *testing.T) {
	leakCheck(t)
	p := newPair(t, pairOptions{expiration: 10, reconnect: "200ms", seed: 3})
	converge(t, "initial sync", convergeBound, p.converged)
	p.churn()
	ast := p.a.ast
	// amigo races with itself (README, Known limitations) when a session
	// ends before its first keepalive, 5 s after login: every session is
	// ended only after it.
	untilWithin(t, keepaliveWait, "the first AMI session's keepalive", func() bool { return ast.keptAlive(1) })

	// amiDown is how long ast1's manager interface stays away.
	const amiDown = 2 * time.Second
	ast.stopListening()
	if n := ast.shutdown(); n != 1 {
		t.Fatalf("the Shutdown event went to %d sessions, want 1", n)
	}
	time.Sleep(amiDown)
	if err := ast.listenAgain(); err != nil {
		t.Fatal(err)
	}
	untilWithin(t, keepaliveWait, "the second AMI session's keepalive", func() bool { return ast.keptAlive(2) })
	p.a.work.burst(200) // mid-burst, the session ends: a crash
	ast.dropSessions()
	p.a.work.burst(200)
	untilWithin(t, keepaliveWait, "the third AMI session's snapshot", func() bool {
		return ast.loginCount() == 3 && strings.Count(p.a.proc.log.String(), `msg="AMI mailbox states read"`) == 3
	})
	time.Sleep(time.Second) // still changing on both sides
	p.settle(t, "after the AMI outages")
	if !strings.Contains(p.a.proc.log.String(), "Asterisk is shutting down") {
		t.Error("ast1's companion did not see the Shutdown event")
	}
	p.noEchoes(t)
	untilWithin(t, keepaliveWait, "the third AMI session's keepalive", func() bool { return ast.keptAlive(3) })
	termAll(t, p.a.proc, p.b.proc)
}

// TestGracefulStopClearsDespiteLostRefreshAnswer: the link loses ast2's
// 200 to each of ast1's last refreshes (and its retransmissions), so ast1
// still names the old entity tag when SIGTERM makes it remove its
// publications. ast2 accepts the tag its sender named last, so the
// removals find the publications and clear every state of ast1 at once,
// not when they expire.
func TestGracefulStopClearsDespiteLostRefreshAnswer(t *testing.T) {
	leakCheck(t)
	// One publication per event (max_in_flight = 1): the counts below
	// are per publication.
	p := newPair(t, pairOptions{expiration: 10, seed: 4, publish: "max_in_flight = 1"})
	p.churn()
	time.Sleep(time.Second)
	p.stopChurn()
	p.a.work.burst(200)
	converge(t, "initial sync", convergeBound, p.converged)

	lost := newRefreshAnswerDropper()
	p.link.Set(faultnet.AtoB, faultnet.Faults{Drop: lost.observe})
	p.link.Set(faultnet.BtoA, faultnet.Faults{Drop: lost.drop})
	// Both publications refresh 5 s after their last 200.
	converge(t, "the answers to both publications' refreshes lost", convergeBound, func() (bool, string) {
		n := lost.publications()
		return n == 2, fmt.Sprintf("%d publications lost a refresh answer", n)
	})

	sigterm := time.Now()
	p.a.proc.term()
	converge(t, "ast1's states cleared on ast2 by the removals", convergeBound, func() (bool, string) {
		n, d := p.a.work.mismatches(p.b.ast, true)
		return n == 0, d
	})
	t.Logf("ast1's states cleared on ast2 %v after SIGTERM (its publications would expire 25 s after their last refresh)", time.Since(sigterm).Round(time.Millisecond))
	blog := p.b.proc.log.String()
	if strings.Contains(blog, `msg="publication expired"`) {
		t.Errorf("ast2 cleared ast1's states by expiry, not by the removals:\n%s", tail(blog, 20))
	}
	if got := strings.Count(blog, `msg="publication removed" part=receiver peer=ast1`); got != 2 {
		t.Errorf("ast2 logged %d removals by ast1, want 2", got)
	}
	if got := strings.Count(p.a.proc.log.String(), `msg="publication removed"`); got != 2 {
		t.Errorf("ast1 logged %d accepted removals, want 2", got)
	}
	p.link.Heal()
	p.noEchoes(t)
	p.b.proc.kill() // ast1 is gone: a graceful stop would wait out its removals
}

// TestConvergeAfterPeerFallsSilent: ast1's companion stops answering
// (the link drops everything both ways: a crash or a cut cable, no
// Expires: 0). ast2's qualify clears ast1's states within its bound, not
// at the publications' expiry; when the link is back, ast1's states come
// back with ast2's refresh request, newest values included.
func TestConvergeAfterPeerFallsSilent(t *testing.T) {
	leakCheck(t)
	// 1 s × 2 probes + 1 s: cleared at most 3 s after ast1 fell silent;
	// its publications would live 3,600 s.
	p := newPair(t, pairOptions{expiration: 3600, seed: 6, accept: "qualify_frequency = \"1s\"\nqualify_attempts = 2"})
	converge(t, "initial sync", convergeBound, p.converged)
	p.churn()
	cut := faultnet.Faults{Loss: 1}
	p.link.SetBoth(cut)
	silent := time.Now()
	converge(t, "ast1's states cleared on ast2 by qualify", convergeBound, func() (bool, string) {
		n, d := p.a.work.mismatches(p.b.ast, true)
		return n == 0, d
	})
	t.Logf("ast1's states cleared %v after it fell silent (qualify drops them within 3 s; then 2,400 writes to the simulated Asterisk)", time.Since(silent).Round(time.Millisecond))
	if !strings.Contains(p.b.proc.log.String(), "stopped answering OPTIONS") {
		t.Error("ast2 did not log that ast1 stopped answering")
	}
	p.link.Heal()
	time.Sleep(time.Second) // still changing on both sides
	p.settle(t, "after the link is back")
	p.noEchoes(t)
	termAll(t, p.a.proc, p.b.proc)
}

// TestRestartBesidePeerMailboxes: ast1's companion is killed and
// restarts beside an Asterisk holding ast2's mailboxes it wrote
// (MWIUpdate) and their res_mwi_devstate twins MWI:<mailbox>. Its ledger
// keeps it from taking them for its own and publishing them back to ast2,
// which would write them over its own mailboxes (found by this harness).
func TestRestartBesidePeerMailboxes(t *testing.T) {
	leakCheck(t)
	p := newPair(t, pairOptions{expiration: 10, seed: 5})
	converge(t, "initial sync", convergeBound, p.converged)
	p.a.proc.kill()
	p.a.proc.start()
	p.b.work.burst(200)
	converge(t, "after ast1's restart", convergeBound, p.converged)
	p.noEchoes(t)
	termAll(t, p.a.proc, p.b.proc)
}

// settle stops the churn, ends with a last burst of changes on both sides
// (newest values that must arrive) and waits until every key is equal.
func (p *pair) settle(t *testing.T, what string) {
	t.Helper()
	p.stopChurn()
	p.a.work.burst(200)
	p.b.work.burst(200)
	converge(t, what, convergeBound, p.converged)
}

// A normal start of two companions beside their Asterisks, and their first
// exchange, log no warning and no error: an admin reading the journal
// after a deploy sees nothing that reads as a failure.
func TestNormalStartLogsNoWarning(t *testing.T) {
	leakCheck(t)
	p := newPair(t, pairOptions{expiration: 60, seed: 7})
	converge(t, "initial sync", convergeBound, p.converged)
	for _, s := range []*side{p.a, p.b} {
		if !strings.Contains(s.proc.log.String(), "level=INFO msg=running") {
			t.Fatalf("%s: its log was not captured:\n%s", s.name, s.proc.log.String())
		}
		for _, line := range strings.Split(s.proc.log.String(), "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				t.Errorf("%s logged on a normal start: %s", s.name, line)
			}
		}
	}
}
