#!/usr/bin/env bash
# Puts a runnable image-access in APP_DIR: node (stripped when strip is available) at NODE_PATH and the plugin bundled
# from the sources (APP_DIR/bundle, as scripts/bundle.js lays it out in the repository: no node_modules). Shared by the
# managed plugin's rootfs (plugin/build.sh) and the Debian package (packaging/build-deb.sh), so both ship the same bits.
# Usage: plugin/assemble-app.sh APP_DIR NODE_PATH
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
app="$1"
node_out="$2"
node_bin="$(realpath "$(command -v node)")"
[ -d "$repo/node_modules/esbuild" ] || { echo "assemble-app.sh: node_modules is missing; run make build first" >&2; exit 1; }

mkdir -p "$app" "$(dirname "$node_out")"
if command -v strip >/dev/null; then strip --strip-all -o "$node_out" "$node_bin"; else cp "$node_bin" "$node_out"; fi
node "$repo/scripts/bundle.js" "$app/bundle"
# The bundle runs on the node it ships with, or the assembly fails here rather than on a host.
version="$(node -p "require('$repo/package.json').version")"
ran="$("$node_out" "$app/bundle/cli.js" --version)"
[ "$ran" = "$version" ] || { echo "assemble-app.sh: $node_out $app/bundle/cli.js --version printed '$ran', not $version" >&2; exit 1; }
