#!/usr/bin/env bash
# Sets up and runs every check and test. The last line reads `N passed, N failed`, counting each
# static check (proto drift, types, lint, format) and each ava test that ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name" >&2
    failed=$((failed + 1))
  fi
}

check "generated code matches proto/" bash scripts/check-proto-drift.sh
check "type check and build" npx tsc -b
check "lint" npx eslint --max-warnings 0 .
check "format" npx prettier --check --log-level warn .

echo "== tests"
# ava's default reporter, not --tap: the TAP reporter itself crashes when a test worker crashes
# (it cannot serialise the crash event), losing the whole run's results. Each test prints one
# line starting with ✔ (passed) or ✘ (failed, timed out, or a worker that crashed or exited).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx ava "$@" 2>&1 | tee "$log"
ava_rc=${PIPESTATUS[0]}
plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
ok=$(grep -cE '^[[:space:]]*✔' <<<"$plain" || true)
notok=$(grep -cE '^[[:space:]]*✘' <<<"$plain" || true)
passed=$((passed + ok))
failed=$((failed + notok))
if [ "$ava_rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
  # ava failed without a failing test line: count it rather than lose it.
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
