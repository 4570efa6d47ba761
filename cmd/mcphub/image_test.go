package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcphub/mcphub/internal/testenv"
)

// TestImage builds the hub's image with scripts/hub-image.sh (no registry) and checks what an
// operator relies on: it runs as a non-root user with its data under /data, refuses to listen
// beyond loopback without api keys, and serves MCP over stdio from inside a container that has
// no network at all.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Docker image; skipped with -short")
	}
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	image := fmt.Sprintf("mcphub:test-%d", os.Getpid())
	build := exec.CommandContext(ctx, "../../scripts/hub-image.sh", image)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/hub-image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.CommandContext(context.WithoutCancel(ctx), "docker", "rmi", "-f", image).Run()
	})

	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "-f",
		"{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{json .Config.Env}}", image).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	for _, want := range []string{"65532:65532|", "|/data|", `["/mcphub"]`, "MCPHUB_DATA=/data"} {
		if !strings.Contains(got, want) {
			t.Errorf("image config %s lacks %s", got, want)
		}
	}

	// The default command listens on 0.0.0.0 and must refuse to without api keys.
	refuse := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", image)
	out, err = refuse.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "needs api keys") {
		t.Errorf("serve on 0.0.0.0 without keys: err %v, output:\n%s", err, out)
	}

	// stdio from inside a container with no network: the memory server writes under /data as
	// the non-root user.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), "docker", "run", "-i", "--rm", "--network", "none",
		"--read-only", "--tmpfs", "/data:uid=65532,gid=65532", image, "serve", "--stdio")
	client := sdk.NewClient(&sdk.Implementation{Name: "image-test", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		t.Fatalf("connect over stdio to the container: %v", err)
	}
	defer func() { _ = cs.Close() }()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range tools.Tools {
		names[tool.Name] = true
	}
	for _, want := range []string{"hub_list_servers", "memory_create_entities", "fetch_url"} {
		if !names[want] {
			t.Errorf("the container serves no %s (got %d tools)", want, len(tools.Tools))
		}
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{
		Name:      "memory_create_entities",
		Arguments: map[string]any{"entities": []any{map[string]any{"name": "image", "entityType": "test", "observations": []any{"built without a registry"}}}},
	})
	if err != nil || res.IsError {
		t.Fatalf("memory_create_entities in the container: %v %+v", err, res)
	}
}
