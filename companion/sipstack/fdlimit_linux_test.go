//go:build linux

package sipstack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	fdHelperEnv = "SIPSTACK_FD_HELPER"
	fdLimit     = 64
)

// TestHelperFDLimit is the child of TestFDExhaustion, not a test of its
// own: with a file descriptor limit of fdLimit it serves a TCP listener
// whose caps are above the limit, prints the port, and prints its Stats
// for every line on its stdin until one says stop.
func TestHelperFDLimit(t *testing.T) {
	if os.Getenv(fdHelperEnv) != "1" {
		t.Skip("run by TestFDExhaustion")
	}
	lim := syscall.Rlimit{Cur: fdLimit, Max: fdLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	st := newStack(t, Options{MaxConns: 10 * fdLimit, MaxConnsPerSource: 10 * fdLimit}, "tcp")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- st.Serve(ctx, &script{}) }()
	waitServing(t, st)
	fmt.Printf("PORT %d\n", addr(t, st, "tcp").Port())

	printStats := func() {
		s := st.Stats()
		fmt.Printf("STATS accept_errors=%d restarts=%d\n", s.AcceptErrors, s.ListenerRestarts)
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "stop" {
		printStats()
	}
	select {
	case err := <-errc:
		t.Fatalf("Serve returned: %v", err)
	default:
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	printStats()
}

// With file descriptors exhausted by connections, the listener waits and
// goes on accepting: once they are closed a PUBLISH is answered, and the
// process (run as a child with a low limit) is alive until told to stop.
func TestFDExhaustion(t *testing.T) {
	if os.Getenv(fdHelperEnv) != "" {
		t.Skip("in the child")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperFDLimit$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), fdHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		for out.Scan() {
			lines <- out.Text()
		}
	}()
	next := func(prefix string) string {
		t.Helper()
		timer := time.NewTimer(20 * time.Second)
		defer timer.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the child ended before printing %s", prefix)
				}
				if rest, found := strings.CutPrefix(l, prefix); found {
					return rest
				}
			case <-timer.C:
				t.Fatalf("the child printed no %s", prefix)
			}
		}
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	var port uint16
	if _, err := fmt.Sscan(next("PORT "), &port); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)

	// Twice the limit: the child runs out of descriptors; connections
	// past it wait in the listen backlog.
	var conns []net.Conn
	for range 2 * fdLimit {
		c, err := net.DialTimeout("tcp", to.String(), wait)
		if err != nil {
			t.Logf("dial %d: %v", len(conns), err)
			break
		}
		conns = append(conns, c)
	}
	if len(conns) <= fdLimit {
		t.Fatalf("only %d connections opened", len(conns))
	}
	stats := func(cmd string) (acceptErrors, restarts int) {
		t.Helper()
		if _, err := fmt.Fprintln(stdin, cmd); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscanf(next("STATS "), "accept_errors=%d restarts=%d", &acceptErrors, &restarts); err != nil {
			t.Fatal(err)
		}
		return acceptErrors, restarts
	}
	// The child accepts what it can until it runs out of descriptors.
	for i := 0; ; i++ {
		if n, _ := stats("stats"); n > 0 {
			break
		}
		if i == 500 {
			t.Fatal("the child never ran out of descriptors")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range conns {
		_ = c.Close()
	}

	peer := dialTCP(t, to)
	peer.send(publish(ruri("r", to), "127.0.0.1:1", "TCP", []string{"Event: asterisk-mwi"}, ""))
	if res, err := peer.response(); err != nil || res.StatusCode != 200 {
		t.Fatalf("after the flood: %v %v", res, err)
	}

	acceptErrors, restarts := stats("stop")
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the child: %v", err)
	}
	t.Logf("the child with %d descriptors survived %d connections: %d accept errors waited out, %d listener restarts",
		fdLimit, len(conns), acceptErrors, restarts)
}
