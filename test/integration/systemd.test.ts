import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceCommands } from '../../src/migrate/services.ts';
import type { RemoteCommand } from '../../src/engine/command.ts';
import { SshExecutor } from '../../src/exec/ssh-executor.ts';
import { SshConnection } from '../../src/ssh/connection.ts';
import { ROOT, SSH_DIR } from '../support/lab.ts';

/**
 * systemd for real: a lab host that boots systemd as PID 1 (scripts/lab/systemd-host/), its units
 * written as people write them (no Restart=, only [Install] WantedBy=). A restart of its container is
 * a reboot: systemd starts what is enabled, and what an enabled unit pulls in. Each result is read
 * with systemctl and the worker's own output, not through the tool's report.
 */
const HOST = resolve(ROOT, 'scripts/lab/systemd-host/host.sh');
const host = (cmd: 'up' | 'reboot' | 'down') =>
  execFileSync('bash', [HOST, cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const ssh = (command: string) => {
  const r = spawnSync('ssh', ['-F', resolve(SSH_DIR, 'config-sdlab'), 'sdlab', command], { encoding: 'utf8' });
  return r.stdout.trim();
};
const active = (unit: string) => ssh(`systemctl is-active ${unit} || true`);
const enabled = (unit: string) => ssh(`systemctl is-enabled ${unit} || true`);
/** The worker commits a tick to app.db 20 times a second: is it writing now? (read as sdlab, read-only: a root reader would leave a -shm the app cannot open) */
const workerWrites = async () => {
  const ticks = () =>
    Number(
      ssh(
        "sudo -u sdlab sqlite3 -readonly /srv/sdlab/data/app.db 'PRAGMA busy_timeout=5000; SELECT count(*) FROM ticks' 2>/dev/null | tail -1 || echo 0",
      ) || 0,
    );
  const a = ticks();
  await new Promise((r) => setTimeout(r, 1200));
  return ticks() > a;
};

/**
 * A unit file as people write one: [Unit] with its description (and any more lines), one section of its kind
 * ([Service], [Timer], [Socket]), and [Install] only when it is enabled at boot by WantedBy=.
 */
const unitFile = (o: { description: string; unit?: string[]; kind?: string; body: string[]; wantedBy?: string }) => [
  '[Unit]',
  `Description=${o.description}`,
  ...(o.unit ?? []),
  `[${o.kind ?? 'Service'}]`,
  ...o.body,
  ...(o.wantedBy ? ['[Install]', `WantedBy=${o.wantedBy}`] : []),
];
/** The prune job as apps ship it: a oneshot that records each run, enabled at boot on its own. */
const PRUNE_ONESHOT = unitFile({
  description: 'a prune job',
  body: ['Type=oneshot', 'ExecStart=/bin/sh -c "echo ran >> /var/tmp/prune-ran"'],
  wantedBy: 'multi-user.target',
});
/** Unit files (name -> lines), put on the host; then systemd reloaded and `then` run. */
const putUnits = (files: Record<string, string[]>, then: string) =>
  ssh(
    [
      ...Object.entries(files).map(
        ([name, lines]) =>
          `echo ${Buffer.from(`${lines.join('\n')}\n`).toString('base64')} | base64 -d | sudo tee /etc/systemd/system/${name} >/dev/null`,
      ),
      'sudo systemctl daemon-reload',
      then,
    ].join('\n'),
  );
/** The test's units disabled, stopped and removed again, with the files they wrote. */
const dropUnits = (units: string[], files: string[] = []) =>
  ssh(
    `sudo systemctl disable --now ${units.join(' ')} 2>/dev/null; sudo rm -f ${[...units.map((u) => `/etc/systemd/system/${u.replace(/@.*\./, '@.')}`), ...files].join(' ')}; sudo systemctl daemon-reload`,
  );

describe('systemd, on a lab host that boots it', () => {
  let conn: SshConnection;
  let exec: SshExecutor;
  const run = (c: RemoteCommand) => exec.run(c);
  const runId = '20261203-120000-sd01';

  beforeAll(async () => {
    host('up');
    conn = await SshConnection.connect({
      host: '127.0.0.1',
      port: 2223,
      user: 'ubuntu',
      keyPath: resolve(SSH_DIR, 'id_ed25519'),
      knownHostsPath: resolve(SSH_DIR, 'known_hosts-sdlab'),
    });
    exec = new SshExecutor(conn);
  }, 180_000);
  afterAll(() => {
    conn?.close();
    host('down');
  });

  const reboot = async () => {
    conn.close();
    host('reboot');
    conn = await SshConnection.connect({
      host: '127.0.0.1',
      port: 2223,
      user: 'ubuntu',
      keyPath: resolve(SSH_DIR, 'id_ed25519'),
      knownHostsPath: resolve(SSH_DIR, 'known_hosts-sdlab'),
    });
    exec = new SshExecutor(conn);
  };

  it("a unit with systemd's defaults: stopped and disabled (read back), it stays off after a reboot while its neighbour runs; the undo puts it back, and the next reboot starts it", async () => {
    const w = serviceCommands({ manager: 'systemd', name: 'sdlab-worker' }, 'ubuntu', runId);
    expect(active('sdlab-worker')).toBe('active');
    expect(await workerWrites()).toBe(true);
    await run(w.stop);
    await run(w.disable);
    expect(enabled('sdlab-worker')).toBe('disabled');
    await reboot();
    expect(active('sdlab-web')).toBe('active');
    expect(active('sdlab-worker')).toBe('inactive');
    expect(await workerWrites()).toBe(false);

    await run(w.enable);
    await run(w.start);
    expect(enabled('sdlab-worker')).toBe('enabled');
    expect(await workerWrites()).toBe(true);
    await reboot();
    expect(active('sdlab-worker')).toBe('active');
    // a second run of the same undo changes nothing (idempotent, as after a lost connection)
    await run(w.enable);
    expect(enabled('sdlab-worker')).toBe('enabled');
  }, 120_000);

  it('a unit that was disabled before the run stays disabled after the undo (nothing is enabled that was not)', async () => {
    ssh('sudo systemctl disable --now sdlab-web');
    const w = serviceCommands({ manager: 'systemd', name: 'sdlab-web' }, 'ubuntu', `${runId}b`);
    await run(w.disable);
    await run(w.enable);
    expect(enabled('sdlab-web')).toBe('disabled');
    ssh('sudo systemctl enable --now sdlab-web');
  }, 60_000);

  it('a unit another enabled unit pulls in at boot is refused in one line naming it, instead of "disabled" and a second writer after the reboot', async () => {
    putUnits(
      {
        'sdlab-extra.service': unitFile({
          description: 'pulls the worker in',
          unit: ['Wants=sdlab-worker.service'],
          body: ['ExecStart=/bin/sleep infinity'],
          wantedBy: 'multi-user.target',
        }),
      },
      'sudo systemctl enable sdlab-extra',
    );
    const w = serviceCommands({ manager: 'systemd', name: 'sdlab-worker' }, 'ubuntu', `${runId}c`);
    await run(w.stop);
    const e = await run(w.disable).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(e?.message ?? 'accepted').toMatch(/sdlab-worker.*sdlab-extra\.service/);
    // the proof the refusal is right: a reboot starts it
    await reboot();
    expect(active('sdlab-worker')).toBe('active');
    dropUnits(['sdlab-extra.service']);
  }, 120_000);

  it('a oneshot unit named like a number, enabled as shipped: known by its name, kept from running at boot, and started again the way systemd means it for a oneshot (it ran and succeeded)', async () => {
    // 42 alone reads as a job id to systemctl show: passed as the unit 42.service it is the unit
    putUnits(
      {
        '42.service': PRUNE_ONESHOT,
      },
      'sudo rm -f /var/tmp/prune-ran; sudo systemctl enable 42.service 2>/dev/null',
    );
    const runs = () => Number(ssh('wc -l < /var/tmp/prune-ran 2>/dev/null || echo 0'));
    const w = serviceCommands({ manager: 'systemd', name: '42' }, 'ubuntu', `${runId}d`);
    try {
      expect(ssh('systemctl show -p LoadState --value -- 42.service')).toBe('loaded');
      await run(w.stop);
      await run(w.disable);
      expect(enabled('42.service')).toBe('disabled');
      await reboot();
      expect(runs()).toBe(0); // it never ran at boot
      await run(w.enable);
      await run(w.start); // it was not running before the stop (a oneshot is inactive once it ran): put back, it is not run now
      expect(enabled('42.service')).toBe('enabled');
      expect(runs()).toBe(0);
      await reboot();
      expect(runs()).toBe(1); // enabled as it was: it runs at boot again
      // a start this run did not stop runs it: started means it ran and succeeded
      const fresh = serviceCommands({ manager: 'systemd', name: '42' }, 'ubuntu', `${runId}d2`);
      await run(fresh.start);
      expect(runs()).toBe(2);
      // a oneshot that fails is not "started"
      ssh(
        `sudo sed -i 's|^ExecStart=.*|ExecStart=/bin/false|' /etc/systemd/system/42.service && sudo systemctl daemon-reload`,
      );
      const e = await run(fresh.start).then(
        () => undefined,
        (err: Error) => err,
      );
      expect(e?.message ?? 'accepted').toMatch(/42\.service/);
    } finally {
      dropUnits(['42.service'], ['/var/tmp/prune-ran']);
    }
  }, 180_000);
  it('a scheduled job as an app ships it (a timer and its oneshot service, both enabled): named by either unit, both are stopped and kept from boot, the job never runs after a reboot, and the undo puts both back as they were', async () => {
    putUnits(
      {
        'sdprune.service': PRUNE_ONESHOT,
        'sdprune.timer': unitFile({
          description: 'prune hourly',
          kind: 'Timer',
          body: ['OnBootSec=10min', 'OnUnitActiveSec=1h'],
          wantedBy: 'timers.target',
        }),
      },
      'sudo rm -f /var/tmp/prune-ran; sudo systemctl enable sdprune.service sdprune.timer 2>/dev/null; sudo systemctl start sdprune.timer',
    );
    const runs = () => Number(ssh('wc -l < /var/tmp/prune-ran 2>/dev/null || echo 0'));
    const states = () => [enabled('sdprune.timer'), active('sdprune.timer'), enabled('sdprune.service')].join(' ');
    try {
      expect(states()).toBe('enabled active enabled');
      // named by its timer (what the operator sees in `systemctl list-timers`)
      const t = serviceCommands({ manager: 'systemd', name: 'sdprune.timer' }, 'ubuntu', `${runId}e`);
      await run(t.stop);
      await run(t.disable);
      expect(states()).toBe('disabled inactive disabled');
      ssh('sudo rm -f /var/tmp/prune-ran');
      await reboot();
      expect(states()).toBe('disabled inactive disabled');
      expect(runs()).toBe(0); // the boot (WantedBy=) did not run it, and its timer is not waiting
      await run(t.enable);
      await run(t.start);
      expect(states()).toBe('enabled active enabled');
      expect(runs()).toBe(0); // putting back a timer does not run its job now

      // named by its service: its timer (TriggeredBy=) goes with it, and comes back with it
      const s = serviceCommands({ manager: 'systemd', name: 'sdprune' }, 'ubuntu', `${runId}f`);
      await run(s.stop);
      await run(s.disable);
      expect(states()).toBe('disabled inactive disabled');
      await run(s.enable);
      await run(s.start);
      expect(states()).toBe('enabled active enabled');
      expect(runs()).toBe(0); // the oneshot was not running before the stop: the undo does not run it
    } finally {
      dropUnits(['sdprune.timer', 'sdprune.service'], ['/var/tmp/prune-ran']);
    }
  }, 180_000);

  it('a socket-activated service: its .socket is stopped and disabled with it, so no connection starts the app again; the undo puts the socket back', async () => {
    putUnits(
      {
        'sdsock.service': unitFile({
          description: 'socket-activated app',
          body: ['ExecStart=/bin/sh -c "echo ran >> /var/tmp/sock-ran; exec sleep infinity"'],
        }),
        'sdsock.socket': unitFile({
          description: 'its socket',
          kind: 'Socket',
          body: ['ListenStream=127.0.0.1:9181'],
          wantedBy: 'sockets.target',
        }),
      },
      'sudo rm -f /var/tmp/sock-ran; sudo systemctl enable --now sdsock.socket 2>/dev/null',
    );
    const connect = () =>
      ssh(`timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9181' 2>/dev/null && echo open || echo refused`);
    const runs = () => Number(ssh('wc -l < /var/tmp/sock-ran 2>/dev/null || echo 0'));
    try {
      expect(connect()).toBe('open');
      await new Promise((r) => setTimeout(r, 500));
      expect(active('sdsock.service')).toBe('active'); // the first connection started it
      const w = serviceCommands({ manager: 'systemd', name: 'sdsock' }, 'ubuntu', `${runId}g`);
      await run(w.stop);
      await run(w.disable);
      expect([active('sdsock.socket'), enabled('sdsock.socket'), active('sdsock.service')].join(' ')).toBe(
        'inactive disabled inactive',
      );
      const before = runs();
      expect(connect()).toBe('refused');
      expect(active('sdsock.service')).toBe('inactive');
      expect(runs()).toBe(before);
      await run(w.enable);
      await run(w.start);
      expect([active('sdsock.socket'), enabled('sdsock.socket'), active('sdsock.service')].join(' ')).toBe(
        'active enabled active',
      );
      expect(connect()).toBe('open');
    } finally {
      dropUnits(['sdsock.socket', 'sdsock.service'], ['/var/tmp/sock-ran']);
    }
  }, 120_000);
  it('a Type=forking service and a template instance (app@1): each stopped with every process of it gone, kept from boot, and put back as it was', async () => {
    // forking: ExecStart returns once its daemon forked; systemd tracks the daemon by its PIDFile
    putUnits(
      {
        // $$ is systemd's $: the shell sees $!
        'sdfork.service': unitFile({
          description: 'a forking daemon',
          body: [
            'Type=forking',
            'PIDFile=/run/sdfork.pid',
            'ExecStart=/bin/sh -c "sleep infinity >/dev/null 2>&1 & echo $$! > /run/sdfork.pid"',
          ],
          wantedBy: 'multi-user.target',
        }),
        'sdtpl@.service': unitFile({
          description: 'instance %i',
          body: ['ExecStart=/bin/sleep infinity'],
          wantedBy: 'multi-user.target',
        }),
      },
      'sudo systemctl enable --now sdfork.service sdtpl@1.service 2>/dev/null',
    );
    const daemon = () =>
      ssh('p=$(cat /run/sdfork.pid 2>/dev/null) && [ -n "$p" ] && [ -d /proc/$p ] && echo alive || echo gone');
    const procs = (u: string) =>
      ssh(
        `cg=$(systemctl show -p ControlGroup --value -- ${u}); cat /sys/fs/cgroup$cg/cgroup.procs 2>/dev/null | wc -l`,
      );
    try {
      expect([active('sdfork'), daemon(), active('sdtpl@1'), enabled('sdtpl@1')].join(' ')).toBe(
        'active alive active enabled',
      );
      const f = serviceCommands({ manager: 'systemd', name: 'sdfork' }, 'ubuntu', `${runId}h`);
      const t = serviceCommands({ manager: 'systemd', name: 'sdtpl@1' }, 'ubuntu', `${runId}h`);
      expect(t.stop.argv).toContain('sdtpl@1.service');
      for (const c of [f.stop, f.disable, t.stop, t.disable]) await run(c);
      expect([active('sdfork'), daemon(), enabled('sdfork'), procs('sdfork.service')].join(' ')).toBe(
        'inactive gone disabled 0',
      );
      expect([active('sdtpl@1'), enabled('sdtpl@1'), procs('sdtpl@1.service')].join(' ')).toBe('inactive disabled 0');
      for (const c of [f.enable, f.start, t.enable, t.start]) await run(c);
      expect([active('sdfork'), daemon(), enabled('sdfork'), active('sdtpl@1'), enabled('sdtpl@1')].join(' ')).toBe(
        'active alive enabled active enabled',
      );
    } finally {
      dropUnits(['sdfork.service', 'sdtpl@1.service']);
    }
  }, 120_000);
});
