#!/usr/bin/env bash
# Run CI as it really runs: none of this session's processes alive (dockerd, containerd, the lab's
# sshd, supervisord, pm2 and the chatbot), a fresh clone of HEAD, then `bash .ci/run`.
#   bash scripts/ci-cold.sh [LOG]      (default log: /tmp/ci.log; prints rc and seconds at the end)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
log=${1:-/tmp/ci.log}
pkill -f PM2; pkill supervisord; pkill -f uvicorn; pkill -f "sshd -f"
pkill dockerd; sleep 3; pkill containerd; pkill -f containerd-shim; sleep 1
dir=$(mktemp -d /tmp/ci-cold.XXXXXX)
git clone -q "$repo" "$dir" && cd "$dir" || exit 1
start=$SECONDS
bash .ci/run >"$log" 2>&1; rc=$?
echo "rc=$rc after $((SECONDS - start))s (clone in $dir, log in $log)"
exit $rc
