#!/usr/bin/env bash
# Fails when proto/gen differs from what `buf generate` makes of proto/*.proto.
set -euo pipefail
cd "$(dirname "$0")/.."
npx buf lint
npx buf generate
if ! git diff --quiet --exit-code -- proto/gen || [ -n "$(git ls-files --others --exclude-standard proto/gen)" ]; then
  echo "proto: generated code drifted from proto/*.proto; run 'npm run proto' and commit proto/gen:" >&2
  git status --short -- proto/gen >&2
  git diff --stat -- proto/gen >&2
  exit 1
fi
