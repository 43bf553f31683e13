import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT, ENV, agent, PY, isRoot, UID, GID, OWNER, at, oneLine, ODD, tempDirs } from './testing.ts';

describe('host agent on what real hosts have: failures in one line, settle, the per-step commands', () => {
  const { base, fresh, backup } = tempDirs('agent-commands-');

  it('a cut connection is one line, exit 9, and leaves no partial archive; so is a permission error (exit 13)', () => {
    const t = fresh();
    chmodSync(base, 0o755); // another user must reach the source
    chmodSync(t, 0o755);
    const src = join(t, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.pdf'), randomBytes(5_000_000));
    const cut = spawnSync(
      'bash',
      ['-c', `"${PY}" "${AGENT}" tar-stream "${src}" "${t}/out.tar" | head -c 1000 >/dev/null; exit \${PIPESTATUS[0]}`],
      { env: ENV },
    );
    expect(cut.status).toBe(9);
    expect(oneLine(cut)).toMatch(/^tar-stream: the connection was cut \(stdout closed\)/);
    expect(readdirSync(t).filter((x) => x.startsWith('out.tar'))).toEqual([]);

    // an unreadable file (as another user when run as root: root reads everything)
    chmodSync(src, 0o755);
    writeFileSync(join(src, 'secret.pdf'), 'secret', { mode: 0o000 });
    const outDir = join(t, 'out');
    mkdirSync(outDir, { mode: 0o777 });
    chmodSync(outDir, 0o777);
    const py = [PY, '/usr/bin/python3'].find(
      (p) =>
        !isRoot || spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', p, '-c', '']).status === 0,
    );
    if (!py) return; // no interpreter another user can run: nothing to show here
    // a copy another user can read: the checkout itself may be in a mode-700 dir (a CI clone under mktemp -d)
    const agentCopy = join(t, 'agent');
    mkdirSync(agentCopy);
    chmodSync(agentCopy, 0o755);
    for (const f of readdirSync(AGENT).filter((f) => f.endsWith('.py'))) {
      copyFileSync(join(AGENT, f), join(agentCopy, f));
      chmodSync(join(agentCopy, f), 0o644);
    }
    const argv = [py, agentCopy, 'tar-stream', src, join(outDir, 'pdfs.tar')];
    const opts = { maxBuffer: 64 << 20, env: ENV }; // the archive goes to stdout
    const r = isRoot
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...argv], opts)
      : spawnSync(argv[0], argv.slice(1), opts);
    expect(r.status).toBe(13);
    expect(oneLine(r)).toBe(
      `tar-stream: permission denied reading ${src}/secret.pdf: Permission denied: run it as root, or fix the owner/mode of that path\n`,
    );
    expect(readdirSync(outDir)).toEqual([]);
  });

  it('parity and verify name each difference, the first five, readably', () => {
    const t = fresh();
    const live = join(t, 'live');
    mkdirSync(live);
    for (const f of ['a', 'b', 'c', 'd', 'e', 'f']) writeFileSync(join(live, `${f}.pdf`), `doc ${f}`);
    symlinkSync('a.pdf', join(live, 'l'));
    const { b, manifest, vol } = backup(t, live);
    writeFileSync(join(vol, 'a.pdf'), 'longer doc a'); // size differs
    writeFileSync(join(vol, 'b.pdf'), 'DOC B'); // same size, content differs
    rmSync(join(vol, 'c.pdf')); // only in live
    writeFileSync(join(vol, 'z.pdf'), 'z'); // only in volume
    rmSync(join(vol, 'l'));
    symlinkSync('b.pdf', join(vol, 'l'));
    rmSync(join(vol, 'd.pdf'));
    symlinkSync('e.pdf', join(vol, 'd.pdf')); // a link where a file was
    writeFileSync(join(vol, 'f.pdf'), 'DOC F');
    const p = agent('parity', manifest, 'pdfs', live, vol, join(b, 'none.json'));
    expect(p.status).toBe(7);
    expect(oneLine(p)).toBe(
      'parity FAILED for pdfs: 7 differ: a.pdf: size 5 (live) vs 12 (volume); b.pdf: content differs; d.pdf: file (live) vs link (volume); f.pdf: content differs; link l: -> a.pdf (live) vs -> b.pdf (volume); and 2 more\n',
    );
    const v = agent('verify', manifest, 'pdfs', vol);
    expect(v.status).toBe(5);
    expect(oneLine(v)).toBe(
      `verify FAILED for pdfs in ${vol}: 7 differ: a.pdf: size 12 (found) vs 5 (manifest); b.pdf: content differs; c.pdf: missing; d.pdf: link where the manifest has a file; f.pdf: content differs; and 2 more\n`,
    );
  });

  it('sync-back is safe to run again: a stale part of any kind is removed, KEEP_AS is never overwritten; names, links, owner kept', () => {
    const t = fresh();
    const vol = join(t, 'vol');
    mkdirSync(join(vol, 'sub'), { recursive: true });
    writeFileSync(at(vol, ODD[0]), 'from the containers');
    writeFileSync(join(vol, 'sub', 'doc.pdf'), 'doc');
    symlinkSync('sub/doc.pdf', join(vol, 'l'));
    const live = join(t, 'pdfs');
    const part = `${live}.cutover-part`;
    const keep = `${live}.pre-rollback-R`;
    let round = 0;
    for (const stale of [
      () => mkdirSync(join(part, 'half'), { recursive: true }),
      () => writeFileSync(part, 'x'),
      () => symlinkSync(vol, part),
    ]) {
      mkdirSync(live);
      writeFileSync(join(live, 'old.pdf'), `bare metal ${round}`);
      stale();
      const r = agent('sync-back', vol, live, keep, OWNER);
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(existsSync(part)).toBe(false);
      expect(execFileSync('diff', ['-r', '--no-dereference', vol, live]).toString()).toBe('');
      expect(lstatSync(join(live, 'l'))).toMatchObject({ uid: UID, gid: GID });
      expect(statSync(at(live, ODD[0]))).toMatchObject({ uid: UID, gid: GID });
      const kept = round ? `${keep}.${round}` : keep;
      expect(JSON.parse(r.stdout.toString())).toMatchObject({ sync_back: 'copied', kept });
      expect(readFileSync(join(kept, 'old.pdf'), 'utf8')).toBe(`bare metal ${round}`); // every earlier copy kept
      rmSync(live, { recursive: true });
      round++;
    }
    expect(readFileSync(join(vol, 'sub', 'doc.pdf'), 'utf8')).toBe('doc'); // the stale symlink was removed, not followed

    // a stale part that cannot be removed: one line naming it, LIVE untouched
    if (!isRoot || spawnSync('chattr', ['-h']).error) return;
    mkdirSync(live);
    writeFileSync(join(live, 'old.pdf'), 'bare metal');
    mkdirSync(part);
    writeFileSync(join(part, 'stuck'), '');
    if (spawnSync('chattr', ['+i', join(part, 'stuck')]).status !== 0) return; // no immutable files on this file system
    try {
      const r = agent('sync-back', vol, live, keep, OWNER);
      expect(r.status).not.toBe(0);
      expect(oneLine(r)).toBe(
        `sync-back: cannot remove ${part} left by an earlier attempt (Operation not permitted): remove it by hand, then retry\n`,
      );
      expect(readFileSync(join(live, 'old.pdf'), 'utf8')).toBe('bare metal');
    } finally {
      spawnSync('chattr', ['-i', join(part, 'stuck')]);
    }
  });

  it('settle stops what a lost session of the run left: its helper containers, then its agent processes, nothing else', () => {
    const t = fresh();
    const run = `RUNX${process.pid}`;
    // a docker CLI stand-in: two helper containers of the run, one ends on its own after the first look;
    // and the cutover's standby helper, which never ends on its own
    const bin = join(t, 'bin');
    mkdirSync(bin);
    writeFileSync(join(t, 'containers'), 'quick\nstuck\n');
    writeFileSync(join(t, 'standby'), 'warm\n');
    writeFileSync(
      join(bin, 'docker'),
      `#!/bin/sh
case "$1" in
  ps) echo "$@" >> ${t}/ps-args
      case "$*" in *role=standby*) cat ${t}/standby ;; *) cat ${t}/containers; sed -i '/^quick$/d' ${t}/containers ;; esac ;;
  rm) shift 2; for id in "$@"; do sed -i "/^$id$/d" ${t}/containers ${t}/standby; echo "$id" >> ${t}/removed; done ;;
esac
`,
      { mode: 0o755 },
    );
    const sleeper = (id: string, ignoreTerm = false, agentName = 'agent.py') =>
      spawn(
        PY,
        [
          '-c',
          `import signal, time\n${ignoreTerm ? 'signal.signal(signal.SIGTERM, signal.SIG_IGN)\n' : ''}time.sleep(60)`,
          agentName,
          id,
        ],
        { stdio: 'ignore' },
      );
    const mine = sleeper(run); // as an agent.py of an earlier version
    const zipped = sleeper(run, false, '/agent.pyz'); // as the agent is run now, in a helper container
    const stubborn = sleeper(run, true); // ignores SIGTERM: SIGKILL after 10 s
    const other = sleeper(`RUNY${process.pid}`, false, '/agent.pyz');
    const settle = (PATH: string) =>
      spawnSync(PY, [AGENT, 'settle', run, '1'], { env: { PATH, PYTHONDONTWRITEBYTECODE: '1' } });
    try {
      execFileSync('sleep', ['0.3']);
      const r = settle(`${bin}:/usr/bin:/bin`);
      expect(r.status, r.stderr.toString()).toBe(0);
      const out = JSON.parse(r.stdout.toString());
      expect(out.settled).toBe(run);
      expect(out.waited).toEqual(['container quick']);
      expect(out.stopped.filter((x: string) => x.startsWith('container'))).toEqual(['container stuck']);
      // the standby first, at once: not waited for (it would never end)
      expect(out.stopped.filter((x: string) => x.startsWith('standby'))).toEqual(['standby container warm']);
      expect(readFileSync(join(t, 'removed'), 'utf8')).toBe('warm\nstuck\n');
      expect(readFileSync(join(t, 'ps-args'), 'utf8').split('\n').slice(0, 2)).toEqual([
        `ps -aq --filter label=io.cutover.run=${run} --filter label=io.cutover.role=standby`,
        `ps -q --filter label=io.cutover.run=${run} --filter label=io.cutover.role=helper`,
      ]);
      const pids = out.stopped
        .filter((x: string) => x.startsWith('pid'))
        .map((x: string) => Number(x.split(/[ :]/)[1]));
      expect(pids.sort()).toEqual([mine.pid, zipped.pid, stubborn.pid].sort());
      const alive = (pid?: number) =>
        existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
      expect([alive(mine.pid), alive(zipped.pid), alive(stubborn.pid), alive(other.pid)]).toEqual([
        false,
        false,
        false,
        true,
      ]); // another run's: left alone
      // without a docker CLI: said in the JSON, not fatal
      const nodocker = settle('/nonexistent');
      expect(nodocker.status, nodocker.stderr.toString()).toBe(0);
      expect(JSON.parse(nodocker.stdout.toString())).toMatchObject({
        docker: expect.stringMatching(/missing/),
        stopped: [],
      });
      // a docker CLI that fails: fatal, one line
      writeFileSync(join(bin, 'docker'), '#!/bin/sh\necho "Cannot connect to the Docker daemon" >&2\nexit 1\n');
      const broken = settle(`${bin}:/usr/bin:/bin`);
      expect(broken.status).toBe(1);
      expect(oneLine(broken)).toBe('settle: docker ps failed (exit 1): Cannot connect to the Docker daemon\n');
    } finally {
      for (const p of [mine, zipped, stubborn, other]) p.kill('SIGKILL');
    }
  }, 30_000);
  it('the per-step commands: restore empties, unpacks, owns and verifies; verify-all, delta-all, parity-all, sync-back-all cover every set; keep-volume records', () => {
    const root = fresh();
    const live = join(root, 'mlive');
    mkdirSync(join(live, 'a'), { recursive: true });
    writeFileSync(join(live, 'a', 'one.pdf'), 'one');
    symlinkSync('a/one.pdf', join(live, 'link'));
    execFileSync('sleep', ['0.2']);
    const b = join(root, 'mb');
    mkdirSync(b);
    expect(agent('tar-stream', live, join(b, 'pdfs.tar')).status).toBe(0);
    expect(agent('merge-manifest', b, 'pdfs').status).toBe(0);
    const vol = join(root, 'mvol');
    mkdirSync(vol);
    writeFileSync(join(vol, 'stale-from-an-earlier-attempt'), 'x');
    const me = `${process.getuid!()}:${process.getgid!()}`;
    const r = agent(
      'restore',
      join(b, 'pdfs.tar'),
      vol,
      me,
      join(b, 'manifest.json'),
      'pdfs',
      join(b, 'restored', 'pdfs.stat.json'),
    );
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(readdirSync(vol).sort()).toEqual(['a', 'link']);
    expect(readlinkSync(join(vol, 'link'))).toBe('a/one.pdf');
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ verified: 'pdfs', files: 2 });
    expect(agent('verify-all', join(b, 'manifest.json'), `pdfs=${vol}`).status).toBe(0);
    // a restore that does not verify fails, naming the file
    writeFileSync(join(vol, 'a', 'one.pdf'), 'ONE');
    const bad = agent('verify-all', join(b, 'manifest.json'), `pdfs=${vol}`);
    expect(bad.status).toBe(5);
    expect(bad.stderr.toString()).toMatch(/a\/one\.pdf/);
    writeFileSync(join(vol, 'a', 'one.pdf'), 'one');
    // delta-all then parity-all (in parallel processes): equal after the delta; a difference fails it
    execFileSync('sleep', ['0.2']);
    writeFileSync(join(live, 'a', 'two.pdf'), 'two');
    expect(agent('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`).status).toBe(7);
    const d = agent('delta-all', join(b, 'manifest.json'), me, `pdfs=${live}=${vol}`);
    expect(d.status, d.stderr.toString()).toBe(0);
    const p = agent('parity-all', join(b, 'manifest.json'), join(b, 'restored'), `pdfs=${live}=${vol}`);
    expect(p.status, p.stderr.toString()).toBe(0);
    // sync-back-all: the container's writes come back, the old live dir is kept beside it
    writeFileSync(join(vol, 'a', 'written-by-container.pdf'), 'new');
    const sb = agent('sync-back-all', 'RUN1', `${vol}=${live}`);
    expect(sb.status, sb.stderr.toString()).toBe(0);
    expect(readFileSync(join(live, 'a', 'written-by-container.pdf'), 'utf8')).toBe('new');
    expect(existsSync(join(root, 'mlive.pre-rollback-RUN1', 'a', 'two.pdf'))).toBe(true);
    // keep-volume
    expect(agent('keep-volume', join(root, 'kept'), 'chatbot_pdfs', 'RUN1').status).toBe(0);
    expect(readFileSync(join(root, 'kept', 'chatbot_pdfs'), 'utf8')).toBe('RUN1\n');
    expect(agent('delta-all', 'm', me, 'no-equals').stderr.toString()).toMatch(/delta-all: no-equals is not X=X=X/);
    // a data set the manifest does not have: one line naming what it has, before any process starts
    const none = agent(
      'parity-all',
      join(b, 'manifest.json'),
      join(b, 'restored'),
      `pdfs=${live}=${vol}`,
      `nope=${live}=${vol}`,
    );
    expect(none.status).toBe(2);
    expect(none.stdout.toString()).toBe('');
    expect(none.stderr.toString().trim()).toMatch(
      /^parity-all: .*manifest\.json has no data set nope \(it has pdfs\)$/,
    );
  });
});
