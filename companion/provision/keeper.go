package provision

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/astcompanion/sidecar/companion"
)

// ApplyFunc applies cfg's [[sorcery]] objects (never pruning). quiet
// asks it to print nothing when Asterisk already matches the file: the
// keeper calls it that way for checks nobody asked for.
type ApplyFunc func(ctx context.Context, cfg *companion.Config, quiet bool) error

// Keeper keeps the local Asterisk's sorcery objects matching the
// file while the companion runs. It applies them when handed a
// configuration (start, SIGHUP) and checks them again on Recheck (every
// AMI connect: Asterisk may have restarted, and objects kept by a memory
// wizard do not survive that). A failure that time may cure (ARI not
// answering, 5xx while Asterisk boots) is retried with backoff; any other
// waits for the next configuration or Recheck, since the file or
// Asterisk's configuration must change first. Requests that arrive while
// an apply runs are merged into one more run.
type Keeper struct {
	apply      ApplyFunc
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	wake       chan struct{}
	counts     keeperCounters

	mu      sync.Mutex
	pending *companion.Config // handed over by Use, not yet applied
}

// KeeperOptions tune a Keeper; zero fields take defaults.
type KeeperOptions struct {
	MinBackoff time.Duration // default 1 s
	MaxBackoff time.Duration // default 60 s
	Logger     *slog.Logger
}

// NewKeeper returns a keeper that applies through apply.
func NewKeeper(apply ApplyFunc, opts KeeperOptions) *Keeper {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minD, maxD := companion.BackoffBounds(opts.MinBackoff, opts.MaxBackoff)
	return &Keeper{apply: apply, log: log, minBackoff: minD, maxBackoff: maxD, wake: make(chan struct{}, 1)}
}

// Use hands over a configuration, read at start or on SIGHUP: its objects
// are applied, the plan printed in full. A newer configuration replaces
// one not yet applied.
func (k *Keeper) Use(cfg *companion.Config) {
	k.mu.Lock()
	k.pending = cfg
	k.mu.Unlock()
	k.poke()
}

// Recheck asks for the objects to be checked again and put back where
// they differ; nothing is printed when they match. A wake-up without a
// pending configuration is a recheck.
func (k *Keeper) Recheck() { k.poke() }

func (k *Keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default: // a run is already due
	}
}

// Run applies until ctx is done.
func (k *Keeper) Run(ctx context.Context) {
	var (
		cfg      *companion.Config
		failures int
		retry    <-chan time.Time
	)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-retry:
		}
		k.mu.Lock()
		next := k.pending
		k.pending = nil
		k.mu.Unlock()
		quiet := true
		if next != nil {
			cfg, quiet, failures = next, false, 0
		}
		if cfg == nil || len(cfg.Sorcery) == 0 {
			retry = nil
			continue
		}
		err := k.apply(ctx, cfg, quiet)
		k.counts.ran(err, ctx.Err() != nil)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if failures > 0 {
				k.log.Info("[[sorcery]] objects in place", "attempts", failures+1)
			}
			failures, retry = 0, nil
		case Retryable(err):
			failures++
			d := companion.BackoffDelay(k.minBackoff, k.maxBackoff, failures)
			k.log.Warn("provisioning [[sorcery]] objects failed; retrying", "in", d.String(), "attempt", failures, "err", err)
			timer.Reset(d)
			retry = timer.C
		default:
			failures, retry = 0, nil
			k.log.Error("provisioning [[sorcery]] objects failed; fix it and send SIGHUP (it is tried again at every AMI reconnect)", "err", err)
		}
	}
}
