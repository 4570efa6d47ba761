package sandbox

import (
	"context"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// engine is the part of the Docker Engine API the runtime uses; *client.Client implements it.
// Keeping it narrow shows at a glance what the sandbox asks of the engine.
type engine interface {
	Ping(ctx context.Context) (types.Ping, error)
	Info(ctx context.Context) (system.Info, error)
	ImageInspect(ctx context.Context, imageID string, opts ...client.ImageInspectOption) (image.InspectResponse, error)
	ContainerCreate(ctx context.Context, config *container.Config, hostConfig *container.HostConfig, networkingConfig *network.NetworkingConfig, platform *ocispec.Platform, containerName string) (container.CreateResponse, error)
	ContainerAttach(ctx context.Context, containerID string, options container.AttachOptions) (types.HijackedResponse, error)
	ContainerStart(ctx context.Context, containerID string, options container.StartOptions) error
	ContainerWait(ctx context.Context, containerID string, condition container.WaitCondition) (<-chan container.WaitResponse, <-chan error)
	ContainerInspect(ctx context.Context, containerID string) (container.InspectResponse, error)
	ContainerKill(ctx context.Context, containerID, signal string) error
	ContainerRemove(ctx context.Context, containerID string, options container.RemoveOptions) error
	ContainerList(ctx context.Context, options container.ListOptions) ([]container.Summary, error)
	ContainerExecCreate(ctx context.Context, containerID string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, config container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	VolumeCreate(ctx context.Context, options volume.CreateOptions) (volume.Volume, error)
	VolumeRemove(ctx context.Context, volumeID string, force bool) error
	VolumeList(ctx context.Context, options volume.ListOptions) (volume.ListResponse, error)
	Close() error
}

var _ engine = (*client.Client)(nil)

// newEngine makes a client that negotiates the API version on first use (the Debian engine
// speaks 1.41) and connects lazily: a missing engine shows up in Ready, not here.
func newEngine(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("making the Docker client: %w", err)
	}
	return cli, nil
}

// engineError turns an engine error into a sentence an agent can act on, wrapping ErrNotReady
// when the engine or the image is missing.
func (r *Runtime) engineError(doing string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case client.IsErrConnectionFailed(err) || isEngineGone(err):
		return fmt.Errorf("%w: the Docker Engine is not reachable at %s while %s (%w); it may be restarting: try again in a few seconds, or start it (scripts/setup.sh)",
			ErrNotReady, r.hostName, doing, err)
	case cerrdefs.IsNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "image"):
		return fmt.Errorf("%w: the sandbox image %s is missing: build it with `make sandbox-image` (or docker build -t %s sandbox/)",
			ErrNotReady, r.cfg.Image, r.cfg.Image)
	}
	return fmt.Errorf("%s: the Docker Engine answered: %w", doing, err)
}

// isEngineGone matches the errors a request gets when dockerd goes away under it.
func isEngineGone(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "broken pipe", "no such file or directory", "EOF", "use of closed network connection"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// isNotFound: the container or volume is already gone.
func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// isGoneOrStopped: an exec found its container stopped or removed (the engine restarted, or
// the container was killed).
func isGoneOrStopped(err error) bool {
	return cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) ||
		(err != nil && strings.Contains(err.Error(), "is not running"))
}
