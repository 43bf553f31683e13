#!/usr/bin/env bash
# `npm run rehearse`: the main job. Installs what is missing, resets the lab to the pre-migration
# state, shows the dry-run plan, then runs the CHM migration against the lab and prints the report.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x node_modules/.bin/tsx ] || npm ci --no-audit --no-fund
# reset installs whatever is missing (like up) and returns the host to the pre-migration state
bash scripts/lab.sh reset
if [ -f runbooks/migrate-chm.ts ]; then
  node_modules/.bin/tsx runbooks/migrate-chm.ts --dry-run
  node_modules/.bin/tsx runbooks/migrate-chm.ts --yes "$@"
  run_dir=$(ls -td backups/2*/ | head -1)
  echo
  cat "${run_dir}report.md"
  echo "The lab is now migrated. Undo it: npx tsx runbooks/migrate-chm.ts --rollback $(basename "$run_dir"), or: npm run lab:reset"
fi
