package sandbox

import (
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// codeUser runs every snippet: nobody, never root, never the keep-alive's uid.
const codeUser = "65534:65534"

// keepAlive is PID 1's child in pool and session containers. It runs as root (with no
// capabilities) so that a snippet's `kill -9 -1` cannot end the container.
var keepAlive = []string{"sleep", "infinity"}

// containerEnv is the environment of the containers and so of every exec.
var containerEnv = []string{
	"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
	"LANG=C.UTF-8",
	"HOME=/tmp",
	"TMPDIR=/tmp",
	"PYTHONDONTWRITEBYTECODE=1",
	"PYTHONUNBUFFERED=1",
}

// containerOpts says what kind of container containerConfig describes.
type containerOpts struct {
	role    string
	session string // label value of a session, never its secret ID
	volume  string // mounted at /work; "" means a tmpfs there
	// cmd, when set, runs as the code's user instead of the keep-alive (the cold path of Run),
	// with its output attached.
	cmd   []string
	stdin bool
}

// containerConfig is the one place the container settings are made. Everything is locked down
// by default; only the limits and the OCI runtime come from the config.
func (r *Runtime) containerConfig(o containerOpts) (*container.Config, *container.HostConfig) {
	init := true
	pids := r.cfg.PidsLimit
	cc := &container.Config{
		Image:           r.cfg.Image,
		Cmd:             keepAlive,
		User:            "0:0",
		WorkingDir:      "/work",
		Env:             containerEnv,
		Labels:          r.labels(o.role, o.session),
		NetworkDisabled: true,
	}
	if o.cmd != nil {
		cc.Cmd = o.cmd
		cc.User = codeUser
		cc.AttachStdout, cc.AttachStderr = true, true
		if o.stdin {
			cc.AttachStdin, cc.OpenStdin, cc.StdinOnce = true, true, true
		}
	}
	hc := &container.HostConfig{
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		Tmpfs: map[string]string{
			"/tmp": "rw,nosuid,nodev,size=" + strconv.FormatInt(r.cfg.TmpSizeBytes, 10),
		},
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
		Init:        &init,
		Runtime:     r.cfg.Runtime,
		IpcMode:     container.IPCModePrivate,
		// The output is read from the attach or exec stream, bounded; a json log file would
		// let a flood fill the engine's disk.
		LogConfig: container.LogConfig{Type: "none"},
		// The host's OOM killer, should it ever act, takes sandboxes before the hub.
		OomScoreAdj: 500,
		Resources: container.Resources{
			Memory:     r.cfg.MemoryBytes,
			MemorySwap: r.cfg.MemoryBytes, // equal: no swap
			NanoCPUs:   int64(r.cfg.CPUs * 1e9),
			PidsLimit:  &pids,
		},
	}
	if o.volume != "" {
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: o.volume, Target: "/work"}}
	} else {
		// exec: the code may run what it writes in /work (not in /tmp, which Docker mounts
		// noexec). uid: the code's own directory.
		hc.Tmpfs["/work"] = "rw,exec,nosuid,nodev,uid=65534,gid=65534,mode=0755,size=" + strconv.FormatInt(r.cfg.WorkSizeBytes, 10)
	}
	return cc, hc
}

// volumeOpts makes a session's /work: a tmpfs-backed local volume, so that it has a size cap
// (a disk volume has none without project quotas) and survives the replacement of the
// session's container (the new container mounts it before the old one goes).
func (r *Runtime) volumeOpts() map[string]string {
	return map[string]string{
		"type":   "tmpfs",
		"device": "tmpfs",
		"o":      "size=" + strconv.FormatInt(r.cfg.WorkSizeBytes, 10) + ",uid=65534,gid=65534,mode=0755,nosuid,nodev",
	}
}
