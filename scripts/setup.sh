#!/usr/bin/env bash
# Installs everything tug needs on a fresh Debian 12 machine (as root): Debian packages for the
# reference systems and tools, then the npm dependencies. Idempotent: skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# etcd: the Raft bench's reference; the rest: the agent's runtime, images and test registry.
debs=(etcd-server etcd-client runc crun conmon tini busybox-static umoci skopeo docker-registry)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts an etcd service on install; tug runs its own etcd processes only in benchmarks.
  # Same for docker-registry: tests and the demo run their own registries on loopback.
  if command -v systemctl >/dev/null; then
    for unit in etcd docker-registry; do
      if systemctl is-active --quiet "$unit" 2>/dev/null; then
        systemctl stop "$unit" || true
        systemctl disable "$unit" >/dev/null 2>&1 || true
      fi
    done
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies"
  # `npm ci` refuses this lockfile here (the registry lacks other platforms' optional packages);
  # `npm install` still honours the lockfile's versions.
  npm install --no-audit --no-fund --loglevel=error
fi
