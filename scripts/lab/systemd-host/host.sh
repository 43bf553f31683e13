#!/usr/bin/env bash
# The systemd lab host: a container that boots systemd as PID 1, reached over SSH on 127.0.0.1:2223.
#   bash scripts/lab/systemd-host/host.sh up      build the image if needed, boot a fresh host (its units enabled)
#   bash scripts/lab/systemd-host/host.sh reboot  restart the container: systemd starts what is enabled
#   bash scripts/lab/systemd-host/host.sh down    remove the container and /srv/sdlab (the image stays)
# ssh -F .lab/ssh/config-sdlab sdlab works once it is up (the lab's operator key, the host's own key pinned).
#
# Its app (app/ -> /opt/sdlab; runbooks/specs/sdlab.yaml describes it): sdlab-web on 127.0.0.1:8100,
# sdlab-worker (no port), both as the system user sdlab, writing /srv/sdlab/data/app.db (SQLite, WAL)
# and /srv/sdlab/uploads; the host's PostgreSQL 15/main (unit postgresql) on 127.0.0.1:5434 with role
# and db sdlab (the machine's :5432/:5433 are the lab stacks' PostgreSQLs). up seeds a few uploads.
#
# It shares the machine's network (--network host: its services and the containers' published ports
# are on one loopback; its sshd listens on 127.0.0.1:2223 only), Docker engine (the socket) and two
# dirs at the same paths: /srv/sdlab (the app's files, which a helper container run by the engine
# mounts) and /var/lib/cutover. cutover's state dir follows the engine: helper containers mount the
# host-side backup dir /var/lib/cutover/backups/RUN, which must be the files the host sees, so this
# host and the machine share it (down leaves it alone: it is the machine's too).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE="$ROOT/scripts/lab/systemd-host"
LAB="$ROOT/.lab"
NAME=cutover-sdlab
IMAGE=cutover-lab/systemd-host:lab
PORT=2223
SHARED=/srv/sdlab
STATE=/var/lib/cutover
say() { printf '[sdlab] %s\n' "$*"; }
die() { printf '[sdlab] error: %s\n' "$*" >&2; exit 1; }

hash_dir() { (cd "$HERE" && find Dockerfile units boot app -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
ensure_image() {
  local h; h=$(hash_dir)
  [ "$(docker image inspect -f '{{index .Config.Labels "io.cutover.lab.sdlab.hash"}}' "$IMAGE" 2>/dev/null)" = "$h" ] && return
  docker image inspect cutover-lab/base:bookworm >/dev/null 2>&1 || die "no base image: run bash scripts/lab.sh up first"
  say "building $IMAGE (systemd, sshd; about a minute, once)"
  DOCKER_BUILDKIT=0 docker build -q --network host --label "io.cutover.lab.sdlab.hash=$h" -t "$IMAGE" "$HERE" >"$LAB/sdlab-build.log" 2>&1 \
    || die "building $IMAGE failed, see $LAB/sdlab-build.log"
}
# /srv/sdlab as the app finds it: data/ (app.db is the app's to create) and uploads/ with a few files
# a copy must keep exactly: a name with a space and a non-UTF-8 byte, a symlink, a sparse file.
seed() {
  local ids u="$SHARED/uploads"
  ids=$(docker run --rm --pull never --entrypoint sh "$IMAGE" -c 'echo "$(id -u sdlab):$(id -g sdlab)"')
  mkdir -p "$SHARED/data" "$u"
  printf 'welcome to sdlab\n' >"$u/welcome.txt"
  printf 'a report with a space in its name\n' >"$u/q3 report.txt"
  printf 'latin-1 name\n' >"$u/caf"$'\xe9'".txt"
  ln -s welcome.txt "$u/latest.txt"
  truncate -s 16M "$u/sparse.img"; printf 'tail' | dd of="$u/sparse.img" bs=1 seek=$((8 * 1024 * 1024)) conv=notrunc status=none
  chown -R -h "$ids" "$SHARED/data" "$u"
  chmod 755 "$SHARED"
}
app_ok() { ssh -F "$LAB/ssh/config-sdlab" -o ConnectTimeout=3 sdlab 'curl -fsS -m 3 http://127.0.0.1:8100/health' >/dev/null 2>&1; }
wait_app() {
  local end=$((SECONDS + 60))
  until app_ok; do [ $SECONDS -lt $end ] || die "sdlab-web did not answer /health within 60s (ssh -F .lab/ssh/config-sdlab sdlab journalctl -u sdlab-web)"; sleep 0.3; done
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
  rm -rf "$SHARED"; seed
  [ -d "$STATE" ] || install -d -m 700 -o root -g root "$STATE"
  install -m 644 "$LAB/ssh/id_ed25519.pub" "$LAB/sdlab-authorized_keys"
  docker run -d --name "$NAME" --label io.cutover.lab=sdlab \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
    -v /var/run/docker.sock:/var/run/docker.sock -v "$(command -v docker)":/usr/local/bin/docker:ro \
    -v /usr/local/lib/docker/cli-plugins:/usr/local/lib/docker/cli-plugins:ro \
    -v "$SHARED:$SHARED" -v "$STATE:$STATE" -v "$LAB/sdlab-authorized_keys:/home/ubuntu/.ssh/authorized_keys:ro" \
    --network host --pull never "$IMAGE" >/dev/null
  local end=$((SECONDS + 30))
  until docker exec "$NAME" test -s /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null; do
    [ $SECONDS -lt $end ] || die "$NAME has no host key after 30s (docker logs $NAME)"; sleep 0.3
  done
  write_ssh_config
  wait_ssh
  wait_app
  say "up: ssh -F .lab/ssh/config-sdlab sdlab ($(ssh -F "$LAB/ssh/config-sdlab" sdlab systemctl is-system-running 2>/dev/null || true))"
}
# A reboot waits for sshd and for systemd to finish booting, not for the app: what is disabled stays off.
reboot() {
  docker restart -t 10 "$NAME" >/dev/null
  wait_ssh
  local end=$((SECONDS + 60)) state  # (systemctl is-system-running --wait hangs here: polled instead)
  while state=$(ssh -F "$LAB/ssh/config-sdlab" sdlab systemctl is-system-running 2>/dev/null); [ "$state" = starting ] || [ "$state" = initializing ]; do
    [ $SECONDS -lt $end ] || die "systemd of $NAME still $state 60s after the reboot"; sleep 0.3
  done
}
# down: the container, /srv/sdlab, and what a migration of its app left on the shared engine (compose
# project sdlab: containers, volumes, networks). /var/lib/cutover is the machine's too: it stays.
down() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  docker ps -aq --filter label=com.docker.compose.project=sdlab | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume ls -q --filter label=com.docker.compose.project=sdlab | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter label=com.docker.compose.project=sdlab | xargs -r docker network rm >/dev/null 2>&1 || true
  rm -rf "$SHARED"
}

case "${1:-}" in
  up) up ;;
  reboot) reboot ;;
  down) down ;;
  *) die "usage: host.sh up|reboot|down" ;;
esac
