#!/usr/bin/env bash
# Builds tug's busybox test image from Debian's busybox-static and pushes it to a registry.
#
# Usage: scripts/build-test-image.sh <registry host:port> [--repo NAME] [--big-mb N]
#
# Pushes (plain HTTP, the registry is a local test one):
#   <registry>/<repo>:latest   OCI manifest; one layer: /bin/busybox plus every applet as a symlink
#                              (`busybox --install -s`), /etc/passwd and /etc/group (root, nobody),
#                              /tmp, /var/www/index.html. Config: Cmd ["sh"], WorkingDir "/",
#                              Env PATH=/usr/sbin:/usr/bin:/sbin:/bin.
#   <registry>/<repo>:httpd    the same layer, Docker v2 schema 2 manifest, Cmd
#                              ["httpd","-f","-p","8080","-h","/var/www"] (a tiny HTTP server).
#   <registry>/<repo>:big      only with --big-mb N: latest plus a second layer holding N MiB of
#                              random (incompressible) bytes in /big.bin, for interrupted-pull tests.
# The default repo is "busybox"; the example manifests (manifests/*.yaml) name
# registry.local:5000/tug/busybox:latest, so the README demo pushes with --repo tug/busybox and
# starts its agent with --registry-mirror registry.local:5000=<registry>. The image has every
# applet the examples run (sh, httpd, nc, wget, hostname, sleep). Needs root (chroot), umoci, skopeo and busybox-static's
# /bin/busybox. The OCI layout is built in a temporary directory, removed on exit.
set -euo pipefail

usage() {
  echo "usage: $0 <registry host:port> [--repo NAME] [--big-mb N]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
registry=$1
shift
repo=busybox
big_mb=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --repo) repo=${2:?}; shift 2 ;;
    --big-mb) big_mb=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done

busybox=/bin/busybox
banner=$("$busybox" --help 2>&1 || true)
if [[ $banner != BusyBox* ]]; then
  echo "$0: $busybox is not busybox (install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d /tmp/tug-test-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
# busybox --install -s writes into these and fails if they are missing.
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/www}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
chroot "$rootfs" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo 'hello from tug' >"$rootfs/var/www/index.html"
# Fixed times and owners keep the layer digest stable across builds of the same busybox.
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$rootfs" -cf "$work/base.tar" .

layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci raw add-layer --image "$layout:latest" "$work/base.tar"
umoci config --image "$layout:latest" --os linux --architecture amd64 \
  --config.cmd sh --config.workingdir / --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin
umoci config --image "$layout:latest" --tag httpd \
  --config.cmd httpd --config.cmd -f --config.cmd -p --config.cmd 8080 \
  --config.cmd -h --config.cmd /var/www

push() {
  skopeo --insecure-policy copy --quiet --dest-tls-verify=false "$@"
}
push "oci:$layout:latest" "docker://$registry/$repo:latest"
push --format v2s2 "oci:$layout:httpd" "docker://$registry/$repo:httpd"

if [[ $big_mb -gt 0 ]]; then
  mkdir -p "$work/big"
  head -c "$((big_mb * 1024 * 1024))" /dev/urandom >"$work/big/big.bin"
  tar --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$work/big" -cf "$work/big.tar" .
  umoci raw add-layer --image "$layout:latest" --tag big "$work/big.tar"
  push "oci:$layout:big" "docker://$registry/$repo:big"
fi
echo "pushed $registry/$repo"
