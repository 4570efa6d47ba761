package browser

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/mcphub/mcphub/egress"
)

// egressProxy is the HTTP/CONNECT proxy every request of the local Chromium goes through. It
// dials only with egress.Policy.DialContext, which resolves the host, checks every address and
// connects to the address it checked. So even a request that Fetch interception never saw (a
// WebSocket, a worker's fetch, a pop-up's first request) or a host whose DNS answer changes
// between the check and the connection (rebinding) cannot reach a refused address. It listens
// on 127.0.0.1 with no credentials: a local process that uses it gets no more than the policy
// allows, which is less than it has by itself.
type egressProxy struct {
	ln     net.Listener
	srv    *http.Server
	policy *egress.Policy
	logger *slog.Logger
	wg     sync.WaitGroup
}

// proxyDialTimeout bounds one upstream connection.
const proxyDialTimeout = 15 * time.Second

func startEgressProxy(policy *egress.Policy, logger *slog.Logger) (*egressProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &egressProxy{ln: ln, policy: policy, logger: logger}
	transport := &http.Transport{
		Proxy:                 nil, // never the environment's proxy: the policy decides
		DialContext:           p.dial,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          64,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// A forward proxy request carries the absolute URL; keep it as it is.
			pr.Out.URL = pr.In.URL
			pr.Out.Host = pr.In.Host
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.refuse(w, r.URL.String(), err)
		},
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodConnect {
				p.connect(w, r)
				return
			}
			if !r.URL.IsAbs() {
				http.Error(w, "mcphub egress proxy: only proxy requests are served", http.StatusBadRequest)
				return
			}
			rp.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	p.wg.Go(func() { _ = p.srv.Serve(ln) })
	return p, nil
}

func (p *egressProxy) addr() string { return p.ln.Addr().String() }

func (p *egressProxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, proxyDialTimeout)
	defer cancel()
	return p.policy.DialContext(ctx, network, addr)
}

// refuse answers a request the policy refused (403, naming the policy) or that failed (502).
func (p *egressProxy) refuse(w http.ResponseWriter, target string, err error) {
	code := http.StatusBadGateway
	if egress.IsRefused(err) {
		code = http.StatusForbidden
	}
	p.logger.Debug("egress proxy refused", slog.String("target", truncate(target, maxLoggedURLBytes)), slog.String("error", err.Error()))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Mcphub-Egress", "refused")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "mcphub: %v\n", err)
}

// connect tunnels CONNECT host:port (HTTPS and WebSockets) after the policy allowed the dial.
func (p *egressProxy) connect(w http.ResponseWriter, r *http.Request) {
	upstream, err := p.dial(r.Context(), "tcp", r.Host)
	if err != nil {
		p.refuse(w, r.Host, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = upstream.Close()
		http.Error(w, "hijacking not supported", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		_ = upstream.Close()
		return
	}
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	p.wg.Go(func() {
		defer client.Close()
		defer upstream.Close()
		done := make(chan struct{}, 2)
		go func() {
			// Bytes the client sent after the CONNECT line sit in buf.
			_, _ = io.Copy(upstream, buf)
			closeWrite(upstream)
			done <- struct{}{}
		}()
		go func() {
			_, _ = io.Copy(client, upstream)
			closeWrite(client)
			done <- struct{}{}
		}()
		<-done
		<-done
	})
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// close stops the proxy; tunnels end when the browser (their client) goes.
func (p *egressProxy) close() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = p.srv.Close()
	}
}
