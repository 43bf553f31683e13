#!/usr/bin/env bash
# The code checks itself: the layout and lint of the TypeScript (Prettier, ESLint) and of the Python
# (black, flake8), and the type check (tsc). All five run at once; exit 1 if any found a problem, after
# printing what each said. `npm test` runs this first.
#   bash scripts/check.sh          check only (npm run check)
#   bash scripts/check.sh --fix    first apply the formatters and ESLint's fixes, then check (npm run format)
# Settings: .prettierrc.json, eslint.config.js, tsconfig.json, pyproject.toml (black), .flake8.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=false
case "${1:-}" in
  '') ;;
  --fix) fix=true ;;
  *) echo "usage: bash scripts/check.sh [--fix]" >&2; exit 2 ;;
esac

# A node_modules from before these tools were devDependencies has vitest but not them.
[ -x node_modules/.bin/prettier ] && [ -x node_modules/.bin/eslint ] && [ -x node_modules/.bin/tsc ] ||
  npm ci --no-audit --no-fund
bash scripts/check-tools.sh

BIN=node_modules/.bin
CACHE=node_modules/.cache
# Debian's, by path: a black or flake8 of another version earlier on PATH (pip's, pyenv's) could judge otherwise.
BLACK=/usr/bin/black
FLAKE8=/usr/bin/flake8
# What Prettier lays out: the TypeScript and ESLint's config. YAML, JSON and Markdown keep the layout they have.
TS=('**/*.ts' eslint.config.js)
ESLINT=(--cache --cache-strategy content --cache-location "$CACHE/eslint/" --max-warnings 0)
# The Python: every *.py git tracks or would add (not ignored), that exists.
PY=()
while IFS= read -r -d '' f; do
  [ -f "$f" ] && PY+=("$f")
done < <(git ls-files -z --cached --others --exclude-standard -- '*.py')

if $fix; then
  echo "[check] applying ESLint's fixes, Prettier, black"
  "$BIN/eslint" --fix "${ESLINT[@]}" . >/dev/null || true # what it cannot fix, the check below reports
  # Twice, and without --cache: Prettier's output is not always a fixed point (a member chain it breaks on the
  # first pass it may join on the second), and a --write with --cache would vouch for a first pass unchecked.
  "$BIN/prettier" --write --log-level warn "${TS[@]}"
  "$BIN/prettier" --write --log-level warn "${TS[@]}"
  [ ${#PY[@]} -eq 0 ] || "$BLACK" --quiet "${PY[@]}"
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
names=()
check() { # check NAME CMD...: run CMD in the background, its output and exit code (and ms) kept under NAME
  local name=$1
  shift
  names+=("$name")
  (
    set +e
    t0=${EPOCHREALTIME/./}
    "$@" >"$out/$name" 2>&1
    rc=$?
    echo "$rc $(((${EPOCHREALTIME/./} - t0) / 1000))" >"$out/$name.rc"
  ) &
}

check tsc "$BIN/tsc" --noEmit --incremental --tsBuildInfoFile "$CACHE/tsc/tsbuildinfo"
check eslint "$BIN/eslint" "${ESLINT[@]}" .
check prettier "$BIN/prettier" --check --cache --log-level warn "${TS[@]}"
if [ ${#PY[@]} -gt 0 ]; then
  check black "$BLACK" --check "${PY[@]}"
  check flake8 "$FLAKE8" "${PY[@]}"
fi
wait

failed=()
for name in "${names[@]}"; do
  read -r rc ms <"$out/$name.rc"
  if [ "$rc" = 0 ]; then
    printf '[check] %-8s ok (%d.%d s)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
  else
    failed+=("$name")
    printf '[check] %-8s FAILED (exit %s):\n' "$name" "$rc"
    sed 's/^/    /' "$out/$name"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "[check] failed: ${failed[*]}. Layout (prettier, black) and some lint: bash scripts/check.sh --fix" >&2
  exit 1
fi
