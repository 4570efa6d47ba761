#!/usr/bin/env bash
# make conformance: install the pinned conformance suite (and Node 22) into .tools/node, then run
# every server scenario of the official MCP conformance suite, and the 2025-11-25 and 2026-07-28
# requirement sets, against the real binary's conformance fixture at /mcp/conformance on
# loopback (TestConformanceSuite in cmd/mcphub). Known failures: conformance/expected-failures.yml.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/node.sh >/dev/null
exec "${GO:-go}" test -count=1 -v -timeout 30m -run '^TestConformanceSuite$' ./cmd/mcphub/
