package conformance

import (
	"testing"

	"github.com/mcphub/mcphub/servers/registry"
	"github.com/mcphub/mcphub/servers/registry/registrytest"
)

var factory = registry.Factory{Name: "conformance", FreeToolNames: true, New: New}

func TestConformance(t *testing.T) { registrytest.Conformance(t, factory) }

func TestToolSnapshots(t *testing.T) { registrytest.ToolSnapshots(t, factory) }
