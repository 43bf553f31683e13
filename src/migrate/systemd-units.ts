/**
 * systemd units the way systemd means them. A service is more than its own unit: a timer, a socket or a path
 * unit can start it (its TriggeredBy=), and a named timer, socket or path starts its service (Triggers=). Each
 * command below works on that family, read on the host when it runs: the named unit, what starts it, and what
 * it starts. What each unit was before this run (active, enabled at boot) is kept once per unit in the run's
 * host state, so the undo puts back exactly that. Unit names are always passed after `--`, as unit names.
 */

/** A systemd name as a unit name: one without a unit type's suffix is a service (`42` would read as a job id to systemctl show, `app@1` is the instance app@1.service). */
export const systemdUnit = (name: string) =>
  /\.(service|socket|timer|path|target|mount|automount|swap|slice|scope|device)$/.test(name) ? name : `${name}.service`;

/**
 * The family of $1, printed one per line, what starts a unit before the unit it starts (so a stop in this
 * order never lets a timer or a socket start again what was stopped): $1, what triggers it and what it
 * triggers, and what triggers those (a named timer's service that also has a socket). Unit names hold no blanks or globs
 * (systemd escapes them), so the lists split on words.
 */
const FAMILY = `set -f
family() {
  first=$(systemctl show -p TriggeredBy -p Triggers --value -- "$1" 2>/dev/null)
  { printf '%s\\n' "$1" $first; for u in $first; do systemctl show -p TriggeredBy --value -- "$u" 2>/dev/null; done; } | tr ' ' '\\n' |
    awk 'NF && !seen[$0]++ { if ($0 ~ /\\.(timer|socket|path)$/) print; else rest[++n] = $0 } END { for (i = 1; i <= n; i++) print rest[i] }'
}
units=$(family "$1"); k=$2; mkdir -p "$k"`;

/**
 * Stop $1 and every unit of its family, each one's active state kept first (once), each read back: a timer or
 * a socket left active would start the app again on its next tick or connection.
 */
export const SYSTEMD_STOP = `${FAMILY}
for u in $units; do [ -e "$k/$u.active" ] || { systemctl is-active -- "$u" 2>/dev/null || true; } > "$k/$u.active"; done
for u in $units; do systemctl stop -- "$u" || exit 1; done
for u in $units; do
  s=$(systemctl is-active -- "$u" 2>/dev/null || true)
  case "$s" in active|activating|deactivating|reloading|refreshing) echo "systemd unit $u is still $s after stop (it starts $1, or $1 starts it): see journalctl -u $u" >&2; exit 1 ;; esac
done`;

/** systemctl start $1, read back the way systemd means "started": active, or, for a oneshot service (inactive again once it ran), its last run succeeded. */
const START_ONE = `start_one() {
  systemctl start -- "$1" || return 1
  systemctl is-active --quiet -- "$1" && return 0
  [ "$(systemctl show -p Type --value -- "$1")" = oneshot ] && [ "$(systemctl show -p Result --value -- "$1")" = success ] && return 0
  echo "systemd unit $1 is $(systemctl is-active -- "$1" 2>/dev/null) after start (result $(systemctl show -p Result --value -- "$1")): see journalctl -u $1" >&2
  return 1
}`;

/**
 * Put back $1 and its family as they were before this run's stop: first the timers, sockets and path units that
 * were active (a socket-activated service needs its socket listening first), then $1, then any other unit of
 * the family that was active, each read back. $1 is started unless this run kept it as not active: a oneshot
 * job a timer runs is inactive between runs, and starting it would run the job now (with no kept state, as for
 * a start this run did not stop, $1 is started).
 */
export const SYSTEMD_START = `${START_ONE}
k=$2
was_active() { case "$(cat "$k/$1.active" 2>/dev/null || echo "\${2:-inactive}")" in active|activating|reloading|refreshing) return 0 ;; esac; return 1; }
kept() { for f in "$k"/*.active; do [ -e "$f" ] && basename "$f" .active; done; }
for u in $(kept); do case "$u" in "$1") ;; *.timer|*.socket|*.path) was_active "$u" && { start_one "$u" || exit 1; } ;; esac; done
was_active "$1" active && { start_one "$1" || exit 1; }
for u in $(kept); do case "$u" in "$1"|*.timer|*.socket|*.path) ;; *) was_active "$u" && { start_one "$u" || exit 1; } ;; esac; done
exit 0`;

/**
 * Keep $1 and its family from starting at boot: each one's boot state kept first (once), disabled and read back
 * (static is a unit with no [Install] of its own: only what pulls or triggers it starts it, and those are
 * checked); any other enabled or active unit that still pulls one in (Wants=, Requires=) is refused in one line.
 */
export const SYSTEMD_DISABLE = `${FAMILY}
for u in $units; do [ -e "$k/$u.was" ] || { systemctl is-enabled -- "$u" 2>/dev/null || true; } > "$k/$u.was"; done
for u in $units; do systemctl disable -- "$u" >/dev/null 2>&1 || true; done
for u in $units; do
  s=$(systemctl is-enabled -- "$u" 2>/dev/null || true)
  case "$s" in disabled|masked|static|'') ;; *) echo "systemd unit $u is still '$s' at boot after disable (it starts $1, or $1 starts it): it is pulled in by another unit; mask it (systemctl mask $u) or remove that dependency" >&2; exit 1 ;; esac
  [ "$s" = masked ] && continue
  pulled=
  for d in $(systemctl show -p WantedBy -p RequiredBy -p BoundBy -p UpheldBy --value -- "$u" 2>/dev/null); do
    case " $units " in *" $d "*) continue ;; esac
    case "$(systemctl is-enabled -- "$d" 2>/dev/null || true)" in enabled*|static|alias|indirect|generated|linked*) pulled="$pulled $d" ;;
    *) [ "$(systemctl is-active -- "$d" 2>/dev/null || true)" = active ] && pulled="$pulled $d" ;; esac
  done
  [ -z "$pulled" ] || { echo "systemd unit $u is disabled, but$pulled still start it at boot (Wants=/Requires= on it): mask it (systemctl mask $u) or remove that dependency, then run again" >&2; exit 1; }
done`;

/** Enable again each kept unit that was enabled before this run (nothing else), read back. */
export const SYSTEMD_ENABLE = `k=$2; [ -d "$k" ] || exit 0
for f in "$k"/*.was; do
  [ -e "$f" ] || continue
  u=$(basename "$f" .was)
  [ "$(cat "$f")" = enabled ] || continue
  systemctl enable -- "$u" >/dev/null 2>&1
  s=$(systemctl is-enabled -- "$u" 2>/dev/null || true)
  [ "$s" = enabled ] || { echo "systemd unit $u is '$s' after enable (it was enabled before the run)" >&2; exit 1; }
done`;
