package ari

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v6/client/native"
)

// How every ARI call is bounded.
//
// ari/v6 sends with an unexported zero http.Client: no timeout, no context,
// and the transport is http.DefaultTransport, which waits forever for a
// server that accepted the connection but never answers (a deadlocked
// Asterisk does exactly that). A bounded wait around the library call alone
// would return on time but leave the request, its goroutine and its
// connection behind for good.
//
// So the library never talks to Asterisk itself. Each call gets a fresh
// native client (native.New only fills a struct) whose URL uses a private
// scheme, companion-ari://call-N/ari. http.DefaultTransport hands requests
// of a registered scheme to our RoundTripper (Transport.RegisterProtocol,
// public net/http API; registered once per process). The RoundTripper finds
// call N, sends the request over our own http.Transport under the call's
// context (caller's context plus [ari] timeout: dial, TLS, headers and body
// all bounded), reads the whole body, records status and body for our error
// mapping, and hands the library a copy it can decode from memory. When the
// deadline passes, the request is cancelled: nothing outlives the call.

const privateScheme = "companion-ari"

// maxBody bounds what is read from Asterisk; an endpoint is about 7 KiB.
const maxBody = 1 << 20

var (
	registerOnce sync.Once
	registerErr  error
	calls        sync.Map // host "call-N" -> *exchange
	callSeq      atomic.Uint64
)

func registerScheme() error {
	registerOnce.Do(func() {
		t, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			registerErr = errors.New("http.DefaultTransport is not an *http.Transport: cannot bound ari/v6's requests")
			return
		}
		t.RegisterProtocol(privateScheme, router{})
	})
	return registerErr
}

// exchange is one ARI request and what came back, captured below ari/v6.
type exchange struct {
	c      *Client
	ctx    context.Context
	method string
	path   string // below the base URL, escaped, with the query
	status int    // 0: no answer
	msg    string // Asterisk's "message"
	body   []byte
	err    error // transport error when status is 0
}

// router takes the library's requests off http.DefaultTransport.
type router struct{}

func (router) RoundTrip(req *http.Request) (*http.Response, error) {
	v, ok := calls.Load(req.URL.Host)
	if !ok {
		return nil, fmt.Errorf("ari: no call %q in flight", req.URL.Host)
	}
	x := v.(*exchange)
	out := req.Clone(x.ctx)
	out.URL.Scheme, out.URL.Host, out.Host = x.c.base.Scheme, x.c.base.Host, ""
	x.method, x.path = req.Method, trimBase(x.c, out.URL.RequestURI())
	return x.c.roundTrip(x, out)
}

// roundTrip sends req and fills x. The response it returns carries the
// body in memory and no Location: the library's client must not follow a
// redirect over a transport that has no bound.
func (c *Client) roundTrip(x *exchange, req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := c.transport.RoundTrip(req)
	if err == nil {
		x.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		_ = resp.Body.Close()
		if err == nil && len(x.body) > maxBody {
			err = fmt.Errorf("answer larger than %d bytes", maxBody)
		}
	}
	if err != nil {
		if errors.Is(x.ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", c.timeout)
		}
		x.err = err
		c.log.Debug("ARI request failed", "method", x.method, "path", x.path, "error", err, "after", time.Since(start))
		return nil, err
	}
	x.status = resp.StatusCode
	x.msg = asteriskMessage(x.body)
	c.log.Debug("ARI request", "method", x.method, "path", x.path, "status", x.status, "after", time.Since(start))
	resp.Header.Del("Location")
	resp.Body = io.NopCloser(bytes.NewReader(x.body))
	resp.ContentLength = int64(len(x.body))
	return resp, nil
}

// call runs fn, which makes one request through the ari/v6 client it is
// given, bounded by ctx and the [ari] timeout.
func (c *Client) call(ctx context.Context, fn func(lib *native.Client) error) (*exchange, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	id := "call-" + strconv.FormatUint(callSeq.Add(1), 10)
	x := &exchange{c: c, ctx: ctx}
	calls.Store(id, x)
	defer calls.Delete(id)
	err := fn(c.newLib(id))
	return x, err
}

// direct sends one request without the library (see doc.go: mailboxes).
func (c *Client) direct(ctx context.Context, method, path string) *exchange {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	x := &exchange{c: c, ctx: ctx, method: method, path: path}
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, nil)
	if err != nil {
		x.err = err
		return x
	}
	req.SetBasicAuth(c.username, c.password.Reveal())
	_, _ = c.roundTrip(x, req)
	return x
}

func trimBase(c *Client, uri string) string {
	if p := c.base.EscapedPath(); len(uri) >= len(p) && uri[:len(p)] == p {
		return uri[len(p):]
	}
	return uri
}
