import { remote, sudo, type RemoteCommand } from '../engine/command.ts';

export type Manager = 'supervisor' | 'pm2' | 'systemd';
export interface ServiceRef {
  manager: Manager;
  name: string;
  ecosystem?: string;
}

/** Runs a command as the service owner (pm2 state lives in the owner's home). */
const asOwner = (owner: string, argv: string[]): RemoteCommand => ({ kind: 'remote', argv, user: owner });

const KIND: Record<Manager, string> = { supervisor: 'supervisor program', pm2: 'pm2 process', systemd: 'systemd unit' };

/** Commands to stop, start, disable at boot and re-enable each kind of bare-metal service, each with its words. */
export function serviceCommands(s: ServiceRef, owner: string) {
  const c = managerCommands(s, owner);
  const what = `${KIND[s.manager]} ${s.name}`;
  return {
    status: { ...c.status, says: `read the state of ${what}`, reads: true },
    stop: { ...c.stop, says: `stop ${what}` },
    start: { ...c.start, says: `start ${what}` },
    disable: { ...c.disable, says: `keep ${what} from starting at boot` },
    enable: { ...c.enable, says: `let ${what} start at boot again` },
  } satisfies Record<string, RemoteCommand>;
}

function managerCommands(s: ServiceRef, owner: string) {
  switch (s.manager) {
    case 'supervisor':
      return {
        status: sudo(['supervisorctl', 'status', s.name], { okCodes: [0, 3] }),
        stop: sudo(['supervisorctl', 'stop', s.name]),
        start: sudo(['supervisorctl', 'start', s.name], { okCodes: [0, 1] }),
        // supervisord has no "disable": autostart=false in its program file, then reread/update.
        disable: sudo(['sh', '-c', 'set -e; f=$(grep -l "^\\[program:$1\\]" /etc/supervisor/conf.d/*.conf | head -1); sed -i "s/^autostart=.*/autostart=false/; s/^autorestart=.*/autorestart=false/" "$f"; supervisorctl reread >/dev/null', 'sh', s.name]),
        enable: sudo(['sh', '-c', 'set -e; f=$(grep -l "^\\[program:$1\\]" /etc/supervisor/conf.d/*.conf | head -1); sed -i "s/^autostart=.*/autostart=true/; s/^autorestart=.*/autorestart=true/" "$f"; supervisorctl reread >/dev/null', 'sh', s.name]),
      };
    case 'pm2':
      return {
        status: asOwner(owner, ['pm2', 'describe', s.name]),
        stop: asOwner(owner, ['pm2', 'stop', s.name]),
        start: asOwner(owner, ['pm2', 'restart', s.name]),
        // pm2 resurrects what its dump lists: delete + save removes it from boot.
        disable: asOwner(owner, ['sh', '-c', 'pm2 delete "$1" && pm2 save --force', 'sh', s.name]),
        enable: asOwner(owner, ['sh', '-c', 'pm2 describe "$1" >/dev/null 2>&1 || pm2 start "$2"; pm2 save --force', 'sh', s.name, s.ecosystem ?? '']),
      };
    case 'systemd':
      return {
        status: remote(['systemctl', 'is-active', s.name], { okCodes: [0, 3] }),
        stop: sudo(['systemctl', 'stop', s.name]),
        start: sudo(['systemctl', 'start', s.name]),
        disable: sudo(['systemctl', 'disable', s.name]),
        enable: sudo(['systemctl', 'enable', s.name]),
      };
  }
}
