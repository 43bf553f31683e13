import { remote, sudo, type RemoteCommand } from '../engine/command.ts';
import { runStateDir } from '../engine/files.ts';
import { SYSTEMD_DISABLE, SYSTEMD_ENABLE, SYSTEMD_START, SYSTEMD_STOP, systemdUnit } from './systemd-units.ts';

export { systemdUnit };

export type Manager = 'supervisor' | 'pm2' | 'systemd';
export interface ServiceRef {
  manager: Manager;
  name: string;
  ecosystem?: string;
}

/** The run's agent (src/migrate/ops.ts agentPath; here by its path, so this module needs nothing of ops): its `supervisor` edits one program's section. */
const agentOf = (runId: string) => `${runStateDir(runId)}/agent.pyz`;

/** Runs a command as the service owner (pm2 state lives in the owner's home). */
const asOwner = (owner: string, argv: string[]): RemoteCommand => ({ kind: 'remote', argv, user: owner });

const KIND: Record<Manager, string> = { supervisor: 'supervisor program', pm2: 'pm2 process', systemd: 'systemd unit' };

/**
 * Commands to stop, start, disable at boot and re-enable each kind of bare-metal service, each with its
 * words. Every one proves its end state by reading it back (a start that did not start fails); disable
 * and enable keep what they need under the run's host state, so the undo puts back exactly what was.
 */
export function serviceCommands(s: ServiceRef, owner: string, runId = 'RUN') {
  const c = managerCommands(
    s,
    owner,
    `${runStateDir(runId)}/services/${s.manager}-${s.name.replace(/[^A-Za-z0-9@._-]/g, '_')}`,
    agentOf(runId),
  );
  const what = `${KIND[s.manager]} ${s.name}`;
  return {
    status: { ...c.status, says: `read the state of ${what}`, reads: true },
    stop: { ...c.stop, says: `stop ${what}${'stopProof' in c ? ` (${c.stopProof})` : ''}` },
    start: {
      ...c.start,
      says: `start ${what}${'startProof' in c ? ` ${c.startProof}` : ''} (fails unless it is running after)`,
    },
    disable: { ...c.disable, says: `keep ${what} from starting at boot (${c.disableProof})` },
    enable: { ...c.enable, says: `put back ${what}'s start at boot as it was before this run (${c.enableProof})` },
  } satisfies Record<string, RemoteCommand>;
}

/** pm2 jlist on stdin: $1's status is online. */
const PM2_ONLINE = `let j = ""; process.stdin.on("data", (d) => (j += d)).on("end", () => {
const p = JSON.parse(j).find((a) => a.name === process.argv[1]);
if (!p || p.pm2_env.status !== "online") { console.error("pm2 " + process.argv[1] + " is " + (p ? p.pm2_env.status : "not known to pm2")); process.exit(1); } });`;

/** As root: `sudo -u OWNER` with pm2's home as the owner's shell sees it; the dump's path is D. */
const PM2_DUMP_PATH = `owner=$1; name=$2; kept=$3
as() { sudo -n -u "$owner" -H "$@"; }
d=$(as sh -c 'printf %s "\${PM2_HOME:-$HOME/.pm2}/dump.pm2"')`;

/** Take $name's entry out of the owner's dump (as the owner: root never writes in the app's dirs), the dump kept once. */
const PM2_DISABLE = `set -e; ${PM2_DUMP_PATH}
mkdir -p "$(dirname "$kept")"
if [ ! -e "$kept" ] && [ ! -e "$kept.none" ]; then
  if as test -e "$d"; then as cat -- "$d" > "$kept.part"; mv "$kept.part" "$kept"; else : > "$kept.none"; fi
fi
as test -e "$d" || exit 0
as node -e 'const fs = require("fs"); const [d, n] = process.argv.slice(1);
const all = JSON.parse(fs.readFileSync(d, "utf8"));
fs.writeFileSync(d + ".cutover-part", JSON.stringify(all.filter((a) => a.name !== n)));
fs.renameSync(d + ".cutover-part", d);' "$d" "$name"
as node -e 'const [d, n] = process.argv.slice(1);
if (JSON.parse(require("fs").readFileSync(d, "utf8")).some((a) => a.name === n)) { console.error("pm2 " + n + ": " + d + " still lists it"); process.exit(1); }' "$d" "$name"`;

/** Put the kept dump back byte for byte (as the owner), read back; nothing is started. */
const PM2_ENABLE = `set -e; ${PM2_DUMP_PATH}
[ -e "$kept" ] || exit 0
as sh -c 'cat > "$1.cutover-part" && mv -f "$1.cutover-part" "$1"' sh "$d" < "$kept"
as cat -- "$d" | cmp -s - "$kept" || { echo "pm2 $name: $d is not the dump kept before this run ($kept) after putting it back" >&2; exit 1; }`;

/** Start (restart) $1, or from its ecosystem file $2 when pm2 no longer knows it (its daemon restarted); read back online. */
const PM2_START = `if pm2 describe "$1" >/dev/null 2>&1; then pm2 restart "$1" >/dev/null
elif [ -n "$2" ]; then pm2 start "$2" --only "$1" >/dev/null
else echo "pm2 $1 is not known to pm2 (its daemon restarted?) and no ecosystem file is configured to start it from: start it by hand" >&2; exit 1; fi
pm2 jlist | node -e '${PM2_ONLINE}' "$1"`;

function managerCommands(s: ServiceRef, owner: string, kept: string, agent: string) {
  switch (s.manager) {
    case 'supervisor':
      return {
        status: sudo(['supervisorctl', 'status', s.name], { okCodes: [0, 3] }),
        stop: sudo(['supervisorctl', 'stop', s.name]),
        start: sudo([
          'sh',
          '-c',
          'supervisorctl start "$1" >/dev/null 2>&1; supervisorctl status "$1" | grep -q RUNNING || { supervisorctl status "$1" >&2; exit 1; }',
          'sh',
          s.name,
        ]),
        // supervisord has no "disable": autostart=false and autorestart=false in the program's own section.
        disable: sudo(['python3', agent, 'supervisor', 'off', s.name, kept]),
        enable: sudo(['python3', agent, 'supervisor', 'restore', s.name, kept]),
        disableProof: 'autostart=false and autorestart=false in its own section, read back; the file kept',
        enableProof: 'the kept file back byte for byte',
      };
    case 'pm2':
      return {
        status: asOwner(owner, ['pm2', 'describe', s.name]),
        stop: asOwner(owner, ['pm2', 'stop', s.name]),
        start: asOwner(owner, ['sh', '-c', PM2_START, 'sh', s.name, s.ecosystem ?? '']),
        // pm2 resurrects at boot what its dump lists: the app's entry taken out of the dump (the dump kept, as
        // root) and the dump put back byte for byte. Neither starts or deletes a process: an undo never starts a
        // writer before the rollback's sync-back (#32, defect 4); only cutover.stop-writer's undo does.
        disable: sudo(['sh', '-c', PM2_DISABLE, 'sh', owner, s.name, `${kept}.dump`]),
        enable: sudo(['sh', '-c', PM2_ENABLE, 'sh', owner, s.name, `${kept}.dump`]),
        disableProof: 'its entry taken out of its saved dump, read back; the dump kept; the process left as it is',
        enableProof: 'the kept dump back byte for byte, read back; nothing started',
      };
    case 'systemd': {
      const unit = systemdUnit(s.name);
      return {
        status: remote(['systemctl', 'is-active', '--', unit], { okCodes: [0, 3] }),
        // with the timers, sockets and path units that start it (or that it starts), each kept and read back
        stop: sudo(['sh', '-c', SYSTEMD_STOP, 'sh', unit, `${kept}.units`]),
        start: sudo(['sh', '-c', SYSTEMD_START, 'sh', unit, `${kept}.units`]),
        disable: sudo(['sh', '-c', SYSTEMD_DISABLE, 'sh', unit, `${kept}.units`]),
        enable: sudo(['sh', '-c', SYSTEMD_ENABLE, 'sh', unit, `${kept}.units`]),
        stopProof: 'and the timers, sockets and paths that start it; each read back inactive',
        startProof: 'and its timers, sockets and paths, each as it was before this run',
        disableProof: 'and the timers, sockets and paths that start it; systemctl is-enabled read back',
        enableProof: 'each unit enabled again only if it was before, read back',
      };
    }
  }
}
