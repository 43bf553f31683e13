#!/usr/bin/env bash
# The local lab: a replica of the CHM EC2 host on this machine.
#   bash scripts/lab.sh up      install what is missing, build images, start everything (idempotent)
#   bash scripts/lab.sh reset   return the host to the exact pre-migration state
#   bash scripts/lab.sh status  print each part and whether it is healthy (exit 1 if any is not)
#   bash scripts/lab.sh down    stop the lab's services (keeps images and .lab/)
#   bash scripts/lab.sh stacks  deploy the customer stacks of seeds 000-002 (also part of up and reset)
#   bash scripts/lab.sh clean   remove only what runs leave behind (the first part of reset)
# Options: --size 10M|100M|1G|5G (data set for the bare-metal chatbot; default: the current one, else 10M)
set -Eeuo pipefail

# The daemons this script starts (dockerd, sshd, supervisord, pm2) must not inherit the caller's
# open files: a lock held by the caller (flock, a CI runner's pipes) would live as long as they do.
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  case $fd in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB="$ROOT/.lab"
SRC="$ROOT/scripts/lab"
USER_NAME=ubuntu
HOME_DIR=/home/$USER_NAME
CHATBOT=$HOME_DIR/chm-chatbot
MEDIAHUB=$HOME_DIR/mediahub
SSH_PORT=2222
BASE_IMAGE=cutover-lab/base:bookworm
MIRROR=${LAB_MIRROR:-http://deb.debian.org/debian}
PLUGINS=/usr/local/lib/docker/cli-plugins

say() { printf '[lab] %s\n' "$*"; }
die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }
# From the user's home: a daemon started here (pm2) keeps its cwd, and the checkout may be a dir the
# user cannot enter (a CI clone under a mode-700 dir): spawning from it fails with EACCES.
as_user() { (cd "$HOME_DIR" && sudo -u "$USER_NAME" -H env PM2_HOME="$HOME_DIR/.pm2" PATH="/usr/local/bin:/usr/bin:/bin" "$@"); }
wait_for() { # wait_for SECONDS DESCRIPTION CMD...
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "$what did not come up within ${secs}s"
    sleep 0.3
  done
}

# Any failing command names itself (set -e alone exits silently, e.g. in a command substitution).
trap 'rc=$?; printf "[lab] error: line %s: \"%s\" exited %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit $rc' ERR

[ "$(id -u)" = 0 ] || die "the lab installs packages and starts system services: run it as root"

# ---------------------------------------------------------------------------------------------
# 1. packages
APT_PKGS=(docker.io debootstrap openssh-server openssh-client supervisor sqlite3 curl rsync sudo
          python3 python3-fastapi python3-uvicorn procps psmisc iproute2 ca-certificates xz-utils tmux)
ensure_packages() {
  local missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v pm2 >/dev/null 2>&1; then
    say "installing pm2 (npm -g)"
    npm install -g --silent pm2@6 >/dev/null 2>&1 || die "npm install -g pm2@6 failed: check access to the npm registry"
  fi
}

# ---------------------------------------------------------------------------------------------
# 2. Docker engine and Compose v2
ensure_docker() {
  if ! docker info >/dev/null 2>&1; then
    # A dockerd killed with its machine leaves its pid file, and the next one refuses to start while the pid is
    # anyone's: when no dockerd runs, the file is stale. One that runs but does not answer yet is waited for.
    if ! pgrep -x dockerd >/dev/null; then
      say "starting dockerd"
      rm -f /var/run/docker.pid
      setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
      sleep 0.3
    fi
    local end=$((SECONDS + 90))
    until docker info >/dev/null 2>&1; do
      pgrep -x dockerd >/dev/null || die "dockerd exited: $(tail -1 /var/log/dockerd.log) (see /var/log/dockerd.log)"
      [ $SECONDS -lt $end ] || die "dockerd did not come up within 90s (see /var/log/dockerd.log)"
      sleep 0.3
    done
  fi
}

ensure_compose() {
  if docker compose version 2>/dev/null | grep -qE 'v?2\.'; then return; fi
  say "fetching Docker Compose v2 and buildx from Debian trixie (private sources list, dpkg-deb -x)"
  local d="$LAB/apt-trixie"
  mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/cache" "$d/debs" "$d/x"
  cat >"$d/trixie.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local o=(-o "Dir::Etc::SourceList=$d/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
           -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Dir::Cache::Archives=$d/archives"
           -o APT::Sandbox::User=root)
  apt-get "${o[@]}" update -qq >/dev/null
  (cd "$d/debs" && apt-get "${o[@]}" download docker-compose docker-buildx >/dev/null)
  for f in "$d"/debs/*.deb; do dpkg-deb -x "$f" "$d/x"; done
  mkdir -p "$PLUGINS"
  install -m 755 "$d/x/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGINS/docker-compose"
  install -m 755 "$d/x/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGINS/docker-buildx"
  docker compose version | grep -qE 'v?2\.' || die "docker compose v2 did not install into $PLUGINS"
}

# ---------------------------------------------------------------------------------------------
# 3. Images: one Debian base built with debootstrap, then local stand-ins under registry names.
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
BASE_PKGS="nginx python3 python3-pip python3-fastapi python3-uvicorn python3-psycopg2 python3-redis \
postgresql redis-server curl procps sqlite3 ca-certificates tar xz-utils"
ensure_base_image() {
  image_exists "$BASE_IMAGE" && return
  local r="$LAB/rootfs"
  say "building $BASE_IMAGE with debootstrap (about a minute, once)"
  umount "$r/proc" 2>/dev/null || true
  rm -rf "$r"; mkdir -p "$r"
  debootstrap --variant=minbase bookworm "$r" "$MIRROR" >"$LAB/debootstrap.log" 2>&1 \
    || die "debootstrap failed, see $LAB/debootstrap.log"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod 755 "$r/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$r/etc/resolv.conf" 2>/dev/null || true
  mount -t proc proc "$r/proc"
  if ! chroot "$r" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
       --no-install-recommends $BASE_PKGS && apt-get clean && rm -rf /var/lib/apt/lists/*" >"$LAB/chroot-install.log" 2>&1; then
    umount "$r/proc"; die "package install in the base rootfs failed, see $LAB/chroot-install.log"
  fi
  umount "$r/proc"
  rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/resolv.conf"
  tar -C "$r" -cf - . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$r"
}

build_standin() { # build_standin TAG DIR
  local tag=$1 dir=$2
  image_exists "$tag" && return
  say "building stand-in $tag"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$dir" >"$LAB/build.log" 2>&1 || die "building $tag failed, see $LAB/build.log"
}

ensure_images() {
  ensure_base_image
  build_standin nginx:alpine "$SRC/images/nginx"
  build_standin python:3.11-slim "$SRC/images/python"
  build_standin postgres:16-alpine "$SRC/images/postgres"
  build_standin redis:7-alpine "$SRC/images/redis"
  if ! image_exists node:20-alpine; then
    local ctx="$LAB/node-context"
    rm -rf "$ctx"; mkdir -p "$ctx"
    cp "$SRC/images/node/Dockerfile" "$ctx/"
    cp "$(readlink -f "$(command -v node)")" "$ctx/node"
    cp -a "$(dirname "$(readlink -f "$(command -v npm)")")/.." "$ctx/npm"
    build_standin node:20-alpine "$ctx"
    rm -rf "$ctx"
  fi
}

# ---------------------------------------------------------------------------------------------
# 4. SSH: sshd on 127.0.0.1:2222, key-only, user ubuntu with passwordless sudo, docker group.
ensure_user() {
  if ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$USER_NAME"
  fi
  usermod -p '*' "$USER_NAME"          # no password, but not locked (UsePAM no refuses locked accounts)
  getent group docker >/dev/null || groupadd docker
  usermod -aG docker "$USER_NAME"
  echo "$USER_NAME ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/90-lab-$USER_NAME
  chmod 440 /etc/sudoers.d/90-lab-$USER_NAME
}

ensure_ssh() {
  local s="$LAB/ssh"
  mkdir -p "$s"; chmod 700 "$s"
  [ -f "$s/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C chm-lab-host -f "$s/host_ed25519_key"
  [ -f "$s/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C cutover-operator -f "$s/id_ed25519"
  # A second, unrelated host key: tests use it to prove a changed host key is refused.
  [ -f "$s/other_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C other-host -f "$s/other_host_ed25519_key"
  install -d -m 700 -o "$USER_NAME" -g "$USER_NAME" "$HOME_DIR/.ssh"
  install -m 600 -o "$USER_NAME" -g "$USER_NAME" "$s/id_ed25519.pub" "$HOME_DIR/.ssh/authorized_keys"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$s/host_ed25519_key.pub")" >"$s/known_hosts"
  echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$s/other_host_ed25519_key.pub")" >"$s/known_hosts.wrong"
  cat >"$s/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $s/host_ed25519_key
PidFile $s/sshd.pid
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
UsePAM no
AllowUsers $USER_NAME
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 64
MaxStartups 64:30:128
ClientAliveInterval 30
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
EOF
  cat >"$s/config" <<EOF
Host chm-lab
  HostName 127.0.0.1
  Port $SSH_PORT
  User $USER_NAME
  IdentityFile $s/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $s/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ServerAliveInterval 15
EOF
  chmod 600 "$s"/config "$s"/id_ed25519 "$s"/host_ed25519_key "$s"/other_host_ed25519_key
  mkdir -p /run/sshd; chmod 755 /run/sshd
  /usr/sbin/sshd -t -f "$s/sshd_config" || die "sshd config check failed"
  if ! ssh_ok; then
    if [ -f "$s/sshd.pid" ]; then kill "$(cat "$s/sshd.pid")" 2>/dev/null || true; sleep 0.2; fi
    # Another lab's sshd (an older checkout, other keys) may hold the port: replace it.
    local holder
    holder=$(ss -ltnpH "sport = :$SSH_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
    if [ -n "$holder" ]; then kill $holder 2>/dev/null || true; sleep 0.3; fi
    /usr/sbin/sshd -f "$s/sshd_config"
    wait_for 15 "sshd on 127.0.0.1:$SSH_PORT" ssh_ok
  fi
}
ssh_ok() { ssh -F "$LAB/ssh/config" -o ConnectTimeout=3 chm-lab true 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# 5. Bare-metal chatbot: FastAPI backend under supervisord (:8000), Node frontend under pm2 (:3000).
current_size() { cat "$LAB/size" 2>/dev/null || echo 10M; }
SUPERVISOR_CONF=/etc/supervisor/conf.d/chatbot-backend.conf
ensure_pristine_data() { # generated once per size, copied into place on every reset
  local size=$1 p="$LAB/pristine/$1"
  if [ ! -f "$p/.complete" ]; then
    say "generating chatbot data ($size)"
    rm -rf "$p"; mkdir -p "$p"
    python3 "$SRC/chatbot/gen_data.py" --dir "$p" --size "$size" >/dev/null
    touch "$p/.complete"
  fi
}

install_chatbot_source() {
  mkdir -p "$CHATBOT"
  # Source only: the data dirs are managed by restore_chatbot_data; anything else is removed
  # (files uploaded by a migration next to the source, for instance).
  rsync -a --delete --exclude /chroma_db --exclude /pdfs --exclude /transcripts \
    --exclude /chm-chatbot-frontend/dist --exclude /chm-chatbot-frontend/node_modules \
    --exclude '__pycache__' "$SRC/chatbot/" "$CHATBOT/"
  chown -R "$USER_NAME:$USER_NAME" "$CHATBOT"
  if [ ! -f "$CHATBOT/chm-chatbot-frontend/dist/index.html" ]; then
    as_user sh -c "cd $CHATBOT/chm-chatbot-frontend && npm run build --silent" >/dev/null
  fi
}

restore_chatbot_data() {
  local size=$1
  ensure_pristine_data "$size"
  for d in chroma_db pdfs transcripts; do
    rsync -a --delete "$LAB/pristine/$size/$d/" "$CHATBOT/$d/"
  done
  # Leftovers a migration may have made beside the data (kept copies of old dirs and the like).
  find "$CHATBOT" -maxdepth 1 -mindepth 1 \( -name 'chroma_db?*' -o -name 'pdfs?*' -o -name 'transcripts?*' \) -exec rm -rf {} +
  chown -R "$USER_NAME:$USER_NAME" "$CHATBOT"
  echo "$size" >"$LAB/size"
}

write_supervisor_conf() {
  cat >"$SUPERVISOR_CONF" <<EOF
[program:chatbot-backend]
command=/usr/bin/python3 -m uvicorn src.api.main:app --host 127.0.0.1 --port 8000
directory=$CHATBOT
user=$USER_NAME
environment=HOME="$HOME_DIR",CHROMA_PERSIST_DIRECTORY="$CHATBOT/chroma_db",PDF_DIR="$CHATBOT/pdfs",TRANSCRIPTS_DIR="$CHATBOT/transcripts"
autostart=true
autorestart=true
startsecs=2
stopsignal=TERM
stopwaitsecs=15
redirect_stderr=true
stdout_logfile=/var/log/supervisor/chatbot-backend.log
EOF
  rm -f /etc/supervisor/conf.d/chatbot-backend.conf.* 2>/dev/null || true
}

supervisor_running() { supervisorctl -c /etc/supervisor/supervisord.conf pid >/dev/null 2>&1; }
start_backend() {
  mkdir -p /var/log/supervisor
  if ! supervisor_running; then
    supervisord -c /etc/supervisor/supervisord.conf
    wait_for 15 "supervisord" supervisor_running
  fi
  supervisorctl update >/dev/null
  supervisorctl start chatbot-backend >/dev/null 2>&1 || true
  wait_for 30 "chatbot backend on :8000 (see /var/log/supervisor/chatbot-backend.log)" curl -fsS http://127.0.0.1:8000/health
}

start_frontend() {
  local app="$CHATBOT/chm-chatbot-frontend"
  cat >"$app/ecosystem.config.cjs" <<EOF
module.exports = { apps: [{ name: 'chatbot-frontend', script: 'server.mjs', cwd: '$app',
  env: { PORT: '3000', HOST: '127.0.0.1', BACKEND_URL: 'http://127.0.0.1:8000' } }] };
EOF
  chown "$USER_NAME:$USER_NAME" "$app/ecosystem.config.cjs"
  as_user pm2 delete chatbot-frontend >/dev/null 2>&1 || true
  as_user pm2 start "$app/ecosystem.config.cjs" >/dev/null
  as_user pm2 save --force >/dev/null
  wait_for 30 "chatbot frontend on :3000" curl -fsS http://127.0.0.1:3000/health
}

stop_bare_metal() {
  supervisor_running && supervisorctl stop chatbot-backend >/dev/null 2>&1 || true
  as_user pm2 delete chatbot-frontend >/dev/null 2>&1 || true
}

ensure_chatbot() {
  local size=$1
  install_chatbot_source
  [ -f "$CHATBOT/chroma_db/chroma.sqlite3" ] && [ "$(current_size)" = "$size" ] || restore_chatbot_data "$size"
  write_supervisor_conf
  start_backend
  curl -fsS http://127.0.0.1:3000/health >/dev/null 2>&1 || start_frontend
}

# ---------------------------------------------------------------------------------------------
# 6. MediaHub: already in Docker, compose project "mediahub" on network "mediahub".
ensure_mediahub() {
  mkdir -p "$MEDIAHUB"
  rsync -a --delete "$SRC/mediahub/" "$MEDIAHUB/"
  chown -R "$USER_NAME:$USER_NAME" "$MEDIAHUB"
  image_exists mediahub-backend:lab || DOCKER_BUILDKIT=0 docker build -q -t mediahub-backend:lab "$MEDIAHUB/backend" >"$LAB/build.log" 2>&1
  image_exists mediahub-frontend:lab || DOCKER_BUILDKIT=0 docker build -q -t mediahub-frontend:lab "$MEDIAHUB/frontend" >"$LAB/build.log" 2>&1
  (cd "$MEDIAHUB" && docker compose -f docker-compose.prod.yml up -d --wait --quiet-pull >/dev/null 2>"$LAB/mediahub-up.log") \
    || die "MediaHub did not come up, see $LAB/mediahub-up.log"
}

# ---------------------------------------------------------------------------------------------
# 7. Todo chatbot images (seed 003) for runbooks/audit-images.ts: todo-{backend,frontend}:{good,flawed},
# built on the host from /home/ubuntu/todo/ (sources in scripts/lab/todo/). Rebuilt only when a
# context changed (label io.cutover.lab.todo.hash). Never removed by reset (not migration state).
TODO_DIR=$HOME_DIR/todo
todo_hash() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16); }
ensure_todo_images() {
  rsync -a --delete --exclude node_modules --exclude .next "$SRC/todo/good" "$SRC/todo/flawed" "$TODO_DIR/"
  chown -R "$USER_NAME:$USER_NAME" "$TODO_DIR"
  # the flawed frontend builds FROM node (untagged = latest): a local tag, like the other stand-ins
  image_exists node:latest || docker tag node:20-alpine node:latest
  local v part tag ctx h
  for v in good flawed; do
    for part in backend frontend; do
      tag=todo-$part:$v ctx=$TODO_DIR/$v/$part
      h=$(todo_hash "$ctx")
      [ "$(docker image inspect -f '{{index .Config.Labels "io.cutover.lab.todo.hash"}}' "$tag" 2>/dev/null)" = "$h" ] && continue
      say "building $tag"
      # --network host: the flawed backend really apt-installs gcc, as the seed's Dockerfile does
      DOCKER_BUILDKIT=0 docker build -q --pull=false --network host --label "io.cutover.lab.todo.hash=$h" -t "$tag" "$ctx" \
        >"$LAB/todo-build.log" 2>&1 || die "building $tag failed, see $LAB/todo-build.log"
    done
  done
  docker image prune -f --filter label=io.cutover.lab.todo.hash >/dev/null 2>&1 || true # superseded builds
}

# ---------------------------------------------------------------------------------------------
# Migration leftovers: everything a CHM migration (or a test) may have created on the host.
remove_migration_state() {
  local ids
  ids=$(docker ps -aq --filter label=com.docker.compose.project=chm-chatbot; docker ps -aq --filter label=io.cutover.run;
        docker ps -aq --filter name='^/(chatbot-backend|chatbot-frontend|nginx-proxy)$'; docker ps -aq --filter label=io.cutover.test)
  [ -z "$ids" ] || docker rm -f $(echo "$ids" | sort -u) >/dev/null 2>&1 || true
  local vols
  vols=$(docker volume ls -q --filter label=io.cutover.run; docker volume ls -q --filter label=io.cutover.test;
         docker volume ls -q | grep -E '^(chatbot_|cutover_demo)' || true)
  [ -z "$vols" ] || docker volume rm -f $(echo "$vols" | sort -u) >/dev/null 2>&1 || true
  docker network ls -q --filter label=io.cutover.test | xargs -r docker network rm >/dev/null 2>&1 || true
  docker network rm chm-chatbot_default >/dev/null 2>&1 || true
  # small disks and busy mounts a fault test (full disk, failing sync-back) may have left behind
  awk -v a=/var/lib/cutover -v b="$HOME_DIR/chm-chatbot" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/mounts \
    | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  # dirs any run made wherever its config put them (deployDir anywhere): each run records them
  local m
  for m in /var/lib/cutover/runs/*/created/*; do
    [ -e "$m" ] || continue
    m=$(basename "$m"); m="/${m//%2F//}"
    case "$m" in /|/home|/home/ubuntu|/etc|/var|/usr|/root) continue ;; esac
    rm -rf "$m"
  done
  # images the runs built (chm-chatbot-backend:<run>, chm-chatbot-frontend:<run>)
  # by name, never by id: an id can be shared with a stand-in image (rmi would delete that too)
  docker images --format '{{.Repository}}:{{.Tag}}' --filter 'reference=chm-chatbot-*' | xargs -r docker rmi >/dev/null 2>&1 || true
  rm -rf /var/lib/cutover "$HOME_DIR"/chm-deploy "$HOME_DIR"/cutover-archive-* "$HOME_DIR"/cutover-demo /tmp/cutover-demo*
  rm -f /etc/systemd/system/chatbot-*.service.cutover-* 2>/dev/null || true
  tc qdisc del dev lo root 2>/dev/null || true # loopback shaping left by an interrupted `bench --link`
}

# ---------------------------------------------------------------------------------------------
status() {
  local bad=0
  check() { # check NAME CMD...
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then printf '  %-44s ok\n' "$name"; else printf '  %-44s FAIL\n' "$name"; bad=1; fi
  }
  echo "lab status (data size: $(current_size))"
  check "docker engine" docker info
  check "docker compose v2" sh -c "docker compose version | grep -qE 'v?2\\.'"
  for i in $BASE_IMAGE nginx:alpine python:3.11-slim node:20-alpine postgres:16-alpine redis:7-alpine; do
    check "image $i" docker image inspect "$i"
  done
  check "sshd 127.0.0.1:$SSH_PORT (key-only, pinned)" ssh_ok
  check "ssh: sudo -n as $USER_NAME" ssh -F "$LAB/ssh/config" chm-lab sudo -n true
  check "bare-metal backend :8000 (supervisord)" curl -fsS http://127.0.0.1:8000/health
  check "bare-metal frontend :3000 (pm2)" curl -fsS http://127.0.0.1:3000/health
  check "chroma_db / pdfs / transcripts present" test -f "$CHATBOT/chroma_db/chroma.sqlite3" -a -d "$CHATBOT/pdfs" -a -d "$CHATBOT/transcripts"
  check "mediahub-backend :8002 (postgres+redis)" curl -fsS http://127.0.0.1:8002/health
  check "mediahub-frontend :3002" curl -fsS http://127.0.0.1:3002/health
  check "mediahub network" docker network inspect mediahub
  local st
  for st in rhinon dimini ai-whisperers; do
    check "stack $st deployed (all services healthy, or all stopped)" sh -c "s=\$(docker ps -a --filter label=com.docker.compose.project=$st --format '{{.Status}}'); [ -n \"\$s\" ] && { ! printf '%s\n' \"\$s\" | grep -qv '(healthy)' || ! printf '%s\n' \"\$s\" | grep -qv '^Exited'; }"
  done
  local left
  left=$(docker ps -aq --filter label=com.docker.compose.project=chm-chatbot; docker volume ls -q | grep -E '^chatbot_' || true
         docker images -q --filter 'reference=chm-chatbot-*'; ls -d "$HOME_DIR"/chm-deploy 2>/dev/null || true)
  check "no migration leftovers (containers, volumes, images, host dirs)" test -z "$left"
  if [ $bad = 0 ]; then
    echo "stats: $(curl -fsS http://127.0.0.1:8000/api/stats 2>/dev/null | head -c 300)"
  fi
  return $bad
}

infra() {
  mkdir -p "$LAB"
  ensure_packages
  ensure_docker
  ensure_compose
  ensure_images
  ensure_user
  ensure_ssh
}

up() {
  local size=$1
  infra
  ensure_chatbot "$size"
  ensure_mediahub
  ensure_todo_images
  bash "$SRC/stacks/deploy.sh"
}

reset() {
  local size=$1
  infra
  remove_migration_state
  stop_bare_metal
  install_chatbot_source
  restore_chatbot_data "$size"
  write_supervisor_conf
  start_backend
  start_frontend
  ensure_mediahub
  ensure_todo_images
  LAB_STACKS_STATE=stopped bash "$SRC/stacks/deploy.sh"
}

down() {
  stop_bare_metal
  supervisor_running && supervisorctl shutdown >/dev/null 2>&1 || true
  as_user pm2 kill >/dev/null 2>&1 || true
  remove_migration_state
  [ -d "$MEDIAHUB" ] && (cd "$MEDIAHUB" && docker compose -f docker-compose.prod.yml down >/dev/null 2>&1) || true
  [ -f "$LAB/ssh/sshd.pid" ] && kill "$(cat "$LAB/ssh/sshd.pid")" 2>/dev/null || true
  say "lab stopped (images, keys and generated data kept under .lab/; dockerd left running)"
}

cmd=${1:-status}; shift || true
size=""
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --size=*) size=${1#--size=}; shift ;;
    *) die "unknown option $1 (known: --size 10M|100M|1G|5G)" ;;
  esac
done
[ -n "$size" ] || size=$(current_size)
[[ $size =~ ^[0-9]+[KMG]$ ]] || die "--size must look like 10M, 100M, 1G or 5G (got '$size')"

case $cmd in
  up) t0=$SECONDS; up "$size"; say "up in $((SECONDS - t0))s"; status ;;
  reset) t0=$SECONDS; reset "$size"; say "reset in $((SECONDS - t0))s"; status ;;
  status) status ;;
  stacks) infra; bash "$SRC/stacks/deploy.sh" ;;
  infra) infra ;;
  clean) remove_migration_state ;; # only what runs leave (containers, volumes, dirs, images): test/support/reset.ts
  down) down ;;
  *) die "unknown command '$cmd' (up, reset, status, down, stacks, clean)" ;;
esac
