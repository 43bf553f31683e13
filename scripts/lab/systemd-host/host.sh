#!/usr/bin/env bash
# The systemd lab host: a container that boots systemd as PID 1, reached over SSH on 127.0.0.1:2223.
#   bash scripts/lab/systemd-host/host.sh up      build the image if needed, boot a fresh host (its units enabled)
#   bash scripts/lab/systemd-host/host.sh reboot  restart the container: systemd starts what is enabled
#   bash scripts/lab/systemd-host/host.sh down    remove the container (the image stays)
# ssh -F .lab/ssh/config-sdlab sdlab works once it is up (the lab's operator key, the host's own key pinned).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE="$ROOT/scripts/lab/systemd-host"
LAB="$ROOT/.lab"
NAME=cutover-sdlab
IMAGE=cutover-lab/systemd-host:lab
PORT=2223
SHARED=/srv/sdlab
say() { printf '[sdlab] %s\n' "$*"; }
die() { printf '[sdlab] error: %s\n' "$*" >&2; exit 1; }

hash_dir() { (cd "$HERE" && find Dockerfile units boot -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
ensure_image() {
  local h; h=$(hash_dir)
  [ "$(docker image inspect -f '{{index .Config.Labels "io.cutover.lab.sdlab.hash"}}' "$IMAGE" 2>/dev/null)" = "$h" ] && return
  docker image inspect cutover-lab/base:bookworm >/dev/null 2>&1 || die "no base image: run bash scripts/lab.sh up first"
  say "building $IMAGE (systemd, sshd; about a minute, once)"
  DOCKER_BUILDKIT=0 docker build -q --network host --label "io.cutover.lab.sdlab.hash=$h" -t "$IMAGE" "$HERE" >"$LAB/sdlab-build.log" 2>&1 \
    || die "building $IMAGE failed, see $LAB/sdlab-build.log"
}
ssh_ok() { ssh -F "$LAB/ssh/config-sdlab" -o ConnectTimeout=3 sdlab true 2>/dev/null; }
wait_ssh() {
  local end=$((SECONDS + 60))
  until ssh_ok; do [ $SECONDS -lt $end ] || die "sshd of $NAME did not answer within 60s (docker logs $NAME)"; sleep 0.3; done
}
write_ssh_config() {
  local key
  key=$(docker exec "$NAME" cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2)
  echo "[127.0.0.1]:$PORT $key" >"$LAB/ssh/known_hosts-sdlab"
  cat >"$LAB/ssh/config-sdlab" <<CFG
Host sdlab
  HostName 127.0.0.1
  Port $PORT
  User ubuntu
  IdentityFile $LAB/ssh/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $LAB/ssh/known_hosts-sdlab
  StrictHostKeyChecking yes
  BatchMode yes
CFG
  chmod 600 "$LAB/ssh/config-sdlab"
}
up() {
  [ -f "$LAB/ssh/id_ed25519.pub" ] || die "no operator key: run bash scripts/lab.sh up first"
  ensure_image
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  rm -rf "$SHARED"; mkdir -p "$SHARED/web" "$SHARED/data"; echo "sdlab web" >"$SHARED/web/index.html"
  install -m 644 "$LAB/ssh/id_ed25519.pub" "$LAB/sdlab-authorized_keys"
  docker run -d --name "$NAME" --hostname sdlab --label io.cutover.lab=sdlab \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
    -v /var/run/docker.sock:/var/run/docker.sock -v "$(command -v docker)":/usr/local/bin/docker:ro \
    -v /usr/local/lib/docker/cli-plugins:/usr/local/lib/docker/cli-plugins:ro \
    -v "$SHARED:$SHARED" -v "$LAB/sdlab-authorized_keys:/home/ubuntu/.ssh/authorized_keys:ro" \
    -p "127.0.0.1:$PORT:22" --pull never "$IMAGE" >/dev/null
  local end=$((SECONDS + 30))
  until docker exec "$NAME" test -s /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null; do
    [ $SECONDS -lt $end ] || die "$NAME has no host key after 30s (docker logs $NAME)"; sleep 0.3
  done
  write_ssh_config
  wait_ssh
  say "up: ssh -F .lab/ssh/config-sdlab sdlab ($(ssh -F "$LAB/ssh/config-sdlab" sdlab systemctl is-system-running 2>/dev/null || true))"
}
reboot() {
  docker restart -t 10 "$NAME" >/dev/null
  wait_ssh
}
down() { docker rm -f "$NAME" >/dev/null 2>&1 || true; rm -rf "$SHARED"; }

case "${1:-}" in
  up) up ;;
  reboot) reboot ;;
  down) down ;;
  *) die "usage: host.sh up|reboot|down" ;;
esac
