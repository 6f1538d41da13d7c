// Command companion runs the Asterisk state companion and checks its
// configuration.
//
// It owns flags, subcommands, signals and process lifetime, and is the
// only package that wires the others together: companion/config loads the
// file, ami/, ari/ and companion/sipstack connect to Asterisk and to the
// peers, companion.Exchange runs between them, companion/provision pushes
// the [[sorcery]] objects. The demo's simulated Asterisk lives here too.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/config"
	"github.com/astcompanion/sidecar/companion/sipstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: companion <command> [flags]

commands:
  check-config --config FILE   validate FILE and print what it configures
  run --config FILE            run the companion
  provision --config FILE      plan or apply [[sorcery]] objects through ARI
  migrate --pjsip FILE         write the companion TOML for a pjsip.conf's res_pjsip_publish_asterisk setup
  status --config FILE [--json]  ask the running companion for its peers and states
  demo                         two companions beside two simulated Asterisks, on loopback
  bench [--quick] [--json]     measure the companion against a native-like publisher, on loopback
  version                      print the version and the VCS revision it was built from
  help                         print this help
`

// run is main without the process: it returns the exit status (0 ok,
// 1 bad configuration, 2 bad usage).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "check-config":
		return checkConfig(rest, stdout, stderr)
	case "run":
		return daemon(rest, stdout, stderr)
	case "provision":
		return provisionCommand(rest, stdout, stderr)
	case "migrate":
		return migrateCommand(rest, stdout, stderr)
	case "status":
		return statusCommand(rest, stdout, stderr)
	case "demo":
		return demo(rest, stdout, stderr)
	case "bench":
		return bench(rest, stdout, stderr)
	case "version", "--version", "-version":
		return printVersion(stdout)
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "companion: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("check-config", "usage: companion check-config --config FILE", stderr)
	if status, done := parseFlags(fs, path, args); done {
		return status
	}
	cfg, status := loadConfig(*path, stderr)
	if cfg == nil {
		return status
	}
	summarize(stdout, cfg)
	return 0
}

// newFlags is the flag set of a subcommand that reads a --config file.
func newFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `FILE` (TOML)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs, path
}

// parseFlags parses args; done means the command ends now with status:
// 0 after -help, 2 on bad usage (including a missing --config).
func parseFlags(fs *flag.FlagSet, path *string, args []string) (status int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2, true
	}
	return 0, false
}

// loadConfig reads path and prints every error to stderr; on failure it
// returns nil and the exit status (1).
func loadConfig(path string, stderr io.Writer) (*companion.Config, int) {
	cfg, err := config.Load(path)
	var errs companion.ConfigErrors
	switch {
	case errors.As(err, &errs):
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		if cfg != nil {
			for _, w := range cfg.Warnings {
				fmt.Fprintln(stderr, "warning:", w)
			}
		}
		fmt.Fprintf(stderr, "%s: %d %s\n", path, len(errs), plural(len(errs), "error", "errors"))
		return nil, 1
	case err != nil:
		// os errors name the file and the cause, never its contents.
		fmt.Fprintln(stderr, "companion:", err)
		return nil, 1
	}
	return cfg, 0
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// summarize prints what the configuration sets up, never a secret.
func summarize(w io.Writer, cfg *companion.Config) {
	fmt.Fprintf(w, "%s: OK\n", cfg.File)
	eid := cfg.Node.EID.String()
	if cfg.Node.EIDAuto() {
		eid = "auto (read from the local Asterisk over ARI)"
	}
	fmt.Fprintf(w, "node      %s, eid %s\n", cfg.Node.Name, eid)
	listen := "none (sends only)"
	if len(cfg.Node.SIPListen) > 0 {
		var ls []string
		for _, l := range cfg.Node.SIPListen {
			ls = append(ls, l.String())
		}
		listen = strings.Join(ls, ", ")
	}
	fmt.Fprintf(w, "listen    %s\n", listen)
	if len(cfg.Node.SIPListen) > 0 {
		n := cfg.Node
		fmt.Fprintf(w, "  bounds  tcp/tls: %d connections, %d per source address, %s to read a message, %s idle\n",
			or(n.SIPMaxConnections, sipstack.DefaultMaxConns), or(n.SIPMaxConnectionsPerSource, sipstack.DefaultMaxConnsPerSource),
			or(n.SIPMessageTimeout, sipstack.DefaultMessageTimeout), or(n.SIPIdleTimeout, sipstack.DefaultIdleTimeout))
	}
	if cfg.Node.HTTPListen == "" {
		fmt.Fprintf(w, "http      off (http_listen = \"\")\n")
	} else {
		fmt.Fprintf(w, "http      %s: /metrics /healthz /readyz /status\n", cfg.Node.HTTPListen)
	}
	printStatePaths(w, cfg)
	if a := cfg.AMI; a != nil {
		fmt.Fprintf(w, "ami       %s as %s (secret %s), reconnect every %s\n", a.Address, a.Username, a.Secret.Source(), a.ReconnectInterval)
	} else {
		fmt.Fprintf(w, "ami       not configured\n")
	}
	if a := cfg.ARI; a != nil {
		fmt.Fprintf(w, "ari       %s as %s (password %s)\n", a.URL, a.Username, a.Password.Source())
	} else {
		fmt.Fprintf(w, "ari       not configured\n")
	}
	dev := string(cfg.Apply.DeviceState)
	if cfg.Apply.DeviceState != companion.ApplyNone {
		dev += " as " + string(cfg.Apply.DeviceName)
	}
	fmt.Fprintf(w, "apply     device state: %s; mailbox state: %s\n", dev, cfg.Apply.MailboxState)
	for _, p := range cfg.Peers {
		fmt.Fprintf(w, "peer %q\n", p.Name)
		if pub := p.Publish; pub != nil {
			resend := "off"
			if r := pub.Resend(); r > 0 {
				resend = fmt.Sprintf("every %ds", int(r.Seconds()))
			}
			fmt.Fprintf(w, "  publish %s to %s, from %s, to %s, expiration %ds, auth %s, filters %s, full resend %s, %d publications per event\n",
				events(pub.DeviceState, pub.MailboxState), pub.ServerURI, pub.FromURI, pub.ToURI,
				int(pub.Expiration.Seconds()), auth(pub.Username, pub.Password),
				filters(pub.DeviceState, pub.DeviceStateFilter, pub.MailboxState, pub.MailboxStateFilter), resend, pub.InFlight())
		} else {
			fmt.Fprintf(w, "  publish nothing\n")
		}
		if acc := p.Accept; acc != nil {
			match := "any address"
			if len(acc.Match) > 0 {
				var ms []string
				for _, m := range acc.Match {
					ms = append(ms, m.String())
				}
				match = strings.Join(ms, ", ")
			}
			fmt.Fprintf(w, "  accept  %s on resource %q from %s, auth %s, filters %s, refresh %s\n",
				events(acc.DeviceState, acc.MailboxState), acc.Resource, match, auth(acc.Username, acc.Password),
				filters(acc.DeviceState, acc.DeviceStateFilter, acc.MailboxState, acc.MailboxStateFilter), yesNo(acc.Refresh))
			pubs, keys, eids, expires := acc.Limits()
			pinned := ""
			if len(acc.EIDs) > 0 {
				var es []string
				for _, e := range acc.EIDs {
					es = append(es, e.String())
				}
				pinned = " (pinned: " + strings.Join(es, ", ") + ")"
			}
			fmt.Fprintf(w, "  bounds  %d publications per event, %d states, %d eids%s, expires at most %ds\n",
				pubs, keys, eids, pinned, int(expires.Seconds()))
			fmt.Fprintf(w, "  drops   %s\n", noiseSummary(acc))
			switch freq, attempts, _ := p.Qualify(); {
			case freq > 0:
				fmt.Fprintf(w, "  qualify OPTIONS every %s; after %d unanswered in a row its states are cleared (within %s)\n",
					freq, attempts, p.QualifyBound())
			case p.Publish == nil:
				fmt.Fprintf(w, "  qualify off (no [peer.publish] server_uri to probe)\n")
			default:
				fmt.Fprintf(w, "  qualify off\n")
			}
		} else {
			fmt.Fprintf(w, "  accept  nothing\n")
		}
	}
	if len(cfg.Peers) == 0 {
		fmt.Fprintf(w, "peers     none\n")
	}
	summarizeFleet(w, cfg.Fleet)
	var objs []string
	for _, o := range cfg.Sorcery {
		objs = append(objs, o.Path())
	}
	fmt.Fprintf(w, "sorcery   %d %s", len(objs), plural(len(objs), "object", "objects"))
	if len(objs) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(objs, ", "))
	}
	fmt.Fprintln(w)
	if len(cfg.Warnings) == 0 {
		fmt.Fprintf(w, "warnings  none\n")
		return
	}
	fmt.Fprintf(w, "warnings  %d\n", len(cfg.Warnings))
	for _, warn := range cfg.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

// noiseSummary says which of a stock Asterisk's states a peer's
// [peer.accept] drops (ignore_mwi_devices, ignore_invalid, ignore_devices).
func noiseSummary(acc *companion.AcceptConfig) string {
	var ds []string
	if acc.IgnoreMWIDevices {
		ds = append(ds, "MWI:* devices")
	}
	if acc.IgnoreInvalid {
		ds = append(ds, "INVALID states")
	}
	if len(acc.IgnoreDevices) > 0 {
		ds = append(ds, "devices "+strings.Join(acc.IgnoreDevices, ", "))
	}
	if len(ds) == 0 {
		return "nothing (ignore_mwi_devices, ignore_invalid and ignore_devices are off)"
	}
	return strings.Join(ds, "; ")
}

func events(device, mailbox bool) string {
	switch {
	case device && mailbox:
		return "device+mwi"
	case device:
		return "device"
	case mailbox:
		return "mwi"
	}
	return "no events"
}

func auth(user string, pw companion.Secret) string {
	if user == "" {
		return "no"
	}
	return fmt.Sprintf("yes (user %s, password %s)", user, pw.Source())
}

func filters(device bool, df companion.Filter, mailbox bool, mf companion.Filter) string {
	var fs []string
	if device && !df.IsZero() {
		fs = append(fs, fmt.Sprintf("device %q", df.String()))
	}
	if mailbox && !mf.IsZero() {
		fs = append(fs, fmt.Sprintf("mwi %q", mf.String()))
	}
	if len(fs) == 0 {
		return "none"
	}
	return strings.Join(fs, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// or is v, or def when v is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
