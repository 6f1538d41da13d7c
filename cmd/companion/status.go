package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/httpstatus"
)

// statusTimeout bounds the whole GET /status.
const statusTimeout = 30 * time.Second

// maxStatusBytes bounds what the command reads: 100,000 states are about
// 8 MB.
const maxStatusBytes = 256 << 20

// statusCommand is "companion status": it asks the running companion for
// /status on [companion] http_listen and prints it as tables, or as the
// JSON itself with --json.
func statusCommand(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("status", "usage: companion status --config FILE [--json] [--address HOST:PORT]", stderr)
	asJSON := fs.Bool("json", false, "print the JSON document as the companion serves it")
	address := fs.String("address", "", "ask this `HOST:PORT` instead of [companion] http_listen (for a listener on port 0)")
	if status, done := parseFlags(fs, path, args); done {
		return status
	}
	cfg, status := loadConfig(*path, stderr)
	if cfg == nil {
		return status
	}
	addr := *address
	if addr == "" {
		var err error
		if addr, err = dialAddress(cfg.Node.HTTPListen); err != nil {
			fmt.Fprintf(stderr, "companion status: %s: %v\n", cfg.File, err)
			return 1
		}
	}
	url := "http://" + addr + "/status"
	client := &http.Client{Timeout: statusTimeout}
	res, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "companion status: cannot reach the companion's status listener at %s (http_listen in %s): %v; is companion run going, with this file?\n", addr, cfg.File, err)
		return 1
	}
	defer res.Body.Close()
	body := io.LimitReader(res.Body, maxStatusBytes)
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "companion status: %s answered %s; is http_listen in %s a companion's status listener?\n", url, res.Status, cfg.File)
		return 1
	}
	if *asJSON {
		if _, err := io.Copy(stdout, body); err != nil {
			fmt.Fprintln(stderr, "companion status:", err)
			return 1
		}
		return 0
	}
	var st httpstatus.Status
	if err := json.NewDecoder(body).Decode(&st); err != nil {
		fmt.Fprintf(stderr, "companion status: %s did not answer a status document: %v\n", url, err)
		return 1
	}
	printStatus(stdout, &st)
	return 0
}

// dialAddress turns http_listen into an address to ask: a listener on
// every address is asked on loopback.
func dialAddress(listen string) (string, error) {
	if listen == "" {
		return "", errors.New(`http_listen = "": the status listener is off; set [companion] http_listen (default 127.0.0.1:9090) and restart the companion`)
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("http_listen %q: %v", listen, err)
	}
	if port == "0" {
		return "", fmt.Errorf("http_listen %q: port 0 is picked at start; the companion logs it (\"status listener\" address=...): pass it with --address", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), nil
}

// printStatus prints the document as tables. Names, reasons and errors
// may come from peers or from Asterisk: they are printed escaped.
func printStatus(w io.Writer, st *httpstatus.Status) {
	p := httpstatus.Printable
	fmt.Fprintf(w, "node %s, eid %s, version %s, at %s\n", p(st.Node), st.EID, p(st.Version), st.Time.Format(time.RFC3339))
	switch a := st.AMI; {
	case a == nil:
		fmt.Fprintln(w, "ami       not configured")
	case a.Connected && a.Since != nil:
		fmt.Fprintf(w, "ami       connected since %s (%s ago), %d reconnects\n", a.Since.Format(time.RFC3339), ago(st.Time, *a.Since), a.Reconnects)
	default:
		reason := ""
		if a.Reason != "" {
			reason = ": " + p(a.Reason)
		}
		fmt.Fprintf(w, "ami       not connected (%s%s), %d reconnects\n", p(a.State), reason, a.Reconnects)
	}
	for _, l := range st.Listeners {
		fmt.Fprintf(w, "sip       %s %s\n", l.Listener, upDown(l.Up))
	}
	if pr := st.Provision; pr != nil {
		fmt.Fprintf(w, "provision %d runs, %d failed", pr.Runs, pr.Failures)
		if pr.LastError != "" {
			fmt.Fprintf(w, "; last error: %s", p(pr.LastError))
		}
		fmt.Fprintln(w)
	}
	if f := st.Fleet; f != nil {
		printFleet(w, st.Time, f)
	}
	c := st.Counts
	fmt.Fprintf(w, "counts    events in: %d device, %d mailbox; from peers: %d states accepted, %d filtered, %d refused; written: %d ok, %d failed\n",
		c.DeviceEvents, c.MailboxEvents, c.StatesAccepted, c.StatesFiltered, c.Refused, c.WritesOK, c.WritesFailed)
	if st.Healthy {
		fmt.Fprintln(w, "health    ok")
	} else {
		for _, pr := range st.Problems {
			fmt.Fprintf(w, "health    %s\n", p(pr))
		}
	}
	for _, d := range st.Degraded {
		fmt.Fprintf(w, "degraded  %s\n", p(d))
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tEVENTS\tPUBLICATIONS\tQUEUED\tLAST SENT\tLAST ERROR\tHELD\tSTATES\tLAST RECEIVED")
	for _, peer := range st.Peers {
		var evs []string
		up, total, queued := 0, 0, 0
		var lastSent, lastErrAt time.Time
		lastErr := ""
		for _, pub := range peer.Publish {
			evs = append(evs, shortEvent(pub.Event))
			up += pub.PublicationsUp
			total += len(pub.Publications)
			queued += pub.Queued
			if pub.LastSent != nil && pub.LastSent.After(lastSent) {
				lastSent = *pub.LastSent
			}
			if pub.LastError != "" && (pub.LastErrorAt == nil || !pub.LastErrorAt.Before(lastErrAt)) {
				lastErr = pub.LastError
				if pub.LastErrorAt != nil {
					lastErrAt = *pub.LastErrorAt
				}
			}
		}
		events, pubs, q, sent := "-", "-", "-", "-"
		if len(evs) > 0 {
			events = strings.Join(evs, "+")
			if total > 0 {
				pubs = fmt.Sprintf("%d/%d", up, total)
			}
			q = fmt.Sprint(queued)
			sent = "never"
			if !lastSent.IsZero() {
				sent = ago(st.Time, lastSent) + " ago"
			}
		}
		errText := "-"
		if lastErr != "" {
			errText = cut(p(lastErr), 50)
		}
		held, states, received := "-", "-", "-"
		if r := peer.Receive; r != nil {
			n := 0
			for _, v := range r.Publications {
				n += v
			}
			held, states, received = fmt.Sprint(n), fmt.Sprint(r.States), "never"
			if r.LastReceived != nil {
				received = ago(st.Time, *r.LastReceived) + " ago"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p(peer.Name), events, pubs, q, sent, errText, held, states, received)
	}
	if len(st.Peers) == 0 {
		fmt.Fprintln(tw, "(no peers)")
	}
	tw.Flush()

	for _, o := range st.States {
		fmt.Fprintln(w)
		switch {
		case o.Local:
			fmt.Fprintf(w, "states of %s (this node)\n", o.Origin)
		case o.Peer == companion.FleetPeerName && st.Fleet != nil:
			fmt.Fprintf(w, "states of %s (from the fleet)\n", o.Origin)
		case o.Peer != "":
			fmt.Fprintf(w, "states of %s (from peer %s)\n", o.Origin, p(o.Peer))
		default:
			fmt.Fprintf(w, "states of %s (no peer holds it now)\n", o.Origin)
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "Device\tState")
		for _, d := range o.Devices {
			fmt.Fprintf(tw, "%s\t%s\n", p(d.Device), d.State)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d %s\n", len(o.Devices), plural(len(o.Devices), "device", "devices"))
		if len(o.Mailboxes) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "Mailbox\tNewMsg\tOldMsg")
			for _, m := range o.Mailboxes {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", p(m.Mailbox), m.New, m.Old)
			}
			tw.Flush()
		}
		fmt.Fprintf(w, "%d %s\n", len(o.Mailboxes), plural(len(o.Mailboxes), "mailbox", "mailboxes"))
	}
}

// printFleet prints the fleet link on one line: link, members, states,
// our keys; the ignored entries by reason and the last error when any.
func printFleet(w io.Writer, now time.Time, f *httpstatus.FleetStatus) {
	link := "in sync"
	switch {
	case !f.Connected:
		link = "DOWN"
	case f.SyncedAt != nil:
		link = "in sync since " + ago(now, *f.SyncedAt) + " ago"
	}
	fmt.Fprintf(w, "fleet     %s, %d %s, %d %s held; our keys: %d (%d pending), %d written, %d failed; %d purged",
		link, len(f.Members), plural(len(f.Members), "member", "members"), f.States, plural(f.States, "state", "states"),
		f.OurKeys, f.Pending, f.Written, f.Failed, f.Purged)
	var ignored []string
	for _, r := range slices.Sorted(maps.Keys(f.Ignored)) {
		if n := f.Ignored[r]; n > 0 {
			ignored = append(ignored, fmt.Sprintf("%s %d", httpstatus.Printable(r), n))
		}
	}
	if len(ignored) > 0 {
		fmt.Fprintf(w, "; ignored: %s", strings.Join(ignored, ", "))
	}
	if f.LastError != "" {
		fmt.Fprintf(w, "; last error: %s", cut(httpstatus.Printable(f.LastError), 80))
	}
	fmt.Fprintln(w)
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "DOWN"
}

func shortEvent(ev string) string {
	switch ev {
	case "asterisk-devicestate":
		return "device"
	case "asterisk-mwi":
		return "mwi"
	}
	return ev
}

// ago is d rounded for a person: 42s, 3m10s, 5h2m, 3d4h.
func ago(now, then time.Time) string {
	d := now.Sub(then)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
