#!/usr/bin/env bash
# scripts/playwright-mcp.sh installs the pinned playwright-mcp (npm @playwright/mcp) into
# .tools/playwright-mcp when it is missing or another version, and prints the path of its CLI
# on stdout. (Its own folder: .tools/node belongs to scripts/node.sh, whose lockfile-driven
# npm install would prune anything else installed there.)
#
#   scripts/playwright-mcp.sh
#
# The browser benchmark (make bench, cmd/mcphub/browser_bench_test.go) compares mcphub's
# browser tools with it. Nothing is installed globally and no browser is downloaded
# (--ignore-scripts): the benchmark points it at Debian's Chromium with --executable-path.
# `make clean` removes .tools/.
#
# Environment:
#   NPM                         the npm command (default: npm)
#   MCPHUB_PLAYWRIGHT_MCP_VERSION  the version to install (default: the pin below)
set -euo pipefail

# The pin. Its own dependencies (playwright, playwright-core) are exact versions in its
# package.json, so this one version fixes the whole tree.
PLAYWRIGHT_MCP_VERSION=${MCPHUB_PLAYWRIGHT_MCP_VERSION:-0.0.83}
NPM=${NPM:-npm}

cd "$(dirname "$0")/.."
prefix=$PWD/.tools/playwright-mcp
pkg=$prefix/node_modules/@playwright/mcp
cli=$pkg/cli.js

log() { printf 'playwright-mcp: %s\n' "$*" >&2; }

installed_version() {
	[[ -f $pkg/package.json ]] || return 0
	node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg/package.json" 2>/dev/null || true
}

if ! command -v node >/dev/null 2>&1 || ! command -v "$NPM" >/dev/null 2>&1; then
	log "error: node and npm are needed (Debian: apt-get install -y --no-install-recommends nodejs npm)"
	exit 1
fi

if [[ $(installed_version) != "$PLAYWRIGHT_MCP_VERSION" || ! -f $cli ]]; then
	log "installing @playwright/mcp@$PLAYWRIGHT_MCP_VERSION into $prefix"
	mkdir -p "$prefix"
	"$NPM" install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error \
		"@playwright/mcp@$PLAYWRIGHT_MCP_VERSION" >&2
	got=$(installed_version)
	if [[ $got != "$PLAYWRIGHT_MCP_VERSION" ]]; then
		log "error: installed version is '$got', want $PLAYWRIGHT_MCP_VERSION"
		exit 1
	fi
fi
printf '%s\n' "$cli"
