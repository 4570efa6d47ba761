#!/usr/bin/env bash
# scripts/hub-image.sh builds the hub's own Docker image WITHOUT a registry: a static mcphub
# binary (pure Go, no cgo: SQLite is modernc's) on an otherwise empty root with what a static
# program needs (CA certificates, /etc/passwd with the non-root user 65532, /tmp, /data), packed
# into a tarball FILE, checked, then `docker import`ed with the image's settings.
#
#   scripts/hub-image.sh [IMAGE]        (default: mcphub:latest)
#
# The image runs `mcphub serve --http 0.0.0.0:8080` as uid 65532 with MCPHUB_DATA=/data. Listening
# beyond loopback needs auth.api_keys (or auth.allow_unauthenticated): mount a config and pass
# `serve --config /etc/mcphub/mcphub.yaml --http 0.0.0.0:8080`. The Dockerfile at the top of the
# repository builds the same image for those who can pull golang and distroless images.
#
# Environment:
#   GO        the go command (default: go)
#   VERSION   the version stamped into the binary (default: git describe)
set -euo pipefail

IMAGE=${1:-mcphub:latest}
GO=${GO:-go}
cd "$(dirname "$0")/.."
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

log() { printf "hub-image: [%ss] %s\n" "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
command -v docker >/dev/null 2>&1 || die "the docker CLI is missing (scripts/setup.sh installs docker.io)"
timeout 10 docker version >/dev/null 2>&1 || die "no Docker Engine answers (scripts/setup.sh starts one)"
CA=/etc/ssl/certs/ca-certificates.crt
[[ -s $CA ]] || die "$CA is missing: apt-get install -y ca-certificates"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcphub-hub-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/data" "$ROOT/tmp"

log "building a static mcphub $VERSION"
# timetzdata embeds the time zone database: the image has no /usr/share/zoneinfo.
CGO_ENABLED=0 "$GO" build -trimpath -tags timetzdata \
	-ldflags "-s -w -X main.version=$VERSION" -o "$ROOT/mcphub" ./cmd/mcphub
cp "$CA" "$ROOT/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ROOT/etc/group"
chmod 1777 "$ROOT/tmp"

# Owners are set in the archive, not on disk: /data belongs to the non-root user.
tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf "$WORK/rootfs.tar" etc mcphub tmp
tar --numeric-owner --owner=65532 --group=65532 -C "$ROOT" -rf "$WORK/rootfs.tar" data
tar -tf "$WORK/rootfs.tar" | grep -x 'mcphub' >/dev/null || die "the tarball has no mcphub binary"

log "importing $IMAGE"
docker import \
	--change 'USER 65532:65532' \
	--change 'WORKDIR /data' \
	--change 'ENV MCPHUB_DATA=/data' \
	--change 'EXPOSE 8080' \
	--change 'ENTRYPOINT ["/mcphub"]' \
	--change 'CMD ["serve", "--http", "0.0.0.0:8080"]' \
	--change "LABEL org.opencontainers.image.title=mcphub org.opencontainers.image.version=$VERSION" \
	"$WORK/rootfs.tar" "$IMAGE" >/dev/null
docker run --rm --network none "$IMAGE" version >&2 || die "the new image does not run"
log "done: $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
