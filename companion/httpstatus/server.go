package httpstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Bounds of the listener. A /status of 100,000 states is a few MB: the
// write timeout leaves a slow reader on loopback time for it.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 8 << 10
	// MaxConns is how many connections are served at once; more wait in
	// the kernel's backlog.
	MaxConns = 16
	// scrapesInFlight bounds concurrent /metrics renderings.
	scrapesInFlight = 4
	shutdownWait    = 2 * time.Second
)

// Handler serves /metrics, /healthz, /readyz, /status and, at /, a list
// of them; GET and HEAD only.
func Handler(src *Source, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collector{src: src},
	)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		MaxRequestsInFlight: scrapesInFlight,
		Timeout:             writeTimeout / 2,
	})
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.HandleFunc("/healthz", src.serveHealthz)
	mux.HandleFunc("/readyz", src.serveReadyz)
	mux.HandleFunc("/status", src.serveStatus)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "companion status listener: /metrics /healthz /readyz /status")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Server is a running status listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	log  *slog.Logger
	done chan struct{}
	once sync.Once
}

// Start binds addr and serves src until Close. A bind failure is
// returned as is; the caller names the setting.
func Start(addr string, src *Source, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		ln:   &limitListener{Listener: ln, slots: make(chan struct{}, MaxConns)},
		log:  log,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           Handler(src, log),
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("status listener stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address (the real port when addr asked for 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, lets requests in progress finish for a moment,
// then closes what is left, and returns once the server is gone.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
}

// limitListener hands out at most cap(slots) connections at a time;
// Accept waits for a slot while all are taken.
type limitListener struct {
	net.Listener
	slots chan struct{}
	stop  sync.Once
	done  chan struct{}
	mu    sync.Mutex
}

func (l *limitListener) closed() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed():
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.stop.Do(func() { close(l.closed()) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
