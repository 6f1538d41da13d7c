package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// daemon is "companion run": it runs until SIGINT or SIGTERM, then
// removes its publications, logs off AMI and exits 0. SIGHUP re-reads the
// file (node.reload): peers and [[sorcery]] objects change live.
func daemon(args []string, stdout, stderr io.Writer) int {
	// SIGHUP's default action ends the process: caught from the start,
	// and ignored (not restored) once run is over, so that a reload
	// asked during start or shutdown never kills it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Ignore(syscall.SIGHUP)
	fs, path := newFlags("run", "usage: companion run --config FILE [--log-level LEVEL] [--log-format text|json]", stderr)
	level := fs.String("log-level", "info", "debug, info, warn or error")
	format := fs.String("log-format", "text", "text or json")
	if status, done := parseFlags(fs, path, args); done {
		return status
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "companion run:", err)
		return 2
	}
	cfg, status := loadConfig(*path, stderr)
	if cfg == nil {
		return status
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w.Error())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := newNode(ctx, cfg, log)
	if errors.Is(err, errStartInterrupted) {
		log.Info("stopped while starting")
		return 0
	}
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	n.out = stdout
	if err := n.run(ctx, *path, hup); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
