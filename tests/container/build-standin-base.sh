#!/bin/sh
# Builds a stand-in for the Dockerfile's base image from Debian packages and tags
# it with the exact name FROM uses, since no image registry is reachable here.
# The stand-in carries the host's CA bundle and a pip.conf pointing at it, so pip
# in the build trusts what pip on the host trusts. Cached: skipped when present.
set -eu

TAG="${1:-docker.io/library/python:3.12-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE="${DEBIAN_SUITE:-bookworm}"

if podman image exists "$TAG" && [ "$(podman image inspect --format '{{index .Config.Labels "short-cut.standin"}}' "$TAG")" = "1" ]; then
    echo "stand-in $TAG is cached"
    exit 0
fi

ROOTFS=$(mktemp -d /var/tmp/short-cut-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    "$SUITE" "$ROOTFS" "$MIRROR" >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$ROOTFS/etc/pip.conf"
rm -rf "$ROOTFS/var/cache/apt/archives/"*.deb "$ROOTFS/var/lib/apt/lists/"*
tar -C "$ROOTFS" -c . | podman import \
    --change 'CMD ["python3"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL short-cut.standin=1' \
    - "$TAG" >/dev/null
echo "stand-in $TAG built"
