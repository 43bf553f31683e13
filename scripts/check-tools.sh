#!/usr/bin/env bash
# The tools of scripts/check.sh that npm does not bring: the Python formatter (black) and linter (flake8:
# pyflakes and pycodestyle), Debian bookworm's packages. Idempotent: when they are there, a dpkg-query each.
# (ruff would do both, but Debian has it only in unstable, built for a newer glibc than bookworm's.)
set -euo pipefail

PKGS=(black flake8)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo -n)
echo "[check] installing ${missing[*]} (apt)"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
