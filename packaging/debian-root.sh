#!/usr/bin/env bash
# A bare Debian system (debootstrap minbase: no Node.js, no docker) copied to DIR, for the package test. Built once
# from Debian's mirror into /var/cache/image-access-tests and reused; concurrent runs share one lock.
# Usage: packaging/debian-root.sh DIR   (root; needs debootstrap)
set -euo pipefail
target="$1"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
cache="/var/cache/image-access-tests/debian-$suite-minbase"
mkdir -p "$(dirname "$cache")"
(
  flock 9
  if [ ! -f "$cache/.complete" ]; then
    rm -rf "$cache"
    debootstrap --variant=minbase "$suite" "$cache" http://deb.debian.org/debian >"$cache.log" 2>&1 ||
      { echo "debootstrap failed; see $cache.log" >&2; exit 1; }
    touch "$cache/.complete"
  fi
) 9>"$cache.lock"
mkdir -p "$target"
cp -a "$cache/." "$target/"
rm -f "$target/.complete"
