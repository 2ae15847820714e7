#!/usr/bin/env bash
# Builds image-access_VERSION_ARCH.deb in OUT_DIR: the CLI and plugin with their own node (as the managed plugin
# ships it; Node.js need not be on the host), /usr/bin/image-access and the systemd unit. No network. Usage: packaging/build-deb.sh [OUT_DIR]   (make deb)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:-$repo/packaging/out}")"
version="$(node -p "require('$repo/package.json').version")"
arch="$(dpkg --print-architecture)"
tree="$out/image-access_${version}_${arch}"
lib="$tree/usr/lib/image-access"

rm -rf "$tree" && mkdir -p "$tree/DEBIAN" "$tree/usr/bin" "$tree/lib/systemd/system" "$tree/usr/share/doc/image-access"
"$repo/plugin/assemble-app.sh" "$lib" "$lib/node"
printf '#!/bin/sh\nexec /usr/lib/image-access/node /usr/lib/image-access/bundle/cli.js "$@"\n' >"$tree/usr/bin/image-access"
chmod 755 "$tree/usr/bin/image-access"
cp "$repo/plugin/image-access.service" "$tree/lib/systemd/system/"
cp "$repo/README.md" "$tree/usr/share/doc/image-access/"
for script in postinst prerm; do install -m 755 "$repo/packaging/deb/$script" "$tree/DEBIAN/$script"; done

# node links only libc, libstdc++ and libgcc: what every Debian system has (apt itself needs them).
cat >"$tree/DEBIAN/control" <<CONTROL
Package: image-access
Version: $version
Architecture: $arch
Maintainer: image-access maintainers <maintainers@image-access.invalid>
Depends: libc6 (>= 2.28), libstdc++6, libgcc-s1
Section: admin
Priority: optional
Installed-Size: $(du -sk --apparent-size "$tree" | cut -f1)
Homepage: https://github.com/image-access/image-access
Description: Docker Hub Image Access Management for any Docker engine
 A Docker Engine authorization plugin: developers pull only the kinds of Docker
 Hub images their organisation allows. Ships its own Node.js runtime.
CONTROL

dpkg-deb --root-owner-group --build "$tree" "$out/image-access_${version}_${arch}.deb" >/dev/null
rm -rf "$tree"
echo "$out/image-access_${version}_${arch}.deb"
