/**
 * Issue 8, "nothing lost": migrate-chm on data and load the lab app never makes by itself, each
 * defect reproduced on the lab and checked by the test's own reading of the host and the volumes.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { Journal, replay } from '../../src/engine/journal.ts';
import { NO_ENDPOINTS, chmSpec } from '../support/chm-spec.ts';
import { hostFingerprint } from '../support/fingerprint.ts';
import { LAB, ROOT, labSsh, viaHost } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import {
  expectHostStateRootOnly,
  expectLinksBack,
  expectLinksReplaced,
  plantLinks,
  removeLinks,
} from '../support/planted.ts';
import { runIdOf, runbook, runbookAsync, stepBegan, whenJournal } from '../support/run.ts';
import { entry, hostListing, volumeListing } from '../support/tree.ts';

const CHATBOT = '/home/ubuntu/chm-chatbot';
const tmp = mkdtempSync(join(tmpdir(), 'lost-'));
const GiB = 1 << 30;

const config = chmSpec;

/** Run python3 on the lab host as root (the script on stdin: names as bytes need no shell quoting). */
function hostPy(script: string, ...args: string[]): string {
  return execFileSync('ssh', ['-F', resolve(LAB, 'ssh/config'), 'chm-lab', 'sudo', 'python3', '-', ...args], {
    input: script,
    encoding: 'utf8',
  });
}
const volumes = () =>
  execFileSync('docker', ['volume', 'ls', '-q'])
    .toString()
    .split('\n')
    .filter((v) => v.startsWith('chatbot_'))
    .sort();
const oneLine = (s: string) => s.trim().split('\n').filter(Boolean);
const journalOf = (runId: string) => replay(Journal.read(resolve(ROOT, 'backups', runId, 'journal.jsonl')));
/** embedding ids in the bare-metal chroma.sqlite3 (in the containers: support/writer.ts). */
const idsOnHost = (): Set<string> =>
  new Set(
    hostPy(
      `import sqlite3; print("\\n".join(r[0] for r in sqlite3.connect("file:${CHATBOT}/chroma_db/chroma.sqlite3?mode=ro", uri=True).execute("select embedding_id from embeddings")))`,
    )
      .split('\n')
      .filter(Boolean),
  );

/** Fill the disk at $1 up to $2 bytes free (retried: the run is writing there at the same time). */
const FILL =
  'for i in 1 2 3 4 5 6 7 8; do rm -f "$1/filler"; fallocate -l $(( $(df -B1 --output=avail "$1" | tail -1) - $2 )) "$1/filler" && exit 0; done; exit 1';

function reset() {
  const r = labReset();
  expect(r.code, r.out).toBe(0);
}

// Names are bytes: not UTF-8 (\xff\xfe, Latin-1), with a newline, a backslash.
const ODD_NAMES = [
  Buffer.from([0xff, 0xfe, 0x2e, 0x70, 0x64, 0x66]),
  Buffer.from('r\xe9sum\xe9.pdf', 'latin1'),
  Buffer.from('line\nbreak.pdf'),
  Buffer.from('back\\slash.pdf'),
];
const LATE = Buffer.from('late-\xe9t\xe9.pdf', 'latin1');
const UPLOAD = Buffer.from('upload-\xe0-container.pdf', 'latin1');

/** Real-world data the lab never generates, planted on bare metal. */
function plantRealWorldData() {
  hostPy(
    String.raw`
import os, sys
d = b"${CHATBOT}/pdfs/"
for i, n in enumerate([bytes.fromhex(h) for h in sys.argv[1:]]):
    open(d + n, "wb").write(b"%PDF-1.4 odd name " + str(i).encode())
# a file only root can read (the app cannot: its own stats endpoint fails on it)
open(d + b"root-only.pdf", "wb").write(b"%PDF-1.4 root only")
os.chmod(d + b"root-only.pdf", 0o600)
# symlinks out of the tree: compared as links, never followed
os.symlink("/etc/hostname", d + b"outside-link.pdf")
os.symlink("/nonexistent/missing.pdf", d + b"dangling.pdf")
os.symlink("/etc/passwd", b"${CHATBOT}/transcripts/passwd-link.txt")
# a 1 GiB sparse file with 8 KiB of data in the middle
with open(d + b"sparse.bin", "wb") as f:
    f.truncate(${GiB})
    f.seek(512 << 20)
    f.write(os.urandom(8192))
# a hard-link pair
open(d + b"hard-a.pdf", "wb").write(b"%PDF-1.4 hard linked")
os.link(d + b"hard-a.pdf", d + b"hard-b.pdf")
for n in os.listdir(d):
    if n != b"root-only.pdf":
        os.lchown(d + n, 1000, 1000)
`,
    ...ODD_NAMES.map((n) => n.toString('hex')),
  );
}

describe('nothing lost: real-world data, full disks, cut connections (a busy app: real-hosts.test.ts)', () => {
  let original: Record<string, string>;
  beforeAll(() => {
    reset();
    original = hostFingerprint();
  });
  // Every test starts from the pre-migration host: reset only when an earlier one left it otherwise.
  beforeEach(() => {
    if (JSON.stringify(hostFingerprint()) !== JSON.stringify(original)) reset();
  });

  it('migrates bytes names, a root-only file, out-of-tree symlinks, a sparse file and hard links with no app endpoint configured, with a link the app planted at every path root writes; a rollback after the containers took writes loses nothing, stops at a failing sync-back and resumes, and keeps the volumes', async () => {
    plantRealWorldData();
    // The host is a trust boundary (host-trust.test.ts): root replaces each planted link, never writes through it.
    onTestFinished(removeLinks);
    const victims = plantLinks();
    const cfg = config(NO_ENDPOINTS, 'real-world.yaml');
    const before = hostListing(`${CHATBOT}/pdfs`);

    // Stage 1 (backup, volumes, deploy, verify), a write to bare metal with a non-UTF-8 name, then the cutover.
    const first = runbook('migrate-chm', ['--yes', '--config', cfg, '--to', 'verify.parity']);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const runId = runIdOf(first);
    hostPy(
      `open(bytes.fromhex("${Buffer.from(`${CHATBOT}/pdfs/`).toString('hex')}${LATE.toString('hex')}"), "wb").write(b"%PDF-1.4 after the backup")`,
    );
    const second = runbook('migrate-chm', ['--yes', '--config', cfg, '--resume', runId]);
    expect(second.code, second.stderr + second.stdout).toBe(0);
    expectLinksReplaced(victims);
    expectHostStateRootOnly(runId);

    // The volume holds what bare metal holds, by our own reading: names as bytes, content, links as links.
    const live = hostListing(`${CHATBOT}/pdfs`);
    const vol = volumeListing('chatbot_pdfs');
    expect(Object.keys(vol.entries).sort()).toEqual(Object.keys(live.entries).sort());
    for (const [k, e] of Object.entries(live.entries)) {
      const v = vol.entries[k];
      if (e.link) expect(v.link, Buffer.from(k, 'hex').toString('latin1')).toBe(e.link);
      else if (!e.dir) expect(v.sha256, Buffer.from(k, 'hex').toString('latin1')).toBe(e.sha256);
    }
    for (const n of [...ODD_NAMES, LATE]) expect(entry(vol, n)?.sha256, n.toString('latin1')).toBeTruthy();
    expect(entry(vol, 'root-only.pdf')?.sha256).toBe(entry(before, 'root-only.pdf')?.sha256);
    expect(entry(vol, 'outside-link.pdf')?.link).toBe('/etc/hostname');
    expect(entry(vol, 'dangling.pdf')?.link).toBe('/nonexistent/missing.pdf');
    expect(entry(volumeListing('chatbot_transcripts'), 'passwd-link.txt')?.link).toBe('/etc/passwd');
    // sparse stays sparse: in the volume, the host-side archive and the local archive
    expect(entry(vol, 'sparse.bin')).toMatchObject({ size: GiB, sha256: entry(before, 'sparse.bin')!.sha256 });
    expect(entry(vol, 'sparse.bin')!.allocated!).toBeLessThan(1 << 20);
    expect(statSync(resolve(ROOT, 'backups', runId, 'pdfs.tar')).size).toBeLessThan(64 << 20);
    expect(Number(labSsh(`sudo stat -c %s /var/lib/cutover/backups/${runId}/pdfs.tar`))).toBeLessThan(64 << 20);
    // hard links stay hard links
    expect(entry(vol, 'hard-a.pdf')!.nlink).toBe(2);
    expect(vol.hardlinks).toContainEqual([
      Buffer.from('hard-a.pdf').toString('hex'),
      Buffer.from('hard-b.pdf').toString('hex'),
    ]);

    // The containers take writes: a document through nginx, an upload with a non-UTF-8 name, a transcript.
    const doc = await viaHost('chatbot.chmedia.com', '/api/ingest', {
      method: 'POST',
      body: JSON.stringify({ collection: 'faq', id: 'taken-by-containers', document: 'written after the cutover' }),
    });
    expect(doc.status, doc.body).toBe(200);
    execFileSync('docker', [
      'exec',
      'chatbot-backend',
      'python3',
      '-c',
      `open(b"/data/pdfs/" + bytes.fromhex("${UPLOAD.toString('hex')}"), "wb").write(b"%PDF-1.4 uploaded to the containers")`,
    ]);
    execFileSync('docker', [
      'exec',
      'chatbot-backend',
      'sh',
      '-c',
      'printf "container transcript" > /data/transcripts/after-cutover.txt',
    ]);
    const acknowledged = { pdfs: volumeListing('chatbot_pdfs'), transcripts: volumeListing('chatbot_transcripts') };

    // A sync-back that fails part-way (chroma copied back, pdfs not): a busy mount where it stages the copy.
    labSsh(
      `sudo mkdir -p ${CHATBOT}/pdfs.cutover-part && sudo mount -t tmpfs -o ro,size=1m tmpfs ${CHATBOT}/pdfs.cutover-part`,
    );
    try {
      const stopped = runbook('migrate-chm', ['--config', cfg, '--rollback', runId]);
      expect(stopped.code, stopped.stdout).toBe(1);
      expect(oneLine(stopped.stderr), stopped.stderr).toHaveLength(1);
      expect(stopped.stderr).toMatch(/ROLLBACK STOPPED at cutover\.open: .*pdfs\.cutover-part.*--rollback/);
      // nothing older ran: the volumes are all there, the bare-metal backend was not started on half the data
      expect(volumes()).toEqual(['chatbot_chroma', 'chatbot_pdfs', 'chatbot_transcripts']);
      expect(
        journalOf(runId)
          .steps.find((s) => s.id === 'volumes.create')!
          .actions.every((a) => !a.undone),
      ).toBe(true);
      await expect(fetch('http://127.0.0.1:8000/')).rejects.toThrow();
    } finally {
      labSsh(`sudo umount ${CHATBOT}/pdfs.cutover-part; sudo rmdir ${CHATBOT}/pdfs.cutover-part`);
    }

    // Fixed: the same rollback command resumes and completes; everything acknowledged is on bare metal.
    const rb = runbook('migrate-chm', ['--config', cfg, '--rollback', runId]);
    expect(rb.code, rb.stderr + rb.stdout).toBe(0);
    expectLinksBack(victims);
    expect(rb.stdout).toMatch(
      /kept on purpose: volumes chatbot_chroma, chatbot_pdfs, chatbot_transcripts .*docker volume rm chatbot_chroma chatbot_pdfs chatbot_transcripts/,
    );
    const back = { pdfs: hostListing(`${CHATBOT}/pdfs`), transcripts: hostListing(`${CHATBOT}/transcripts`) };
    for (const n of ['pdfs', 'transcripts'] as const) {
      for (const [k, e] of Object.entries(acknowledged[n].entries)) {
        const b = back[n].entries[k];
        expect(b, `${n}/${Buffer.from(k, 'hex').toString('latin1')} missing on bare metal`).toBeDefined();
        if (e.link) expect(b.link).toBe(e.link);
        else if (!e.dir) expect(b.sha256).toBe(e.sha256);
      }
    }
    expect(entry(back.pdfs, UPLOAD)?.sha256).toBeTruthy();
    expect(entry(back.pdfs, 'sparse.bin')!.allocated!).toBeLessThan(1 << 20);
    expect(back.pdfs.hardlinks).toContainEqual([
      Buffer.from('hard-a.pdf').toString('hex'),
      Buffer.from('hard-b.pdf').toString('hex'),
    ]);
    expect(idsOnHost().has('taken-by-containers')).toBe(true);
    expect((await fetch('http://127.0.0.1:8000/health')).status).toBe(200);
    // The volumes are kept (they held the only copy until now), recorded on the host, and a new run says so.
    expect(volumes()).toEqual(['chatbot_chroma', 'chatbot_pdfs', 'chatbot_transcripts']);
    expect(labSsh('sudo cat /var/lib/cutover/kept-volumes/chatbot_pdfs').trim()).toBe(runId);
    expect(readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8')).toMatch(
      /## Rollback [\s\S]*kept on purpose: volumes chatbot_chroma, chatbot_pdfs, chatbot_transcripts/,
    );
    const again = runbook('migrate-chm', ['--config', cfg, '--dry-run']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /volume chatbot_chroma was kept by the rollback of run \S+ .*docker volume rm chatbot_chroma/,
    );
  });

  it('an app endpoint that does not answer is refused at preflight (so in the dry run), naming the setting', () => {
    const r = runbook('migrate-chm', [
      '--dry-run',
      '--config',
      config({ checks: [{ host: 'chatbot.chmedia.com', path: '/api/no-such-stats' }] }, 'bad-stats.yaml'),
    ]);
    expect(r.code, r.stdout).toBe(2);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(
      /`checks\.0\.path`: \/api\/no-such-stats: backend answers HTTP 404 at http:\/\/127\.0\.0\.1:8000\/no-such-stats on bare metal: .*remove the check/,
    );
  });

  it('a parity failure names the file and what differs', () => {
    const first = runbook('migrate-chm', ['--yes', '--to', 'volumes.restore']);
    expect(first.code, first.stderr).toBe(0);
    const runId = runIdOf(first);
    const manifest = JSON.parse(readFileSync(resolve(ROOT, 'backups', runId, 'manifest.json'), 'utf8'));
    const victim = Object.keys(manifest.archives.pdfs.files).find((f) => /^[\w .-]+\.pdf$/.test(f))!;
    execFileSync('docker', [
      'run',
      '--rm',
      '--pull',
      'never',
      '-v',
      'chatbot_pdfs:/v',
      'python:3.11-slim',
      'sh',
      '-c',
      'printf x >> "/v/$1"',
      'sh',
      victim,
    ]);
    const r = runbook('migrate-chm', ['--yes', '--resume', runId]);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain(victim);
    expect(r.stderr).toMatch(/step verify\.parity failed: .*rolled back/);
    // short: what failed, the state, where the details are; never the docker command or a traceback
    expect(r.stderr).not.toMatch(/docker run|Traceback|agent\.pyz?/);
    const log = resolve(ROOT, 'backups', runId, 'run.log');
    expect(r.stderr).toContain(`details: ${log}`);
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(
      /✗ verify\.parity failed: [\s\S]*\| remote \(sudo\): docker run --rm .* python3 \/agent\.pyz verify-all/,
    );
    expect(text).toContain(victim);
    expect(text).toMatch(
      /↩ undone \(volumes\.create\): remove volume chatbot_pdfs, only if this run created it\n.*\$ docker api: volumeRemoveOwned/,
    );
    const report = readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8');
    expect(report).toContain('result: FAILED at verify.parity; rolled back');
    expect(report).toMatch(/## What failed\nStep `verify\.parity`: .*/);
    expect(report).not.toMatch(/verify\.parity: the volumes|checked in verify\.parity/);
  });

  it('a full disk, here and on the host, mid-stream: one line, a clean rollback, the lock released; the same command works once space is freed', async () => {
    const mnt = join(tmp, 'small-disk');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mnt]);
    try {
      // here: fill the local disk once the preflight has passed (it checked the space)
      const args = [
        '--yes',
        '--to',
        'backup.stream',
        '--backups-dir',
        mnt,
        '--config',
        config({ diskMargin: 0 }, 'nomargin.yaml'),
      ];
      const run = runbookAsync('migrate-chm', args);
      await whenJournal(run.result, (entries) => entries.length > 0); // the journal starts after the preflight
      execFileSync('sh', ['-c', FILL, 'sh', mnt, String(2 << 20)]);
      const r = await run.done;
      expect(r.code, r.stdout).toBe(1);
      expect(oneLine(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(
        /local disk full writing .*\.tar\.part after .*: free at least .* then run again; rolled back/,
      );
      expect(hostFingerprint().lock).toBe('none\n');
      expect(spawnSync('sh', ['-c', `ls ${mnt}/*/*.part`]).status).not.toBe(0); // no partial archive left
      execFileSync('rm', [join(mnt, 'filler')]);
      const retry = runbook('migrate-chm', args);
      expect(retry.code, retry.stderr).toBe(0);
      expect(runbook('migrate-chm', ['--rollback', runIdOf(retry), '--backups-dir', mnt]).code).toBe(0);
    } finally {
      execFileSync('umount', [mnt]);
    }

    // on the host: the host-side backups live on a small disk that fills up after the preflight
    labSsh('sudo mkdir -p /var/lib/cutover/backups && sudo mount -t tmpfs -o size=48m tmpfs /var/lib/cutover/backups');
    try {
      const args = ['--yes', '--to', 'backup.stream'];
      const run = runbookAsync('migrate-chm', args);
      await whenJournal(run.result, (entries) => entries.length > 0);
      execFileSync(
        'ssh',
        ['-F', resolve(LAB, 'ssh/config'), 'chm-lab', 'sudo', 'sh', '-s', '/var/lib/cutover/backups', String(1 << 20)],
        { input: FILL },
      );
      const r = await run.done;
      expect(r.code, r.stdout).toBe(1);
      expect(oneLine(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(
        /host disk full writing \/var\/lib\/cutover\/backups\/.*free space on the host.*; rolled back/,
      );
      expect(hostFingerprint().lock).toBe('none\n');
      expect(labSsh('sudo find /var/lib/cutover/backups -name "*.part" | wc -l').trim()).toBe('0');
      labSsh('sudo rm /var/lib/cutover/backups/filler');
      const retry = runbook('migrate-chm', args);
      expect(retry.code, retry.stderr).toBe(0);
      expect(runbook('migrate-chm', ['--rollback', runIdOf(retry)]).code).toBe(0);
    } finally {
      labSsh('sudo umount /var/lib/cutover/backups');
    }
  });

  it('a connection cut during volumes.restore: reconnect, settle the restore container the lost session left, roll back cleanly (no false undo record)', async () => {
    const run = runbookAsync('migrate-chm', ['--yes']);
    await whenJournal(run.result, stepBegan('volumes.restore'));
    execFileSync('pkill', ['-9', '-f', '^sshd: ubuntu']);
    const r = await run.done;
    expect(r.code, r.stdout).toBe(1);
    expect(oneLine(r.stderr), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/step volumes\.restore failed: lost the connection .*; rolled back \d+ actions/);
    expect(r.stdout).toMatch(/reconnected/);
    const runId = runIdOf(r);
    expect(
      execFileSync('docker', ['ps', '-aq', '--filter', `label=io.cutover.run=${runId}`])
        .toString()
        .trim(),
    ).toBe('');
    expect(volumes()).toEqual([]);
    expect(hostFingerprint()).toEqual(original);
  });

  it('a connection cut during an undo: the rollback reconnects and finishes; an unreachable host stops it resumable, and the printed command finishes it', async () => {
    const cfg = config({ ssh: { reconnectSeconds: 3 } }, 'short-reconnect.yaml');
    // during an undo, with the host reachable again at once
    const run = runbookAsync('migrate-chm', ['--yes', '--config', cfg, '--fail-at', 'deploy.up']);
    await whenJournal(run.result, (entries) => entries.some((e) => e.type === 'run-failed'));
    execFileSync('pkill', ['-9', '-f', '^sshd: ubuntu']);
    const r = await run.done;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(/failure injected .*; rolled back \d+ actions/);
    expect(hostFingerprint()).toEqual(original);

    // the host goes away (sshd stopped) during the rollback and stays away longer than reconnectSeconds
    const sshdPid = readFileSync(resolve(LAB, 'ssh/sshd.pid'), 'utf8').trim();
    const run2 = runbookAsync('migrate-chm', ['--yes', '--config', cfg, '--fail-at', 'deploy.up']);
    await whenJournal(run2.result, (entries) => entries.some((e) => e.type === 'run-failed'));
    try {
      execFileSync('kill', [sshdPid]);
      execFileSync('pkill', ['-9', '-f', '^sshd: ubuntu']);
      const r2 = await run2.done;
      expect(r2.code).toBe(1);
      expect(oneLine(r2.stderr), r2.stderr).toHaveLength(1);
      expect(r2.stderr).toMatch(
        /the host cannot be reached again.*run (npx tsx runbooks\/migrate-chm\.ts --rollback \S+ --config \S+)/,
      );
      const runId = runIdOf(r2);
      const st = journalOf(runId);
      // nothing is recorded as undone that was not seen undone
      expect(st.rolledBack).toBe(false);
      expect(st.steps.find((s) => s.id === 'volumes.create')!.actions.every((a) => !a.undone)).toBe(true);
    } finally {
      execFileSync('/usr/sbin/sshd', ['-f', resolve(LAB, 'ssh/sshd_config')]);
    }
    const next = /run npx tsx runbooks\/migrate-chm\.ts (--rollback \S+ --config \S+)/
      .exec(run2.result.stderr)![1]
      .split(' ');
    const rb = runbook('migrate-chm', next);
    expect(rb.code, rb.stderr).toBe(0);
    expect(hostFingerprint()).toEqual(original);
    expect(existsSync(resolve(ROOT, 'backups', runIdOf(run2.result), 'journal.jsonl'))).toBe(true);
  });
});
