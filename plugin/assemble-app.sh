#!/usr/bin/env bash
# Puts a runnable image-access in APP_DIR: node at NODE_PATH (stripped when strip is available; its embedded ICU data
# trimmed to root and English by plugin/trim-icu.js) and the plugin bundled from the sources (APP_DIR/bundle, as
# scripts/bundle.js lays it out in the repository: no node_modules), its V8 code cache made by the node it ships
# with. Shared by the managed plugin's rootfs (plugin/build.sh) and the Debian package (packaging/build-deb.sh), so
# both ship the same bits.
# Usage: plugin/assemble-app.sh APP_DIR NODE_PATH
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
app="$1"
node_out="$2"
node_bin="$(realpath "$(command -v node)")"
[ -d "$repo/node_modules/esbuild" ] || { echo "assemble-app.sh: node_modules is missing; run make build first" >&2; exit 1; }
for tool in readelf icupkg genrb; do
  command -v "$tool" >/dev/null || { echo "assemble-app.sh: $tool is missing: apt-get install binutils icu-devtools" >&2; exit 1; }
done

mkdir -p "$app" "$(dirname "$node_out")"
if command -v strip >/dev/null; then strip --strip-all -o "$node_out" "$node_bin"; else cp "$node_bin" "$node_out"; fi
node "$repo/plugin/trim-icu.js" "$node_out"
# Everything Node, V8 and the plugin ask of ICU in English answers as with the host's full data, or the assembly stops.
full="$(node "$repo/plugin/icu-check.js")"
trimmed="$("$node_out" "$repo/plugin/icu-check.js")" || { echo "assemble-app.sh: the trimmed node does not run" >&2; exit 1; }
[ "$trimmed" = "$full" ] || { printf 'assemble-app.sh: ICU answers differ after trimming\n  full:    %s\n  trimmed: %s\n' "$full" "$trimmed" >&2; exit 1; }
node "$repo/scripts/bundle.js" "$app/bundle" "$node_out"
# The bundle runs on the node it ships with, or the assembly fails here rather than on a host.
version="$(node -p "require('$repo/package.json').version")"
ran="$("$node_out" "$app/bundle/cli.js" --version)"
[ "$ran" = "$version" ] || { echo "assemble-app.sh: $node_out $app/bundle/cli.js --version printed '$ran', not $version" >&2; exit 1; }
