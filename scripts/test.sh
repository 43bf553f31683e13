#!/usr/bin/env bash
# `npm test`: everything a fresh machine needs, the code's own checks (layout, lint, types), then every
# test (unit, then integration on the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/vitest ] || npm ci --no-audit --no-fund
bash scripts/check.sh
# reset = up (installs what is missing) + the exact pre-migration state, whatever ran before (skipped when the
# host already is exactly as the last reset left it: test/support/reset.ts)
node_modules/.bin/tsx test/support/reset.ts
# every test's duration in test-report.json (what to look at when the suite grows slow), the usual report on screen
exec node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=test-report.json "$@"
