// Command mcphub is one binary that hosts many MCP servers over stdio and streamable HTTP.
//
//	mcphub serve [--config FILE] [--http ADDR] [--stdio] [--servers a,b,...]
//	mcphub list [--config FILE]
//	mcphub validate --config FILE
//	mcphub memory import FILE [--namespace N] [--config FILE]
//	mcphub memory export [--namespace N] [--config FILE]
//	mcphub embeddings import [--from FILE|DIR] [--out FILE] [--config FILE]
//	mcphub version
//
// This package is the composition root: it alone imports every server package (catalog.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mcphub/mcphub/configs"
	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/transport"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const usage = `mcphub hosts many MCP servers in one binary.

Usage:
  mcphub serve [--config FILE] [--http ADDR] [--stdio] [--servers a,b,...]
  mcphub list [--config FILE]
  mcphub validate --config FILE
  mcphub memory import FILE [--namespace N] [--config FILE]
  mcphub memory export [--namespace N] [--config FILE]
  mcphub embeddings import [--from FILE|DIR] [--out FILE] [--config FILE]
  mcphub version

Without --config the embedded defaults apply (data under $MCPHUB_DATA or ~/.local/share/mcphub).
Logs go to stderr as JSON; stdout carries only the protocol (with --stdio) or command output.
`

// exitError carries a process exit code through run.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "mcphub:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{2}
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stderr)
	case "list":
		return runList(args[1:], stdout, stderr)
	case "validate":
		return runValidate(args[1:], stdout, stderr)
	case "memory":
		return runMemory(args[1:], stdout, stderr)
	case "embeddings":
		return runEmbeddings(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "mcphub %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "mcphub: unknown command %q\n\n%s", args[0], usage)
	return exitError{2}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mcphub "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses and refuses stray positional arguments, which are always a typo here.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError{0}
		}
		return exitError{2}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitError{2}
	}
	return nil
}

// loadConfig loads the file (or the embedded defaults), applies overrides and validates again,
// printing every problem at once.
func loadConfig(path string, override func(*configs.Config), stderr io.Writer) (*configs.Config, error) {
	cfg, err := configs.Load(path)
	if err == nil && override != nil {
		override(cfg)
		err = cfg.Validate()
	}
	if err != nil {
		printProblems(stderr, path, err)
		return nil, exitError{1}
	}
	return cfg, nil
}

func printProblems(w io.Writer, path string, err error) {
	if path == "" {
		path = "(embedded defaults)"
	}
	fmt.Fprintf(w, "%s: invalid configuration:\n", path)
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

func newLogger(cfg *configs.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated by configs
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// newMetricsRegistry is the hub's own Prometheus registry (never the global one).
func newMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "mcphub_build_info",
			Help:        "Always 1; the labels say which mcphub runs.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return reg
}

func runServe(args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	configPath := fs.String("config", "", "config `FILE` (YAML); without it the embedded defaults apply")
	httpAddr := fs.String("http", "", "serve streamable HTTP on `ADDR` (default: listen from the config, 127.0.0.1:8080)")
	stdio := fs.Bool("stdio", false, "serve MCP on stdin/stdout instead of HTTP")
	only := fs.String("servers", "", "comma-separated `names` of the servers to run (default: those the config enables)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *stdio && *httpAddr != "" {
		fmt.Fprintln(stderr, "mcphub serve: --stdio and --http are exclusive")
		return exitError{2}
	}
	cfg, err := loadConfig(*configPath, func(c *configs.Config) {
		if *httpAddr != "" {
			c.Listen = *httpAddr
		}
	}, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := newMetricsRegistry()
	hub, err := registry.Build(ctx, registry.Options{
		Config: cfg, Catalog: catalog, Only: splitList(*only), Logger: logger, Metrics: registry.NewMetrics(reg),
	})
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitError{1}
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := hub.Close(closeCtx); err != nil {
			logger.Error("closing servers", slog.String("error", err.Error()))
		}
	}()
	opts := transport.Options{Config: cfg, Hub: hub, Logger: logger, Version: version, Registry: reg}

	if *stdio {
		return transport.ServeStdio(ctx, opts, os.Stdin, os.Stdout)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	return transport.NewHTTP(opts).Serve(ctx, ln)
}

func runList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", stderr)
	configPath := fs.String("config", "", "config `FILE` (YAML); without it the embedded defaults apply")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath, nil, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	hub, err := registry.Build(ctx, registry.Options{
		Config: cfg, Catalog: catalog, Logger: logger, Metrics: registry.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitError{1}
	}
	defer func() { _ = hub.Close(context.WithoutCancel(ctx)) }()

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tSTATE\tTOOLS")
	for _, st := range hub.Status(ctx) {
		state := "ready"
		if !st.Ready {
			state = "not ready: " + st.Reason + " (fix: " + st.Fix + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", st.Name, state, strings.Join(st.Tools, ", "))
	}
	return tw.Flush()
}

func runValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", stderr)
	configPath := fs.String("config", "", "config `FILE` to check (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "mcphub validate: --config FILE is required")
		return exitError{2}
	}
	cfg, err := configs.Load(*configPath)
	if cfg != nil {
		err = errors.Join(err, registry.Validate(cfg, catalog, nil))
	}
	if err != nil {
		printProblems(stderr, *configPath, err)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "%s: ok\n", *configPath)
	return nil
}
