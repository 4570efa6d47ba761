package testenv

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// NetnsEnv marks a test process that runs inside the loopback-only network namespace.
const NetnsEnv = "MCPHUB_TEST_IN_NETNS"

// InLoopbackNetns runs the calling test inside a fresh network namespace whose only interface is
// loopback, so that a test of egress refusals sends nothing off the machine even when the code
// under test is wrong: a packet to 10.0.0.1 or 169.254.169.254 has no route out.
//
// Outside the namespace it re-executes the test binary for this one test under
// `unshare --net` (after `ip link set lo up`), reports the child's output, fails when the child
// fails, and returns false: the caller returns at once. Inside it returns true and the test runs.
// It needs root (or user namespaces), unshare and ip; when they are missing it skips, or fails
// under CI.
//
//	func TestRefusals(t *testing.T) {
//		if !testenv.InLoopbackNetns(t) {
//			return
//		}
//		...
//	}
func InLoopbackNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(NetnsEnv) == "1" {
		return true
	}
	if testing.Short() {
		t.Skip("runs in a network namespace; skipped with -short")
	}
	unshare, err1 := exec.LookPath("unshare")
	ip, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil {
		missing(t, "unshare and ip are needed for the loopback-only network namespace: %s "+
			"(apt-get install -y util-linux iproute2)", setupHint)
		return false
	}
	// The test name is a regexp for -test.run: anchor and quote each level of a subtest path.
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	args := []string{"--net", "--", "sh", "-c", `"$0" link set lo up && exec "$@"`, ip,
		os.Args[0], "-test.run=" + strings.Join(parts, "/"), "-test.count=1", "-test.v"}
	cmd := exec.CommandContext(t.Context(), unshare, args...) //nolint:gosec // argv of our own test binary, no outside input
	cmd.Env = append(os.Environ(), NetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a loopback-only network namespace:\n%s", out)
	if err != nil {
		if strings.Contains(string(out), "unshare failed") || strings.Contains(string(out), "Operation not permitted") {
			missing(t, "cannot create a network namespace (%v): run the tests as root", err)
			return false
		}
		t.Fatalf("the test failed inside the network namespace: %v", err)
	}
	if strings.Contains(string(out), "no tests to run") {
		t.Fatalf("the child process ran no test: is %q a top-level test name?", t.Name())
	}
	return false
}
