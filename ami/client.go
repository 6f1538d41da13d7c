package ami

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ivahaev/amigo"

	"github.com/astcompanion/sidecar/companion"
)

// Client is the companion's AMI adapter. As a source it reports the local
// Asterisk's device and mailbox state to an Observer: a snapshot after
// every (re)connect, then DeviceStateChange and MessageWaiting events. As
// a sink it implements companion.Applier with Setvar DEVICE_STATE(...) and
// MWIUpdate. Run drives it; ApplyDevice and ApplyMailbox may be called
// from any goroutine while Run runs. The Observer is called from one
// goroutine of the client's, never concurrently, and never after Run has
// returned; Run waits for a call in progress.
type Client struct {
	cfg companion.AMIConfig
	log *slog.Logger
	obs companion.Observer

	queue *queue
	link  *link
	ids   atomic.Uint64 // ActionID sequence
	// statesRead counts the states read from events and list items, so
	// that a test can tell when everything sent has been queued.
	statesRead atomic.Uint64
	// droppedNames counts the events dropped for their name (keep);
	// dropLog writes about them, rate-limited.
	droppedNames atomic.Uint64
	dropLog      *companion.RateLog

	// slot holds the one action in flight (see do).
	slot chan struct{}
	// connects receives a token after each (re)connect: resync.
	connects chan struct{}

	// life is held shared by amigo's callbacks and by actions starting,
	// exclusively by Run when it stops: amigo cannot be stopped and keeps
	// calling back after Run returns, and those calls must reach neither
	// the Observer nor the logger.
	life    sync.RWMutex
	am      *amigo.Amigo
	running bool
	started bool
	actions sync.WaitGroup // action goroutines still inside amigo

	// mu guards runs and makes "patch the list run, queue the event" one
	// step (see listRun).
	mu   sync.Mutex
	runs map[companion.Kind]*listRun

	mailboxNoticeOnce sync.Once
}

// New returns a client for cfg that reports to obs. log may be nil.
func New(cfg companion.AMIConfig, log *slog.Logger, obs companion.Observer) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ami", "address", cfg.Address)
	return &Client{
		cfg:      cfg,
		log:      log,
		obs:      obs,
		queue:    newQueue(),
		link:     new(link),
		slot:     make(chan struct{}, 1),
		connects: make(chan struct{}, 1),
		runs:     make(map[companion.Kind]*listRun),
		dropLog:  companion.NewRateLog(log, 0, 0),
	}
}

// Connected reports whether a logged-in AMI session is up, as far as the
// client knows: it turns true once amigo counts itself connected after a
// login, false when the connection is lost or Asterisk announces its
// shutdown.
func (c *Client) Connected() bool { return c.link.up.Load() }

// Run connects, keeps the client connected and resynchronised, and
// returns nil once ctx is done and Logoff has been sent. It returns an
// error at once if the configuration is unusable or Run was called before.
//
// amigo has no Close: after Run returns, amigo's own goroutines keep
// reconnecting (and would log in again) until the process exits; the
// client ignores them. Call Run once per process.
func (c *Client) Run(ctx context.Context) error {
	st, err := settings(c.cfg)
	if err != nil {
		return err
	}
	c.life.Lock()
	again := c.started
	c.started = true
	c.life.Unlock()
	if again {
		return errors.New("ami: Run called twice")
	}
	am := amigo.New(st)
	// Register before Connect: amigo's handler lock is a RWMutex that its
	// event goroutine holds shared while calling handlers, so registering
	// later could stall that goroutine behind a writer.
	am.On("connect", c.onConnect)
	am.On("error", c.onAmigoError)
	if err := am.RegisterDefaultHandler(c.onMessage); err != nil {
		return err
	}
	c.life.Lock()
	c.running, c.am = true, am
	c.life.Unlock()

	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.queue.run(ctx, c.obs) }()
	go func() { defer wg.Done(); c.resyncLoop(ctx) }()
	go func() { defer wg.Done(); c.flushDropLog(ctx) }()
	c.log.Info("AMI connecting", "username", c.cfg.Username)
	am.Connect() // returns at once: amigo dials and logs in on its own goroutine

	<-ctx.Done()
	wg.Wait()
	c.link.leaving.Store(true)
	c.logoff()
	c.life.Lock()
	c.running = false
	c.life.Unlock()
	c.link.up.Store(false)
	c.awaitActions()
	c.log.Info("AMI client stopped")
	return nil
}

// logoff ends the session politely, as Asterisk expects of a client that
// leaves; bounded by the action timeout.
func (c *Client) logoff() {
	if !c.Connected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.actionTimeout())
	defer cancel()
	if _, err := c.do(ctx, map[string]string{"Action": "Logoff"}); err != nil {
		c.log.Warn("AMI Logoff failed", "err", err)
	}
}

// awaitActions waits for action goroutines still inside amigo. One that
// started just as the connection dropped waits there for the next
// connection (amigo's Action has no bound for that case), so the wait is
// bounded.
func (c *Client) awaitActions() {
	done := make(chan struct{})
	go func() { c.actions.Wait(); close(done) }()
	t := time.NewTimer(2 * c.actionTimeout())
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.log.Warn("an AMI action is still stuck inside amigo after shutdown")
	}
}

// flushDropLog has the dropped-name summaries written when their window
// is over, even if no further drop comes to trigger it.
func (c *Client) flushDropLog(ctx context.Context) {
	t := time.NewTicker(companion.DefaultRateLogWindow)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.dropLog.Flush()
			return
		case <-t.C:
			c.dropLog.Flush()
		}
	}
}

// enter is called by every amigo callback: false once Run has stopped.
// A true result must be paired with leave.
func (c *Client) enter() bool {
	c.life.RLock()
	if !c.running {
		c.life.RUnlock()
		return false
	}
	return true
}

func (c *Client) leave() { c.life.RUnlock() }

func (c *Client) actionTimeout() time.Duration {
	return orDefault(c.cfg.ActionTimeout, companion.DefaultAMIActionTimeout)
}

func (c *Client) retryInterval() time.Duration {
	return orDefault(c.cfg.ReconnectInterval, companion.DefaultAMIReconnectInterval)
}

// nextActionID names an action; list items are matched to their run by it.
func (c *Client) nextActionID() string {
	return "companion-" + strconv.FormatUint(c.ids.Add(1), 10)
}
