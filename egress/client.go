package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// DefaultUserAgent is sent when a request has no User-Agent of its own.
const DefaultUserAgent = "mcphub (+egress-guarded)"

// ClientOptions configures Client.
type ClientOptions struct {
	// Timeout bounds a whole request, body included. Zero means 30 s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed, each checked again. Zero means 5; a
	// negative value follows none (the redirect response is returned).
	MaxRedirects int
	// UserAgent replaces DefaultUserAgent.
	UserAgent string
}

// dialTimeout bounds one connection attempt; a name with several addresses tries each in turn.
const dialTimeout = 10 * time.Second

// DialContext resolves addr's host, checks every address, and dials one of the CHECKED
// addresses, so that a second resolution (DNS rebinding) cannot swap in another. A socket-level
// check re-tests the address actually connected, as a second line of defence. Use it as
// http.Transport.DialContext or in a proxy.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	host = normalizeHost(host)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := p.checkIP("", host, ip); err != nil {
			return nil, err
		}
		addrs = []netip.Addr{ip}
	} else {
		if !plausibleHostName(host) {
			return nil, &Refused{Host: host, Reason: fmt.Sprintf("%q is not a valid host name", host)}
		}
		if addrs, err = p.resolve(ctx, "", host); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{
		Timeout:   dialTimeout,
		KeepAlive: 30 * time.Second,
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &Refused{Host: host, Reason: "cannot read the address being dialled: " + err.Error()}
			}
			return p.checkIP("", host, ap.Addr())
		},
	}
	var errs []error
	for _, ip := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if IsRefused(err) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// Client returns an *http.Client whose every connection goes through DialContext, whose every
// request and redirect is checked with CheckURL first, and which ignores proxy settings from the
// environment (a proxy would dial for us, unchecked).
func (p *Policy) Client(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 5
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           p.DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	maxRedirects := o.MaxRedirects
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: &checkedTransport{policy: p, base: tr, userAgent: o.UserAgent},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if maxRedirects < 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			return p.CheckURL(req.URL)
		},
	}
}

// checkedTransport checks each request's URL before the base transport sees it, so that a
// refused scheme or host gets the policy's reason rather than "unsupported protocol scheme".
type checkedTransport struct {
	policy    *Policy
	base      *http.Transport
	userAgent string
}

func (t *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.policy.CheckURL(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.userAgent)
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *checkedTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// ErrTooLarge is returned by a LimitBody reader past its limit.
var ErrTooLarge = errors.New("the response is larger than the size limit")

// LimitBody wraps r so that reading more than limit bytes fails with ErrTooLarge instead of
// silently stopping (a truncated page must not pass for a whole one).
func LimitBody(r io.ReadCloser, limit int64) io.ReadCloser {
	return &limitedBody{r: r, left: limit}
}

type limitedBody struct {
	mu   sync.Mutex
	r    io.ReadCloser
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left < 0 {
		return 0, ErrTooLarge
	}
	// Read one byte past the limit to tell "exactly max" from "more than max".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), ErrTooLarge
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.r.Close() }
