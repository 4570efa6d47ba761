package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"regexp"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/prometheus/client_golang/prometheus"
)

// stdioWorkers bounds the tool calls the stdio transport runs at once (mcp-go's ceiling is 100);
// the registry's hub-wide limit applies on top.
const stdioWorkers = 16

// ServeStdio serves every enabled server's tools as one MCP server on in/out until the input
// ends or ctx ends. Nothing but protocol is written to out; logs go to the logger (stderr). On
// ctx's end it stops reading, lets in-flight calls finish up to http.shutdown_timeout (the same
// drain budget as HTTP), then ends the session. mcp-go keeps the stdio session in a package
// global, so one process serves one stdio connection.
func ServeStdio(ctx context.Context, opts Options, in io.Reader, out io.Writer) error {
	sessions := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "mcphub_stdio_sessions_active", Help: "1 while the stdio session is open.",
	})
	opts.Registry.MustRegister(sessions)
	s := newMCPServer("mcphub", "mcphub", opts.Version, opts.Hub.Instances(), func(d float64) { sessions.Add(d) })
	stdio := server.NewStdioServer(s)
	stdio.SetErrorLogger(log.New(slogWriter{opts.Logger}, "", 0))
	server.WithWorkerPoolSize(stdioWorkers)(stdio)

	pr, pw := io.Pipe()
	go pumpLines(in, pw, opts.Config.HTTP.MaxBodyBytes, opts.Logger)

	done := make(chan error, 1)
	go func() { done <- stdio.Listen(context.WithoutCancel(ctx), pr, notFoundStdioWriter{out}) }()
	opts.Logger.Info("serving MCP over stdio", slog.Int("servers", len(opts.Hub.Instances())))

	select {
	case err := <-done:
		return ignoreEOF(err)
	case <-ctx.Done():
	}
	timeout := opts.Config.HTTP.ShutdownTimeout.D()
	drain, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opts.Logger.Info("shutting down: draining in-flight calls", slog.Int64("in_flight", opts.Hub.Running()))
	if !opts.Hub.WaitIdle(drain) {
		opts.Logger.Warn("shutdown timeout reached with tool calls still running", slog.Int64("in_flight", opts.Hub.Running()))
	}
	// Ending the input makes Listen cancel what is left and return once the last response is
	// written.
	_ = pw.CloseWithError(io.EOF)
	select {
	case err := <-done:
		return ignoreEOF(err)
	case <-time.After(5 * time.Second):
		return errors.New("stdio transport did not stop within 5s of its input closing")
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// idPattern finds a JSON-RPC id near the start of an oversized line, so its sender gets an error
// answer for that id instead of waiting forever.
var idPattern = regexp.MustCompile(`"id"\s*:\s*(-?[0-9]+|"(?:[^"\\]|\\.){0,128}")`)

// pumpLines copies newline-delimited messages from in to pw, replacing any line longer than
// limit (mcp-go reads lines without a bound) with a small request that mcp-go answers with an
// error naming the problem, for the same id.
func pumpLines(in io.Reader, pw *io.PipeWriter, limit int64, logger *slog.Logger) {
	r := bufio.NewReaderSize(in, 64<<10)
	var line []byte
	oversized := false
	for {
		chunk, err := r.ReadSlice('\n')
		switch {
		case oversized:
			// discarding the rest of an oversized line
		case int64(len(line)+len(chunk)) > limit:
			oversized = true
			logger.Error("stdio message larger than the limit; refused",
				slog.Int64("limit_bytes", limit))
			line = append(line, chunk[:min(len(chunk), 512)]...)
		default:
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 || oversized {
			out := line
			if oversized {
				out = tooLargeRequest(line, limit)
			}
			if _, werr := pw.Write(out); werr != nil {
				return
			}
		}
		line, oversized = line[:0], false
		if err != nil {
			_ = pw.CloseWithError(io.EOF)
			return
		}
	}
}

func tooLargeRequest(head []byte, limit int64) []byte {
	m := idPattern.FindSubmatch(head)
	if m == nil {
		return []byte("{\"mcphub\": \"message too large\"\n") // a parse error: no id to answer
	}
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"method":"message_larger_than_%d_bytes_refused"}`+"\n", m[1], limit)
}

// slogWriter turns mcp-go's log.Logger output into slog lines on stderr.
type slogWriter struct{ logger *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.logger.Warn("mcp-go stdio", slog.String("message", string(trimNewline(p))))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
