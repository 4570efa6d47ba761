package codesandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// The runtime labels every container with an instance name; at start-up it removes what an
// earlier process of the same instance left (a crashed hub), and at Close everything of its
// instance. So the name must be stable across restarts of one hub, and never shared by two live
// processes: otherwise `mcphub list` on the same config, or a second hub on the same data
// directory, would remove the running hub's containers.
//
// claimInstance gives both: the instance is derived from the host and the data directory, and
// held with an exclusive lock on a file in that directory. A process that finds the lock taken
// by a live hub runs under a name of its own (the stable one plus a random suffix), which
// reaps nothing of the other's; the kernel drops the lock when a hub dies, so the next start
// takes the stable name again and reaps what the crashed hub left.

// instanceLockName is the lock file in the sandbox server's data directory.
const instanceLockName = "instance.lock"

// claimInstance returns the instance name for a hub whose sandbox data directory is dataDir,
// and the open lock file to close at shutdown (nil when the lock was taken).
func claimInstance(dataDir string) (string, *os.File, error) {
	stable := stableInstance(dataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("creating the sandbox data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, instanceLockName), os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the server's own data directory
	if err != nil {
		return "", nil, fmt.Errorf("opening the sandbox instance lock: %w", err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) //nolint:gosec // G115: a file descriptor fits an int
	switch {
	case err == nil:
		return stable, f, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		_ = f.Close()
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
		return stable + "-" + hex.EncodeToString(b[:]), nil, nil
	default:
		_ = f.Close()
		return "", nil, fmt.Errorf("locking the sandbox instance: %w", err)
	}
}

// stableInstance is the instance name of a hub on this host with this data directory.
func stableInstance(dataDir string) string {
	host, _ := os.Hostname()
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(host + "\x00" + dataDir))
	return "hub-" + hex.EncodeToString(sum[:6])
}
