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
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
npx ava --tap "$@" | tee "$tap"
ava_rc=${PIPESTATUS[0]}
ok=$(grep -cE '^ok [0-9]+' "$tap" || true)
notok=$(grep -cE '^not ok [0-9]+' "$tap" || true)
passed=$((passed + ok))
failed=$((failed + notok))
if [ "$ava_rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
  # ava failed without a failing test line (crash, timeout, uncaught error): count it.
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
