#!/usr/bin/env bash
# The README's main command: set up, build, and run the 3-manager Raft KV demo on loopback.
# Pass --keep to leave the cluster running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -b
exec node build/integration-tests/demo/raft-kv-demo.js "$@"
