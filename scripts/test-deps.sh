#!/usr/bin/env bash
# What the real-engine tests need, fetched when missing (root), so a clean machine runs `make test` as it is:
# - Debian packages docker.io (dockerd 20.10 + bookworm's containerd/runc), docker-registry, busybox-static, debootstrap,
#   chromium, icu-devtools;
# - dockerd 26.1.5, docker-buildx and docker-compose from Debian trixie, downloaded with a private apt state (never
#   installed over the system's packages) and extracted to IA_ENGINES_CACHE (default below), reused once complete.
# Idempotent; safe to run from several test runs at once (one lock).
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-registry >/dev/null || missing+=(docker-registry)
[ -x /bin/busybox ] || command -v busybox >/dev/null || missing+=(busybox-static)
# The Debian package test (test/e2e/deb-package.test.ts) installs into a bare Debian that debootstrap makes.
command -v debootstrap >/dev/null || missing+=(debootstrap)
# The managed plugin and the Debian package trim node's ICU data with icupkg and genrb (plugin/trim-icu.js).
command -v icupkg >/dev/null && command -v genrb >/dev/null || missing+=(icu-devtools)
# The policy page is tested in a real headless browser (test/e2e/policy-page.test.ts).
command -v chromium >/dev/null || missing+=(chromium)

cache="${IA_ENGINES_CACHE:-/var/cache/image-access-tests}"
trixie="$cache/trixie"
trixie_packages=(docker.io docker-buildx docker-compose)
# What the harness runs from the tree; the stamp is written last, so its presence means the tree is whole.
trixie_files=(x/usr/sbin/dockerd x/usr/libexec/docker/cli-plugins/docker-buildx x/usr/libexec/docker/cli-plugins/docker-compose)
trixie_complete() {
  [ -f "$trixie/complete" ] || return 1
  local f
  for f in "${trixie_files[@]}"; do [ -x "$trixie/$f" ] || return 1; done
}

[ ${#missing[@]} -eq 0 ] && trixie_complete && exit 0

if [ "$(id -u)" -ne 0 ]; then
  [ ${#missing[@]} -eq 0 ] || echo "The real-engine tests need: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}" >&2
  trixie_complete || echo "The real-engine tests need Debian trixie's ${trixie_packages[*]} extracted to $trixie: run $0 as root." >&2
  exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

trixie_complete && exit 0
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Another run may have finished it while this one waited for the lock.
trixie_complete && exit 0

# Built beside the final tree, then renamed into place: an interrupted run never leaves a half tree behind.
work="$(mktemp -d "$cache/.trixie.XXXXXX")"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs"
echo 'deb http://deb.debian.org/debian trixie main' >"$work/sources.list"
apt_private=(
  -o "Dir::Etc::sourcelist=$work/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root -q
)
echo "Fetching Debian trixie's ${trixie_packages[*]} into $trixie (not installed)"
apt-get "${apt_private[@]}" update
(cd "$work/debs" && apt-get "${apt_private[@]}" download "${trixie_packages[@]}")
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
for deb in "$work"/debs/*.deb; do dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb"; done >"$work/versions"
rm -rf "$work/lists" "$work/cache" "$work/debs" "$work/sources.list"
for f in "${trixie_files[@]}"; do
  [ -x "$work/$f" ] || { echo "test-deps: $f missing from the trixie packages" >&2; exit 1; }
done
"$work/x/usr/sbin/dockerd" --version >"$work/dockerd-version"
date -u +%FT%TZ >"$work/complete"
rm -rf "$trixie"
mv "$work" "$trixie"
trap - EXIT
cat "$trixie/versions"
