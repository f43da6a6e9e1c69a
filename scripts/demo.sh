#!/usr/bin/env bash
# The README's main command: set up, build, then run the demo in two parts — the Raft library
# (3 managers' consensus surviving a SIGKILLed leader), then real containers (a local registry, 3
# tug managers, one agent running the example manifests with runc, the tug CLI applying, scaling,
# listing and showing logs). --keep leaves the second part's cluster running until Ctrl-C; either
# way it ends by removing every container, mount, cgroup, process and file it made. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -b
echo "=== Part 1: Raft — a replicated key-value store that survives losing its leader"
node build/integration-tests/demo/raft-kv-demo.js
echo
echo "=== Part 2: real containers — a registry, managers, an agent and the tug CLI"
exec node build/integration-tests/demo/control-plane-demo.js "$@"
