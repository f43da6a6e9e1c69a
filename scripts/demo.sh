#!/usr/bin/env bash
# The README's main command: set up, build, then run the demo in two parts — the Raft library
# (3 managers' consensus surviving a SIGKILLed leader), then the control plane (3 tug managers,
# simulated agents, the tug CLI applying the example manifests). --keep leaves the second part's
# cluster running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -b
echo "=== Part 1: Raft — a replicated key-value store that survives losing its leader"
node build/integration-tests/demo/raft-kv-demo.js
echo
echo "=== Part 2: the control plane — managers, agents and the tug CLI"
exec node build/integration-tests/demo/control-plane-demo.js "$@"
