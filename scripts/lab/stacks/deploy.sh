#!/usr/bin/env bash
# The three customer stacks of seeds 000-002 on the lab host, for runbooks/verify-stack.ts:
# each its own compose project under /home/ubuntu/stacks/<name>/ (sources beside this script).
#   bash scripts/lab/stacks/deploy.sh [NAME...]     (called by `scripts/lab.sh stacks|up|reset`)
# LAB_STACKS_STATE=stopped (what `lab.sh reset`, and so `npm test`, asks): deployed, proven healthy
# once, then stopped: nine containers with 2 s healthchecks would load the test run's two cores for
# the whole suite. The tests that use a stack start it (verify-stack finds it either way).
# Idempotent and quick when deployed and healthy: images are rebuilt only when their context
# changed (label io.cutover.lab.stack.hash), `compose up` recreates only what differs from the files
# (a fault a test left behind, a changed file) and waits for every healthcheck.
# Never touched by the lab's migration-leftover cleanup: their data is the stacks' own.
set -Eeuo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SRC/../../.." && pwd)
LAB="$ROOT/.lab"
STACKS=${LAB_STACKS_DIR:-/home/ubuntu/stacks}
STATE=${LAB_STACKS_STATE:-running}
OWNER=ubuntu:ubuntu
say() { printf '[lab] %s\n' "$*"; }
die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }

# name: compose args (relative to the stack dir) | images "tag=context[@target]"
declare -A COMPOSE=(
  [rhinon]="-p rhinon -f docker-compose.yml"
  [dimini]="-p dimini -f docker-compose.local-prod.yml"
  [aiwhisperers]="-p ai-whisperers -f docker/docker-compose.yml -f docker/docker-compose.dev.yml --env-file .env.local"
)
declare -A IMAGES=(
  [rhinon]="rhinon-rtserver:lab=rtserver rhinon-backendai:lab=backendai"
  [dimini]="dimini-backend:lab=backend dimini-frontend:lab=frontend@development"
  [aiwhisperers]="aiwhisperers-web:lab=web@runner"
)

# files several build contexts need, kept once in shared/ and copied into each context at deploy
declare -A SHARED=(
  [rhinon]="rtserver/resp.js"
  [aiwhisperers]="web/resp.js"
)

ctx_hash() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }

deploy() {
  local name=$1 dir=$STACKS/$1 spec tag ctx target h built=0
  [ -n "${COMPOSE[$name]:-}" ] || die "no stack named $name (stacks: ${!COMPOSE[*]})"
  mkdir -p "$dir"
  rsync -a --delete --exclude __pycache__ "$SRC/$name/" "$dir/"
  for f in ${SHARED[$name]:-}; do cp "$SRC/shared/$(basename "$f")" "$dir/$f"; done
  chown -R "$OWNER" "$STACKS"
  for spec in ${IMAGES[$name]}; do
    tag=${spec%%=*} ctx=${spec#*=} target=
    case $ctx in *@*) target=${ctx#*@} ctx=${ctx%@*} ;; esac
    h=$(ctx_hash "$dir/$ctx")
    [ "$(docker image inspect -f '{{index .Config.Labels "io.cutover.lab.stack.hash"}}' "$tag" 2>/dev/null)" = "$h" ] && continue
    say "building $tag"
    built=1
    DOCKER_BUILDKIT=0 docker build -q --pull=false ${target:+--target "$target"} --label "io.cutover.lab.stack.hash=$h" -t "$tag" "$dir/$ctx" \
      >"$LAB/stacks-build.log" 2>&1 || die "building $tag failed, see $LAB/stacks-build.log"
  done
  local project=${COMPOSE[$name]#-p }; project=${project%% *}
  if [ "$STATE" = stopped ] && [ $built = 0 ] && [ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$project")" ]; then
    # shellcheck disable=SC2086
    (cd "$dir" && docker compose ${COMPOSE[$name]} stop -t 3 >"$LAB/stacks-up.log" 2>&1) || die "stopping stack $name failed, see $LAB/stacks-up.log"
    return
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && docker compose ${COMPOSE[$name]} up -d --wait --no-build --remove-orphans >"$LAB/stacks-up.log" 2>&1) \
    || die "stack $name did not come up healthy, see $LAB/stacks-up.log and: cd $dir && docker compose ${COMPOSE[$name]} ps"
  # shellcheck disable=SC2086
  if [ "$STATE" = stopped ]; then (cd "$dir" && docker compose ${COMPOSE[$name]} stop -t 3 >>"$LAB/stacks-up.log" 2>&1) || die "stopping stack $name failed, see $LAB/stacks-up.log"; fi
}

mkdir -p "$LAB"
# Dimini's compose names postgres:15-alpine: the lab's postgres stand-in is Debian's PostgreSQL 15.
docker image inspect postgres:15-alpine >/dev/null 2>&1 || docker tag postgres:16-alpine postgres:15-alpine
t0=$SECONDS
for s in "${@:-rhinon dimini aiwhisperers}"; do for n in $s; do deploy "$n"; done; done
docker image prune -f --filter label=io.cutover.lab.stack.hash >/dev/null 2>&1 || true # superseded builds
say "stacks (${*:-rhinon dimini aiwhisperers}) deployed and healthy$([ "$STATE" = stopped ] && echo ', then stopped') in $((SECONDS - t0))s"
