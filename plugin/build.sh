#!/usr/bin/env bash
# Assembles the managed-plugin directory for `docker plugin create NAME DIR`: DIR/config.json (the manifest) and
# DIR/rootfs with the host's node binary and the shared libraries it links, and the plugin bundled from the sources
# (plugin/assemble-app.sh). No network, no base image. Usage: plugin/build.sh [OUT_DIR]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$repo/plugin/build}")"
rootfs="$out/rootfs"
app="$rootfs/opt/image-access"
node_bin="$(realpath "$(command -v node)")"

case "$out" in /|"$repo"|"$HOME") echo "plugin/build.sh: refusing to use $out as the output directory" >&2; exit 1 ;; esac
rm -rf "$out"
mkdir -p "$rootfs/usr/bin" "$app" "$rootfs/run/docker/plugins" "$rootfs/tmp" "$rootfs/etc/ssl/certs"
chmod 1777 "$rootfs/tmp"

# Node (the manifest's entrypoint is /usr/bin/node) and the bundled plugin at the path the entrypoint names.
"$repo/plugin/assemble-app.sh" "$app" "$rootfs/usr/bin/node"
# Every shared library node links (and the dynamic loader), at the path the loader will look for it.
for lib in $(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  mkdir -p "$rootfs$(dirname "$lib")"
  cp -L "$lib" "$rootfs$lib"
done

# CA bundle for https to Docker Hub (NODE_EXTRA_CA_CERTS can point at it or at a fleet's own CA), a passwd entry for
# root, and the mount points the runtime binds: /etc/hosts, /etc/resolv.conf (host network).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"; fi
echo 'root:x:0:0:root:/root:/usr/sbin/nologin' >"$rootfs/etc/passwd"
touch "$rootfs/etc/hosts" "$rootfs/etc/resolv.conf"
# The host view: config.json binds host directories that exist on every Linux host under /host (so no mount source
# is ever missing), and these links put the files the settings name by default where a host process finds them.
for dir in etc usr/share root home var/lib; do mkdir -p "$rootfs/host/$dir"; done
ln -s /host/etc/docker "$rootfs/etc/docker"
ln -s /host/etc/image-access "$rootfs/etc/image-access"
mkdir -p "$rootfs/usr/share" && ln -s /host/usr/share/docker-desktop "$rootfs/usr/share/docker-desktop"
ln -s /host/root "$rootfs/root"
ln -s /host/home "$rootfs/home"
mkdir -p "$rootfs/var" && ln -s /host/var/lib "$rootfs/var/lib"

cp "$repo/config.json" "$out/config.json"
echo "plugin/build.sh: $out ($(du -sh --apparent-size "$rootfs" | cut -f1) rootfs)"
