#!/usr/bin/env bash
# Puts a runnable image-access in APP_DIR: node (stripped when strip is available) at NODE_PATH, the compiled plugin
# (without source maps) and its production dependencies from the lockfile. Shared by the managed plugin's rootfs
# (plugin/build.sh) and the Debian package (packaging/build-deb.sh), so both ship the same bits.
# Usage: plugin/assemble-app.sh APP_DIR NODE_PATH
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
app="$1"
node_out="$2"
node_bin="$(realpath "$(command -v node)")"
[ -f "$repo/dist/cli.js" ] || { echo "assemble-app.sh: dist/ is missing; run make build (npx tsc) first" >&2; exit 1; }

mkdir -p "$app/dist" "$(dirname "$node_out")"
if command -v strip >/dev/null; then strip --strip-all -o "$node_out" "$node_bin"; else cp "$node_bin" "$node_out"; fi
cp "$repo/package.json" "$repo/package-lock.json" "$app/"
(cd "$repo/dist" && find . -name '*.js' -print0 | xargs -0 cp --parents -t "$app/dist/")
(cd "$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$app/package-lock.json"
# Type declarations, TypeScript sources, source maps and docs are never loaded at run time.
find "$app/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' -o -iname '*.md' \) -delete
