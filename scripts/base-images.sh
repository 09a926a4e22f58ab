#!/usr/bin/env bash
# Builds Dockyard's base images locally, with no registry: for air-gapped
# servers, and for the tests (no image can be pulled on CI machines).
#
#   scripts/base-images.sh [busybox] [python] [node] [go] [rust] [debian]   (default: busybox python)
#
# - dockyard-base/busybox:1   busybox-static with its applets (sh, httpd, wget, …):
#                             the smallest image; serves static sites with `httpd`.
# - dockyard-base/debian:bookworm          a minimal Debian (debootstrap --variant=minbase)
# - dockyard-base/python:bookworm          the same with python3 and python3-venv
# - dockyard-base/node:bookworm            the same with nodejs and npm
# - dockyard-base/go:bookworm              the same with golang-go (Go 1.19)
# - dockyard-base/rust:bookworm            the same with cargo and rustc (1.63), gcc
#
# Each image is made only when its tag is missing (delete it to remake it).
# Debian images need `debootstrap` and a Debian mirror (DEBIAN_MIRROR, default
# http://deb.debian.org/debian); point it at a local mirror when air-gapped.
# The language images are the Debian image plus Debian's packages, installed by
# a build with apt from the same mirror.
# Then tell Dockyard to use them for generated Dockerfiles, e.g.
#   DOCKYARD_DEPLOY__IMAGES__STATIC_SITE=dockyard-base/busybox:1
#   DOCKYARD_DEPLOY__IMAGES__PYTHON=dockyard-base/python:bookworm
#   DOCKYARD_DEPLOY__IMAGES__NODE=dockyard-base/node:bookworm
#   DOCKYARD_DEPLOY__IMAGES__GO=dockyard-base/go:bookworm
#   DOCKYARD_DEPLOY__IMAGES__RUST=dockyard-base/rust:bookworm
#   DOCKYARD_DEPLOY__IMAGES__RUNTIME=dockyard-base/debian:bookworm
# (see "Air-gapped servers" in docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-bookworm}
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(busybox python)

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

busybox_image() {
  local tag=dockyard-base/busybox:1
  have_image "$tag" && { echo "==> $tag is there"; return 0; }
  ensure_packages busybox-static
  local dir
  dir=$(mktemp -d)
  mkdir -p "$dir/bin" "$dir/tmp" "$dir/www" "$dir/etc"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $("$dir/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
  done
  chmod 1777 "$dir/tmp"
  echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$dir/etc/passwd"
  echo 'root:x:0:' >"$dir/etc/group"
  echo "==> importing $tag"
  tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/bin' -c 'WORKDIR /' -c 'CMD ["/bin/sh"]' - "$tag" >/dev/null
  rm -rf "$dir"
}

# debian_image TAG: a minimal Debian from debootstrap, with CA certificates.
debian_image() {
  local tag=$1
  have_image "$tag" && { echo "==> $tag is there"; return 0; }
  ensure_packages debootstrap
  local dir
  dir=$(mktemp -d)
  echo "==> debootstrap $SUITE (about a minute)"
  as_root debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$dir" "$MIRROR" \
    >/tmp/dockyard-debootstrap.log 2>&1 \
    || { echo "error: debootstrap failed; see /tmp/dockyard-debootstrap.log" >&2; as_root rm -rf "$dir"; return 1; }
  as_root rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*
  echo "==> importing $tag"
  as_root tar -C "$dir" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["/bin/bash"]' - "$tag" >/dev/null
  as_root rm -rf "$dir"
}

# derived_image TAG packages…: the Debian image plus packages, installed with
# apt inside a build (the engine's containers reach the mirror over plain
# HTTP). debootstrap's own resolver cannot configure some package sets
# (npm's), apt can; and the Debian layer is made once and shared.
derived_image() {
  local tag=$1; shift
  have_image "$tag" && { echo "==> $tag is there"; return 0; }
  debian_image "dockyard-base/debian:$SUITE"
  echo "==> building $tag: apt-get install $*"
  printf '%s\n' "FROM dockyard-base/debian:$SUITE" \
    "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $* \\" \
    "    && rm -rf /var/lib/apt/lists/*" \
    | docker build -q -t "$tag" - >/tmp/dockyard-base-image.log 2>&1 \
    || { echo "error: building $tag failed; see /tmp/dockyard-base-image.log" >&2; return 1; }
}

start_docker || { echo "error: no Docker engine; install docker.io" >&2; exit 1; }
for image in "${wanted[@]}"; do
  case "$image" in
    busybox) busybox_image ;;
    debian) debian_image "dockyard-base/debian:$SUITE" ;;
    python) derived_image "dockyard-base/python:$SUITE" python3 python3-venv ;;
    node) derived_image "dockyard-base/node:$SUITE" nodejs npm ;;
    go) derived_image "dockyard-base/go:$SUITE" golang-go ;;
    rust) derived_image "dockyard-base/rust:$SUITE" cargo ;;
    *) echo "error: unknown base image $image (busybox, debian, python, node, go, rust)" >&2; exit 2 ;;
  esac
done
