#!/usr/bin/env bash
# scripts/sandbox-image.sh builds the code sandbox's default image WITHOUT a registry, from
# Debian packages: python3.11 with its standard library, nodejs, bash, coreutils and
# busybox-static (tar, find, ps, ... as applets). Method and measurements: shared/notes/sandbox.md.
#
#   scripts/sandbox-image.sh [IMAGE]        (default: mcphub-sandbox:latest)
#
# It downloads the .debs with apt-get download (no maintainer scripts run, no dpkg database),
# unpacks them into a root directory, writes the few files a system needs (/etc/passwd with
# nobody 65534, nsswitch, the ld.so cache), packs it into a tarball FILE, checks it, and only
# then runs `docker import` (a failed pipeline into `docker import -` would import an empty
# image). Finally it runs python3, node and bash in the new image to prove it works.
#
# Environment:
#   MCPHUB_SANDBOX_DEBS   where the .debs are kept between builds
#                         (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mcphub-sandbox-debs)
#   MCPHUB_SANDBOX_KEEP   set to 1 to keep the work directory (root tree and tarball)
#
# sandbox/Dockerfile builds an equivalent image for those who can pull debian:bookworm-slim.
set -euo pipefail

IMAGE=${1:-mcphub-sandbox:latest}

# Python 3.11 with a full standard library (notes/sandbox.md), then node and its libraries,
# then bash and coreutils for GNU tools, busybox-static for everything else.
PACKAGES=(
	python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3.11 media-types
	libc6 libgcc-s1 gcc-12-base zlib1g libexpat1 libssl3 libffi8 libsqlite3-0 libbz2-1.0
	liblzma5 libncursesw6 libtinfo6 libreadline8 readline-common libuuid1 libdb5.3 libgdbm6
	libgdbm-compat4 libnsl2 libtirpc3 libtirpc-common libcrypt1 libgssapi-krb5-2 libk5crypto3
	libkeyutils1 libkrb5-3 libkrb5support0 libcom-err2 libc-bin tzdata
	nodejs libnode108 libbrotli1 libc-ares2 libicu72 libnghttp2-14 libuv1 libstdc++6
	node-acorn node-xtend node-cjs-module-lexer node-undici node-busboy
	bash coreutils libacl1 libattr1 libgmp10 libselinux1 libpcre2-8-0
	busybox-static
)

log() { printf "sandbox-image: [%ss] %s\n" "$SECONDS" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

for cmd in apt-get apt-cache dpkg-deb tar docker ldconfig; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd is missing: this script needs Debian (apt, dpkg) and the docker CLI"
done
timeout 10 docker version >/dev/null 2>&1 || die "no Docker Engine answers (scripts/setup.sh starts one)"

DEBS=${MCPHUB_SANDBOX_DEBS:-${XDG_CACHE_HOME:-$HOME/.cache}/mcphub-sandbox-debs}
mkdir -p "$DEBS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcphub-sandbox-image.XXXXXX")
cleanup() {
	if [[ ${MCPHUB_SANDBOX_KEEP:-} == 1 ]]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
ROOT=$WORK/root
TARBALL=$WORK/rootfs.tar
started=$(date +%s)

# VERSION maps each package to the newest version a configured repository offers: the installed
# one may come from elsewhere (a nodesource nodejs, say) and cannot be downloaded. One madison
# call for all packages: one per package takes a minute.
declare -A VERSION=()
read_versions() {
	local name ver
	while IFS='|' read -r name ver _; do
		name=${name// /} ver=${ver// /}
		[[ -n $name && -z ${VERSION[$name]:-} ]] && VERSION[$name]=$ver
	done < <(apt-cache madison "${PACKAGES[@]}" 2>/dev/null)
	return 0
}
read_versions
if [[ -z ${VERSION[coreutils]:-} ]]; then
	log "no package lists yet: apt-get update"
	apt-get update -q >&2 || die "apt-get update failed"
	read_versions
fi

# --- download -----------------------------------------------------------------------------------
want=()
for p in "${PACKAGES[@]}"; do
	v=${VERSION[$p]:-}
	[[ -n $v ]] || die "no repository offers the package $p (apt-get update? a Debian 12 source list?)"
	# The file name apt-get download writes: epochs become %3a.
	f=$(compgen -G "$DEBS/${p}_${v/:/%3a}_*.deb" | head -n 1 || true)
	if [[ -z $f ]]; then want+=("$p=$v"); fi
done
if ((${#want[@]})); then
	log "downloading ${#want[@]} packages into $DEBS"
	# apt-get download writes into the current directory; as root it drops to _apt, which must
	# be able to write there.
	(cd "$DEBS" && chmod 0777 . && apt-get download -q "${want[@]}" >&2) || die "apt-get download failed"
fi

# --- unpack -------------------------------------------------------------------------------------
log "unpacking"
mkdir -p "$ROOT/usr/bin" "$ROOT/usr/lib" "$ROOT/usr/lib64" "$ROOT/usr/sbin"
# Merged /usr: the symlinks exist BEFORE unpacking and tar keeps them (--keep-directory-symlink),
# or the packages' /bin and /lib would replace them with directories.
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$ROOT/$d"; done
for p in "${PACKAGES[@]}"; do
	v=${VERSION[$p]}
	f=$(compgen -G "$DEBS/${p}_${v/:/%3a}_*.deb" | head -n 1 || true)
	[[ -n $f ]] || die "the .deb of $p=$v is missing from $DEBS after downloading"
	dpkg-deb --fsys-tarfile "$f" >"$WORK/pkg.tar" || die "reading $f"
	tar -x --keep-directory-symlink -f "$WORK/pkg.tar" -C "$ROOT" || die "unpacking $f"
done
rm -f "$WORK/pkg.tar"
# Documentation and manuals are dead weight in a sandbox.
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/usr/share/info" "$ROOT/usr/share/lintian"

# --- the files a system needs -------------------------------------------------------------------
mkdir -p "$ROOT/etc" "$ROOT/tmp" "$ROOT/work" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" "$ROOT/root" "$ROOT/var/tmp"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
chmod 0777 "$ROOT/work"
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/tmp:/bin/sh
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$ROOT/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' >"$ROOT/etc/hosts"
ln -sf /usr/share/zoneinfo/Etc/UTC "$ROOT/etc/localtime"
echo Etc/UTC >"$ROOT/etc/timezone"
ln -sf python3.11 "$ROOT/usr/bin/python3"
ln -sf python3.11 "$ROOT/usr/bin/python"
[[ -e $ROOT/usr/bin/node ]] || ln -s nodejs "$ROOT/usr/bin/node"
# /bin/sh is bash, for GNU behaviour in `sh -c` (dash is not in the image).
ln -sf bash "$ROOT/usr/bin/sh"
# busybox fills in what coreutils and bash lack (tar, find, ps, kill, ...), never replacing a
# GNU tool. The static busybox runs on the host too, which lists its applets.
while read -r applet; do
	[[ -n $applet && $applet != busybox ]] || continue
	if [[ ! -e $ROOT/usr/bin/$applet && ! -e $ROOT/usr/sbin/$applet ]]; then
		ln -s busybox "$ROOT/usr/bin/$applet"
	fi
done < <("$ROOT/usr/bin/busybox" --list)
ldconfig -r "$ROOT" || die "ldconfig -r $ROOT"

# --- pack, check, import ------------------------------------------------------------------------
log "packing"
tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf "$TARBALL" . || die "packing $ROOT"
for f in ./usr/bin/python3.11 ./usr/bin/node ./usr/bin/bash ./usr/bin/timeout ./usr/bin/busybox ./etc/passwd; do
	tar -tf "$TARBALL" "$f" >/dev/null 2>&1 || die "the tarball lacks $f"
done
size=$(stat -c %s "$TARBALL")
((size > 20 << 20)) || die "the tarball is only $size bytes: something went wrong unpacking"
log "root tree packed: $((size >> 20)) MiB; importing as $IMAGE"
docker import \
	--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'ENV HOME=/tmp' \
	--change 'WORKDIR /work' \
	--change 'LABEL org.opencontainers.image.title=mcphub-sandbox' \
	--change 'CMD ["sleep", "infinity"]' \
	"$TARBALL" "$IMAGE" >/dev/null || die "docker import failed"

# --- prove it -----------------------------------------------------------------------------------
log "checking"
check() {
	local want=$1 got
	shift
	got=$(docker run --rm --network none --user 65534:65534 "$IMAGE" "$@" 2>&1) ||
		die "running $* in $IMAGE failed: $got"
	[[ $got == "$want" ]] || die "running $* in $IMAGE printed '$got', want '$want'"
}
check 2 python3 -c 'import json, sqlite3, ssl, zoneinfo, decimal, ctypes; print(1+1)'
check 2 node -e 'console.log(1+1)'
check 2 bash -c 'echo $((1+1))'
check 2 sh -c 'echo 2 | timeout -s KILL 5 cat'
log "built $IMAGE in $(($(date +%s) - started)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%d MiB", $1 / 1048576 }'))"
