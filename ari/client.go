package ari

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/CyCoreSystems/ari/v6/client/native"

	"github.com/astcompanion/sidecar/companion"
	"github.com/astcompanion/sidecar/companion/provision"
)

// Client talks to one Asterisk's ARI over REST. It is safe for concurrent
// use; every call is bounded by the [ari] timeout.
type Client struct {
	url       string // [ari] url, without a trailing slash
	base      *url.URL
	username  string
	password  companion.Secret
	timeout   time.Duration
	transport *http.Transport
	log       *slog.Logger
}

var (
	_ provision.Store   = (*Client)(nil)
	_ companion.Applier = (*Client)(nil)
)

// New makes a client for cfg. It does not contact Asterisk. log may be nil.
func New(cfg *companion.ARIConfig, log *slog.Logger) (*Client, error) {
	if cfg == nil {
		return nil, errors.New("ari: no [ari] configuration")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		// The parse error could quote the URL; the loader has checked it.
		return nil, errors.New("ari: url must be http(s)://host[:port]/ari without credentials")
	}
	if cfg.Username == "" {
		// ari/v6 would read ARI_USERNAME and ARI_PASSWORD from the
		// environment instead.
		return nil, errors.New("ari: no username")
	}
	if err := registerScheme(); err != nil {
		return nil, fmt.Errorf("ari: %w", err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = companion.DefaultARITimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := *u
	base.Path = trimSlash(base.Path)
	base.RawPath = ""
	return &Client{
		url:      trimSlash(cfg.URL),
		base:     &base,
		username: cfg.Username,
		password: cfg.Password,
		timeout:  timeout,
		// The per-call context (call, direct) is the one bound on every
		// phase; per-phase timeouts of the same length would race it and
		// turn "no answer within" into a transport message. No proxy from
		// the environment: ARI credentials go to Asterisk only.
		transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		log: log,
	}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// URL is the ARI URL, for messages.
func (c *Client) URL() string { return c.url }

// newLib makes the ari/v6 client of one call: its URL routes the requests
// to that call (transport.go). native.New allocates only.
func (c *Client) newLib(callID string) *native.Client {
	return native.New(&native.Options{
		Application:  "companion",
		URL:          privateScheme + "://" + callID + c.base.EscapedPath(),
		WebsocketURL: "ws://" + callID + ".invalid/unused", // never dialled: no Connect
		Username:     c.username,
		Password:     c.password.Reveal(),
	})
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// asteriskMessage reads ARI's error body {"message":"..."}.
func asteriskMessage(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	return m.Message
}

// Error is a failed ARI request outside /asterisk/config (those are
// *provision.StoreError).
type Error struct {
	Op      string // e.g. "PUT /deviceStates/Stasis:alice"
	Where   string // the ARI URL
	Status  int    // 0: no answer
	Message string // Asterisk's own text
	Kind    error  // companion.ErrUnsupported, ErrARIUnauthorized, ErrARIUnreachable or ErrARIFailed
	Hint    string // what to do about it
	Err     error  // transport error or unexpected answer
}

func (e *Error) Error() string {
	s := fmt.Sprintf("ARI %s at %s: %v", e.Op, e.Where, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (%d", e.Status)
		if e.Message != "" {
			s += fmt.Sprintf(" %q", e.Message)
		}
		s += ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// baseError maps what every ARI resource answers alike: no answer, 401,
// a 2xx the library could not decode. It returns nil for a good 2xx and
// (nil, false) when the caller must map the status itself.
func (c *Client) baseError(op string, x *exchange, libErr error) (err *Error, done bool) {
	e := &Error{Op: op, Where: c.url, Status: x.status, Message: x.msg}
	switch {
	case x.status == 0 && x.err != nil:
		e.Kind, e.Err = companion.ErrARIUnreachable, x.err
	case x.status == 0:
		// The library failed before sending anything.
		e.Kind, e.Err = companion.ErrARIFailed, libErr
	case x.status == http.StatusUnauthorized:
		e.Kind, e.Hint = companion.ErrARIUnauthorized, fmt.Sprintf("check [ari] username %q and password against ari.conf", c.username)
	case x.status >= 200 && x.status < 300:
		if libErr != nil {
			e.Kind, e.Err = companion.ErrARIFailed, errors.New("unexpected answer (not what ARI sends)")
			return e, true
		}
		return nil, true
	default:
		return e, false
	}
	return e, true
}
