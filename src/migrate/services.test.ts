import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describe as show } from '../engine/command.ts';
import { serviceCommands, systemdUnit } from './services.ts';

const TOOL_DIR = `${import.meta.dirname}/../agent`;
/** supervisor_boot.edited(TEXT, NAME), run by python3 here. */
const edited = (text: string, name: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'sv-')), 'x.conf');
  writeFileSync(f, text);
  const r = spawnSync(
    'python3',
    [
      '-c',
      'import sys; sys.path.insert(0, sys.argv[1]); import supervisor_boot as s; sys.stdout.write(s.edited(open(sys.argv[2], newline="").read(), sys.argv[3]))',
      TOOL_DIR,
      f,
      name,
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
};

describe('service manager adapters', () => {
  it('systemd: stop/disable and their inverses, each read back; enable only what was enabled before the run', () => {
    const c = serviceCommands(
      { manager: 'systemd', name: 'chatbot-backend.service' },
      'ubuntu',
      '20261203-000000-abcd',
    );
    const kept = '/var/lib/cutover/runs/20261203-000000-abcd/services/systemd-chatbot-backend.service.units';
    for (const x of [c.stop, c.start, c.disable, c.enable]) {
      expect(show(x)).toMatch(new RegExp(`^remote \\(sudo\\): sh -c .*' sh chatbot-backend\\.service ${kept}$`, 's'));
    }
    // the family: what starts it (TriggeredBy: timers, sockets, paths) and what it starts, those first
    expect(show(c.stop)).toMatch(/TriggeredBy -p Triggers .*timer\|socket\|path.*systemctl stop -- "\$u"/s);
    expect(show(c.disable)).toMatch(/systemctl disable -- "\$u".*is-enabled .*disabled\|masked\|static/s);
    expect(show(c.enable)).toMatch(/= enabled \] \|\| continue\n {2}systemctl enable -- "\$u"/s);
    expect(show(c.start)).toMatch(/= oneshot \] && .*Result --value -- "\$1"\)" = success \]/s);
    expect(c.stop.says).toMatch(/and the timers, sockets and paths that start it/);
    // a name that is no unit name is one: a service (42 would read as a job id; app@1 is the instance)
    expect(['42', 'app@1', 'prune.timer', 'app.socket'].map(systemdUnit)).toEqual([
      '42.service',
      'app@1.service',
      'prune.timer',
      'app.socket',
    ]);
    expect(show(serviceCommands({ manager: 'systemd', name: '42' }, 'ubuntu').stop)).toMatch(/' sh 42\.service \//);
    expect(c.status.okCodes).toEqual([0, 3]);
  });
  it('pm2 runs as the service owner; its boot list is its saved dump, edited as the owner and kept as root; start falls back to the ecosystem', () => {
    const p = serviceCommands({ manager: 'pm2', name: 'chatbot-frontend', ecosystem: '/x/eco.cjs' }, 'ubuntu', 'R');
    expect(show(p.stop)).toBe('remote (as ubuntu): pm2 stop chatbot-frontend');
    expect(show(p.start)).toMatch(/pm2 start "\$2" --only "\$1".*' sh chatbot-frontend \/x\/eco\.cjs$/s);
    for (const c of [p.disable, p.enable]) {
      expect(show(c)).toMatch(
        /^remote \(sudo\): sh -c .*' sh ubuntu chatbot-frontend \/var\/lib\/cutover\/runs\/R\/services\/pm2-chatbot-frontend\.dump$/s,
      );
      expect(show(c)).not.toMatch(/pm2 (start|restart|delete)/); // the real behaviour: test/integration/pm2.test.ts
    }
  });
  it("supervisor: the program's own section is edited by the host tool, with the file kept for the undo", () => {
    const s = serviceCommands({ manager: 'supervisor', name: 'chatbot-backend' }, 'ubuntu', '20261203-000000-abcd');
    expect(show(s.stop)).toBe('remote (sudo): supervisorctl stop chatbot-backend');
    expect(show(s.disable)).toBe(
      'remote (sudo): python3 /var/lib/cutover/runs/20261203-000000-abcd/agent.pyz supervisor off chatbot-backend /var/lib/cutover/runs/20261203-000000-abcd/services/supervisor-chatbot-backend',
    );
    expect(show(s.enable)).toMatch(/agent\.pyz supervisor restore chatbot-backend /);
    expect(show(s.start)).toMatch(/grep -q RUNNING/);
  });
  it('supervisor edit: defaults made explicit in that section only; existing lines replaced; other programs untouched', () => {
    const file =
      '[program:a]\ncommand=/bin/a\n\n[program:b]\ncommand=/bin/b ; trailing comment\nautostart = true\nautorestart=unexpected\n\n[program:c]\ncommand=/bin/c\n';
    expect(edited(file, 'a')).toBe(
      '[program:a]\nautostart=false\nautorestart=false\ncommand=/bin/a\n\n[program:b]\ncommand=/bin/b ; trailing comment\nautostart = true\nautorestart=unexpected\n\n[program:c]\ncommand=/bin/c\n',
    );
    expect(edited(file, 'b')).toBe(
      '[program:a]\ncommand=/bin/a\n\n[program:b]\nautostart=false\nautorestart=false\ncommand=/bin/b ; trailing comment\n\n[program:c]\ncommand=/bin/c\n',
    );
    expect(edited('[program:x]\r\ncommand=y\r\n', 'x')).toBe(
      '[program:x]\r\nautostart=false\r\nautorestart=false\r\ncommand=y\r\n',
    );
    expect(edited(file, 'nope')).toBe(file);
  });
});
