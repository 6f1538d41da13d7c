package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/astcompanion/sidecar/ari"
	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

const provisionUsage = "usage: companion provision --config FILE [--plan | --apply] [--prune]"

// provisionCommand is "companion provision": bring the [[sorcery]] objects of the
// file to the local Asterisk through ARI, like terraform plan/apply. Exit
// status: 0 done (or planned), 1 configuration or ARI failure (what was
// applied is reported), 2 bad usage.
func provisionCommand(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("provision", provisionUsage, stderr)
	planOnly := fs.Bool("plan", false, "read every object and show what would change; change nothing (the default)")
	apply := fs.Bool("apply", false, "perform the plan: create and update in dependency order")
	prune := fs.Bool("prune", false, "also delete objects applied earlier that are no longer in the file (deletes only with --apply)")
	if status, done := parseFlags(fs, path, args); done {
		return status
	}
	if *planOnly && *apply {
		fmt.Fprintln(stderr, "companion provision: --plan and --apply exclude each other")
		return 2
	}
	cfg, status := loadConfig(*path, stderr)
	if cfg == nil {
		return status
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if cfg.ARI == nil {
		fmt.Fprintf(stderr, "companion provision: %s has no [ari] section: provisioning talks to Asterisk through ARI\n", *path)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runProvision(ctx, cfg, provisionMode{apply: *apply, prune: *prune}, stdout); err != nil {
		fmt.Fprintf(stderr, "companion provision: %v\n", err)
		return 1
	}
	return 0
}

// applySorcery applies cfg's [[sorcery]] objects without pruning, printing
// the plan, one line per object and a summary to out, as provision --apply
// does; quiet prints nothing when Asterisk already matches. companion run
// calls it through its provision.Keeper. It does nothing when the file has
// no [[sorcery]] objects. The error's text is the explanation in
// Asterisk's terms.
func applySorcery(ctx context.Context, cfg *companion.Config, out io.Writer, quiet bool) error {
	if len(cfg.Sorcery) == 0 {
		return nil
	}
	if cfg.ARI == nil {
		return errors.New("[[sorcery]] objects need an [ari] section")
	}
	return runProvision(ctx, cfg, provisionMode{apply: true, quiet: quiet}, out)
}

// provisionMode says what runProvision does beyond planning.
type provisionMode struct {
	apply bool // perform the plan
	prune bool // plan deletions too
	quiet bool // print nothing when there is nothing to do or planning fails (the caller logs the error)
}

// runProvision plans, and applies in apply mode.
func runProvision(ctx context.Context, cfg *companion.Config, mode provisionMode, out io.Writer) error {
	client, err := ari.New(cfg.ARI, nil)
	if err != nil {
		return err
	}
	defer client.Close()
	if mode.apply {
		// Held from reading the state file to its last write.
		unlock, err := provision.LockState(cfg.ARI.StateFile)
		if err != nil {
			return err
		}
		defer unlock()
	}
	p := &provision.Provisioner{Store: client, StateFile: cfg.ARI.StateFile, Target: cfg.ARI.URL}
	plan, err := p.Plan(ctx, cfg.Sorcery, mode.prune)
	if err != nil {
		if !mode.quiet {
			fmt.Fprintf(out, "Planning stopped: %v\nNothing was applied.\n", err)
		}
		return explained(err, cfg)
	}
	if mode.quiet && !plan.Changes() && len(plan.Warnings) == 0 {
		return nil
	}
	plan.Write(out)
	if !mode.apply {
		if mode.prune && plan.Changes() {
			fmt.Fprintln(out, "Nothing was changed: run with --apply --prune to perform this plan.")
		} else if plan.Changes() {
			fmt.Fprintln(out, "Nothing was changed: run with --apply to perform this plan.")
		}
		return nil
	}
	fmt.Fprintln(out, "Applying:")
	rep, err := p.Apply(ctx, plan, out)
	rep.WriteSummary(out)
	if err != nil {
		return explained(err, cfg)
	}
	return nil
}

// provisionError carries the explanation as its text and the cause for
// errors.Is.
type provisionError struct {
	text string
	err  error
}

func (e *provisionError) Error() string { return e.text }
func (e *provisionError) Unwrap() error { return e.err }

func explained(err error, cfg *companion.Config) error {
	return &provisionError{text: provision.ExplainError(err, cfg.ARI.Username), err: err}
}
