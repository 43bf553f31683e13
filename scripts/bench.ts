/**
 * npm run bench [-- --size 100M|1G|5G] [--reps 3] [--freeze-reps N (default: reps)]
 * Measures cutover's data path against the limits of this machine, on the lab, in one run: every
 * figure is a ratio against a baseline measured in the same run on the same data, alternating A/B
 * and taking medians. Prints a table, writes backups/bench-<date>.json, ends with name=value lines.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { remoteString } from '../src/engine/command.ts';
import { hostBackupDir, restoreVolumes } from '../src/migrate/ops.ts';

const ROOT = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const size = opt('size', '100M');
const reps = Number(opt('reps', '3'));
/** --link 1gbit: shape loopback (tc tbf) during the backup contenders, to model an operator's real link. */
const link = opt('link', '');
/** --skip backup,restore,freeze,dryrun,audit,pg: leave parts out (e.g. a 5G memory run of the backup alone). */
const skip = new Set(opt('skip', '').split(',').filter(Boolean));
const SSHCFG = resolve(ROOT, '.lab/ssh/config');
const DATA = '/home/ubuntu/chm-chatbot';
const OUT = resolve(ROOT, 'backups/bench-tmp');
const sh = (cmd: string) => execFileSync('bash', ['-c', cmd], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
const time = (fn: () => void) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (bytes: number, s: number) => bytes / 1e6 / s;
/** One argument for a remote shell: single-quoted. */
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function log(s: string) {
  process.stderr.write(`[bench] ${s}\n`);
}

log(`lab reset --size ${size}`);
sh(`bash scripts/lab.sh reset --size ${size} >/dev/null`);
const bytes = Number(
  sh(`du -sb ${DATA}/pdfs ${DATA}/chroma_db ${DATA}/transcripts | awk '{s+=$1} END {print s}'`).trim(),
);
const pdfFiles = Number(sh(`find ${DATA}/pdfs -type f | wc -l`).trim());
log(`data: ${(bytes / 1e6).toFixed(0)} MB, ${pdfFiles} PDF files`);
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// ---- backup: alternate the contenders each repetition, same data, medians.
/** Runs scripts/bench-stream.ts; records its in-process transfer time (start-up excluded) and RSS. */
function ours(mode: 'stream' | 'backup', src: string, out: string, transport: string): number {
  const r = spawnSync(
    resolve(ROOT, 'node_modules/.bin/tsx'),
    [resolve(ROOT, 'scripts/bench-stream.ts'), mode, src, out, transport],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  rss.push(j.maxRssMB);
  return j.seconds;
}
const rss: number[] = [];
const contenders: Record<string, () => number> = {
  raw_ssh_tar: () =>
    time(() => sh(`ssh -F ${SSHCFG} chm-lab 'sudo tar -C ${DATA} -cf - pdfs chroma_db transcripts' > ${OUT}/raw.tar`)),
  // the same pipe made durable (what ours does: both copies are fsync'd before they count)
  raw_ssh_tar_fsync: () =>
    time(() =>
      sh(
        `ssh -F ${SSHCFG} chm-lab 'sudo tar -C ${DATA} -cf - pdfs chroma_db transcripts' > ${OUT}/raw.tar && sync -d ${OUT}/raw.tar`,
      ),
    ),
  ours_stream_openssh: () => ours('stream', DATA, `${OUT}/ours.tar`, 'openssh'),
  ours_stream_ssh2: () => ours('stream', DATA, `${OUT}/ours2.tar`, 'ssh2'),
  ours_backup_step: () => {
    mkdirSync(`${OUT}/step`, { recursive: true });
    return ours('backup', '-', `${OUT}/step`, 'ssh2');
  },
  scp_r: () => {
    rmSync(`${OUT}/scp`, { recursive: true, force: true });
    return time(() => sh(`scp -q -F ${SSHCFG} -r chm-lab:${DATA}/pdfs ${OUT}/scp`));
  },
  rsync_a: () => {
    rmSync(`${OUT}/rsync`, { recursive: true, force: true });
    return time(() => sh(`rsync -a -e 'ssh -F ${SSHCFG}' chm-lab:${DATA}/pdfs/ ${OUT}/rsync/`));
  },
  ours_stream_pdfs: () => ours('stream', `${DATA}/pdfs`, `${OUT}/ours-pdfs.tar`, 'ssh2'),
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
const unshape = () => {
  try {
    execFileSync('tc', ['qdisc', 'del', 'dev', 'lo', 'root'], { stdio: 'ignore' });
  } catch {
    /* not shaped */
  }
};
if (link) {
  process.on('exit', unshape);
  process.on('SIGINT', () => process.exit(130));
  sh(`tc qdisc replace dev lo root tbf rate ${link} burst 1mb latency 100ms`);
  log(`loopback shaped to ${link} for the backup contenders`);
}
for (let i = 0; i < (skip.has('backup') ? 0 : reps); i++) {
  const order = Object.keys(contenders);
  if (i % 2) order.reverse();
  for (const k of order) {
    sh('sync'); // the previous contender's dirty pages are not this one's cost
    times[k].push(contenders[k]());
    log(`${k} #${i + 1}: ${times[k].at(-1)!.toFixed(2)} s`);
    sh(`rm -rf ${OUT}/* && sync`); // bounded disk use at 5G
  }
}
if (link) unshape();
const pdfBytes = Number(sh(`du -sb ${DATA}/pdfs | cut -f1`).trim());
const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));

// ---- dry-run time of the whole CHM plan, and a real migration for the write-freeze window.
const dry = skip.has('dryrun')
  ? NaN
  : median([0, 1, 2].map(() => time(() => sh('node_modules/.bin/tsx runbooks/migrate-chm.ts --dry-run >/dev/null'))));
const floor: { alone: number[]; seenByWriter: number[] } = { alone: [], seenByWriter: [] };
type WriterResult = { acknowledged: number; freezeSeconds: number };
/** scripts/bench-writer.ts at 10 writes/s into COLLECTION: resolves to its result, or undefined if it failed or hung. */
function startWriter(collection: string) {
  const writer = spawn(
    resolve(ROOT, 'node_modules/.bin/tsx'),
    [resolve(ROOT, 'scripts/bench-writer.ts'), 'chatbot.chmedia.com', '80', '100', collection],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let writerOut = '';
  writer.stdout.on('data', (d) => (writerOut += d));
  const closed = new Promise<number>((r) => writer.on('close', (c) => r(c ?? 1)));
  const writerDone = Promise.race([
    closed,
    new Promise<number>((r) =>
      setTimeout(() => {
        writer.kill();
        r(-1);
      }, 15 * 60_000).unref(),
    ),
  ]).then((code): WriterResult | undefined => (code === 0 ? JSON.parse(writerOut.trim()) : undefined));
  return { writerDone };
}
/** Poll until fn stops throwing (every 20 ms, at most 60 s). */
function waitFor(fn: () => unknown) {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      fn();
      return;
    } catch {
      if (Date.now() > end) throw new Error('timed out');
    }
    spawnSync('sleep', ['0.02']);
  }
}
/** One migration per repetition (the lab reset before each but the first): the freeze is their median. */
const freezeReps = Number(opt('freeze-reps', String(reps)));
const runs: { freeze: number; writer?: WriterResult; kept: number; runId?: string }[] = [];
/** The last freeze migration's run: its host backup is what the restore contenders read. */
let restoreFrom: string | undefined;
if (!skip.has('freeze')) {
  let runId: string | undefined;
  for (let i = 0; i < freezeReps; i++) {
    if (i > 0) sh(`bash scripts/lab.sh reset --size ${size} >/dev/null`);
    log(
      `real migration #${i + 1} for the write-freeze window, with a writer ingesting 10 documents a second throughout`,
    );
    const { writerDone } = startWriter('bench_writer');
    await new Promise((r) => setTimeout(r, 3000)); // the writer is active before the migration starts
    const migration = spawn(
      'bash',
      ['-c', 'CI=true node_modules/.bin/tsx runbooks/migrate-chm.ts --yes 2>&1 | tail -1'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let run = '';
    migration.stdout.on('data', (d) => (run += d));
    await new Promise((r) => migration.on('close', r));
    const writer = await writerDone;
    runId = /run (\S+) finished/.exec(run)?.[1];
    restoreFrom = runId;
    if (!runId) log(`the migration did not finish: ${run.trim()}`);
    const report = runId ? readFileSync(resolve(ROOT, 'backups', runId, 'report.md'), 'utf8') : '';
    const freeze = Number(/the gate open: \*\*([\d.]+) s\*\*/.exec(report)?.[1] ?? NaN); // not the snapshot's pause, also in bold
    // Every write the writer saw acknowledged, on either side, is in the containers' data.
    let kept = NaN;
    try {
      kept =
        JSON.parse(sh(`curl -fsS -H 'Host: chatbot.chmedia.com' http://127.0.0.1/api/stats`)).collections
          ?.bench_writer ?? 0;
    } catch {
      log('the containers do not serve /api/stats');
    }
    runs.push({ freeze, writer, kept, runId });
    log(
      `freeze #${i + 1}: ${freeze} s (journal); writer: ${JSON.stringify(writer)}; the containers hold ${kept} of its documents`,
    );
    if (!runId) break;
  }
  if (runId) {
    // The floor: what the public would lose to the app's own restart and nothing of ours. Bare metal's
    // backend started again (its port is free: the containers publish only nginx's), the container's
    // stopped; the same writer at 10/s on bare metal; then in one ssh round trip, as the host alone
    // would do it: stop the bare-metal backend, start the container's. Measured alone (until nginx
    // answers the health path) and as the writer sees it (last bare-metal ack -> first container ack).
    for (let i = 0; i < reps; i++) {
      sh(
        `ssh -F ${SSHCFG} chm-lab 'sudo supervisorctl start chatbot-backend >/dev/null' && docker stop chatbot-backend >/dev/null`,
      );
      waitFor(() => sh('curl -fsS -o /dev/null http://127.0.0.1:8000/health'));
      const fw = startWriter(`bench_floor_${i}`);
      await new Promise((r) => setTimeout(r, 2000));
      const t0 = process.hrtime.bigint();
      sh(
        `ssh -F ${SSHCFG} chm-lab 'sudo supervisorctl stop chatbot-backend >/dev/null && docker start chatbot-backend >/dev/null'`,
      );
      waitFor(() => sh(`curl -fsS -o /dev/null -H 'Host: chatbot.chmedia.com' http://127.0.0.1/api/health`));
      floor.alone.push(Number(process.hrtime.bigint() - t0) / 1e9);
      const fr = await fw.writerDone;
      if (fr) floor.seenByWriter.push(fr.freezeSeconds);
      log(
        `floor #${i + 1}: ${floor.alone.at(-1)!.toFixed(2)} s alone, ${fr?.freezeSeconds ?? 'n/a'} s as the writer saw it`,
      );
    }
  }
}

// ---- restore into volumes, from the archives already on the host (zero bytes over ssh for ours). Ours
// is the volumes.restore step's own command (src/migrate/ops.ts restoreVolumes: every data set at once,
// chowned, every file verified against the manifest), on the freeze migration's host backup (hard-linked
// to a scratch run dir); docker cp copies the same three dirs from bare metal. Alternating, medians.
const restore: Record<string, number[]> = { ours_volumes_restore: [], docker_cp: [] };
if (!skip.has('restore') && restoreFrom) {
  const scratch = 'bench-restore';
  const sets = [
    ['chroma', 'chroma_db'],
    ['pdfs', 'pdfs'],
    ['transcripts', 'transcripts'],
  ].map(([name]) => ({ name, volume: `cutover_bench_${name}`, live: '', owner: '10001:10001' }));
  const ours = remoteString(restoreVolumes('python:3.11-slim', scratch, sets));
  sh(
    `ssh -F ${SSHCFG} chm-lab 'sudo rm -rf ${hostBackupDir(scratch)} && sudo cp -al ${hostBackupDir(restoreFrom)} ${hostBackupDir(scratch)}'`,
  );
  const fresh = () =>
    sh(
      `for v in ${sets.map((d) => d.volume).join(' ')}; do docker volume rm -f $v >/dev/null 2>&1; docker volume create --label io.cutover.test=1 $v >/dev/null; done`,
    );
  for (let i = 0; i < reps; i++) {
    for (const k of i % 2 ? ['docker_cp', 'ours_volumes_restore'] : ['ours_volumes_restore', 'docker_cp']) {
      fresh();
      sh('sync');
      if (k === 'ours_volumes_restore')
        restore[k].push(time(() => sh(`ssh -F ${SSHCFG} chm-lab ${shq(ours)} >/dev/null`)));
      else {
        sh(
          `docker rm -f cutover-bench >/dev/null 2>&1; docker create --name cutover-bench --label io.cutover.test=1 ${sets.map((d) => `-v ${d.volume}:/dst/${d.name}`).join(' ')} python:3.11-slim true >/dev/null`,
        );
        restore[k].push(
          time(() =>
            sh(
              `docker cp ${DATA}/chroma_db/. cutover-bench:/dst/chroma/ && docker cp ${DATA}/pdfs/. cutover-bench:/dst/pdfs/ && docker cp ${DATA}/transcripts/. cutover-bench:/dst/transcripts/`,
            ),
          ),
        );
        sh('docker rm -f cutover-bench >/dev/null');
      }
      log(`restore ${k} #${i + 1}: ${restore[k].at(-1)!.toFixed(2)} s`);
    }
  }
  sh(
    `for v in ${sets.map((d) => d.volume).join(' ')}; do docker volume rm -f $v >/dev/null; done; ssh -F ${SSHCFG} chm-lab 'sudo rm -rf ${hostBackupDir(scratch)}'`,
  );
}

// ---- audit-images on an image with a 1 GB layer of incompressible data: peak RSS of the audit
// process (its own resourceUsage().maxRSS, reported in --json) and its wall time.
let audit: { seconds: number; maxRssMB: number } | undefined;
if (!skip.has('audit')) {
  const tag = 'cutover-bench/audit-1g:bench';
  log(`audit-images: building ${tag} (FROM python:3.11-slim, RUN head -c 1G /dev/urandom)`);
  const ctx = resolve(OUT, 'audit-ctx');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(
    resolve(ctx, 'Dockerfile'),
    'FROM python:3.11-slim\nRUN head -c 1G /dev/urandom > /blob.bin\nUSER 10001\n',
  );
  sh(
    `ssh -F ${SSHCFG} chm-lab 'mkdir -p /tmp/cutover-bench-audit' && scp -q -F ${SSHCFG} ${ctx}/Dockerfile chm-lab:/tmp/cutover-bench-audit/Dockerfile`,
  );
  sh(
    `ssh -F ${SSHCFG} chm-lab 'cd /tmp/cutover-bench-audit && DOCKER_BUILDKIT=0 docker build -q --pull=false -t ${tag} . >/dev/null'`,
  );
  try {
    const r = spawnSync(
      resolve(ROOT, 'node_modules/.bin/tsx'),
      [
        resolve(ROOT, 'runbooks/audit-images.ts'),
        '--image',
        tag,
        '--dockerfile',
        '/tmp/cutover-bench-audit/Dockerfile',
        '--size-budget',
        '2GB',
        '--json',
      ],
      { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    const j = JSON.parse(r.stdout);
    audit = j.stats;
    const blob = j.images[0].checks.find((c: { id: string }) => c.id === 'size').evidence[0].what;
    log(`audit of ${tag}: ${audit!.seconds.toFixed(1)} s, peak RSS ${audit!.maxRssMB} MB; biggest layer: ${blob}`);
  } finally {
    sh(`ssh -F ${SSHCFG} chm-lab 'docker image rm ${tag} >/dev/null; rm -rf /tmp/cutover-bench-audit'`);
  }
}
// ---- pg.ts backup (seed 001's PostgreSQL) against a raw `ssh … pg_dump -Fc > file` of the same
// database, alternating, medians. Ours is the backup.dump step's own time from the journal: pg_dump in
// a snapshot teed to the host copy and here, sha256 on both ends, row counts and sums in the snapshot.
const pg: { bytes: number; dbBytes: number; ours: number[]; raw: number[]; whole: number[] } = {
  bytes: NaN,
  dbBytes: NaN,
  ours: [],
  raw: [],
  whole: [],
};
if (!skip.has('pg')) {
  const C = 'dimini_postgres_local';
  const psql = (q: string, db = 'cutover_bench') =>
    sh(`docker exec -i ${C} psql -X -q -A -t -v ON_ERROR_STOP=1 -U dimini_user -d ${db} <<'SQL'\n${q}\nSQL`).trim();
  sh('bash scripts/lab/stacks/deploy.sh dimini >/dev/null');
  const rows = Number(opt('pg-rows', '2000000'));
  log(`pg: making database cutover_bench (${rows} rows of md5 text)`);
  psql(
    'DROP DATABASE IF EXISTS cutover_bench WITH (FORCE); CREATE DATABASE cutover_bench OWNER dimini_user;',
    'postgres',
  );
  psql(
    `CREATE TABLE t (id bigint PRIMARY KEY, a text, b text, n numeric); INSERT INTO t SELECT g, md5(g::text), md5((g * 7)::text) || md5(g::text), g / 3.0 FROM generate_series(1, ${rows}) g; CREATE TABLE small (id int, v text); INSERT INTO small SELECT g, repeat('x', g % 100) FROM generate_series(1, 10000) g;`,
  );
  pg.dbBytes = Number(psql("SELECT pg_database_size('cutover_bench');"));
  const cfg = `${OUT}/pg-bench.yaml`;
  writeFileSync(
    cfg,
    readFileSync(resolve(ROOT, 'runbooks/pg/dimini.yaml'), 'utf8')
      .replace('db: dimini_db', 'db: cutover_bench')
      .replace('verify: restore', 'verify: list'),
  );
  const runs: string[] = [];
  for (let i = 0; i < reps; i++) {
    pg.raw.push(
      time(() =>
        sh(`ssh -F ${SSHCFG} chm-lab 'docker exec ${C} pg_dump -Fc -U dimini_user -d cutover_bench' > ${OUT}/raw.dump`),
      ),
    );
    let out = '';
    pg.whole.push(
      time(() => {
        out = sh(`node_modules/.bin/tsx runbooks/pg.ts backup --config ${cfg} --json`);
      }),
    );
    const run = /"message":"run (\S+) \(journal/.exec(out)?.[1];
    if (!run) throw new Error(`pg.ts backup: no run id in ${out.slice(-500)}`);
    runs.push(run);
    const j = readFileSync(resolve(ROOT, 'backups', run, 'journal.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    pg.ours.push(j.find((e) => e.type === 'step-done' && e.step === 'backup.dump').ms / 1000);
    pg.bytes = JSON.parse(readFileSync(resolve(ROOT, 'backups', run, 'cutover_bench.manifest.json'), 'utf8')).bytes;
  }
  log(
    `pg: dump ${(pg.bytes / 1e6).toFixed(0)} MB of a ${(pg.dbBytes / 1e6).toFixed(0)} MB database; raw ${pg.raw.map((x) => x.toFixed(1)).join('/')} s, ours ${pg.ours.map((x) => x.toFixed(1)).join('/')} s`,
  );
  psql('DROP DATABASE IF EXISTS cutover_bench WITH (FORCE);', 'postgres');
  for (const run of runs) {
    rmSync(resolve(ROOT, 'backups', run), { recursive: true, force: true });
    sh(`sudo rm -rf /var/lib/cutover/backups/${run}`);
  }
}

sh(`bash scripts/lab.sh reset --size 10M >/dev/null`);
rmSync(OUT, { recursive: true, force: true });

const rows = [
  ['backup: raw ssh tar pipe (limit)', mb(bytes, med.raw_ssh_tar)],
  ['backup: raw ssh tar pipe + fsync of the file', mb(bytes, med.raw_ssh_tar_fsync)],
  ['backup: ours, stream via OpenSSH (+ sha256)', mb(bytes, med.ours_stream_openssh)],
  ['backup: ours, stream via ssh2 (+ sha256)', mb(bytes, med.ours_stream_ssh2)],
  [
    'backup: ours, the CHM backup steps (snapshot + tar to host copy and here + sha256 both ends + manifest)',
    mb(bytes, med.ours_backup_step),
  ],
  ['pdfs: scp -r', mb(pdfBytes, med.scp_r)],
  ['pdfs: rsync -a', mb(pdfBytes, med.rsync_a)],
  ['pdfs: ours', mb(pdfBytes, med.ours_stream_pdfs)],
  [
    'restore: ours, the volumes.restore step (all sets at once, chown, every file verified)',
    mb(bytes, median(restore.ours_volumes_restore)),
  ],
  ['restore: docker cp', mb(bytes, median(restore.docker_cp))],
  ['pg: raw ssh … pg_dump -Fc > file (limit; MB of dump per s)', mb(pg.bytes, median(pg.raw))],
  [
    'pg: ours, pg.ts backup.dump (snapshot, host copy + here, sha256 both ends, row counts in the snapshot)',
    mb(pg.bytes, median(pg.ours)),
  ],
];
const freeze = runs.length ? median(runs.map((r) => r.freeze)) : NaN;
const writerFreeze =
  runs.length && runs.every((r) => r.writer) ? median(runs.map((r) => r.writer!.freezeSeconds)) : NaN;
const targets = {
  backup_vs_raw_ssh_ratio: med.raw_ssh_tar / med.ours_backup_step,
  backup_vs_raw_ssh_fsync_ratio: med.raw_ssh_tar_fsync / med.ours_backup_step,
  stream_ssh2_vs_raw_ssh_ratio: med.raw_ssh_tar / med.ours_stream_ssh2,
  stream_openssh_vs_raw_ssh_ratio: med.raw_ssh_tar / med.ours_stream_openssh,
  backup_vs_scp_small_files_ratio: med.scp_r / med.ours_stream_pdfs,
  backup_vs_rsync_small_files_ratio: med.rsync_a / med.ours_stream_pdfs,
  restore_vs_docker_cp_ratio: median(restore.docker_cp) / median(restore.ours_volumes_restore),
  restore_bytes_resent_over_ssh: 0,
  write_freeze_seconds: freeze,
  write_freeze_seen_by_writer_seconds: writerFreeze,
  floor_app_restart_seconds: floor.alone.length ? median(floor.alone) : NaN,
  floor_seen_by_writer_seconds: floor.seenByWriter.length ? median(floor.seenByWriter) : NaN,
  // Issue 18's target (<= 1.3): the writer-observed freeze of the migration over the writer-observed floor.
  // Medians of freezeReps migrations, each its own writer.
  freeze_vs_app_restart_ratio: writerFreeze / (floor.seenByWriter.length ? median(floor.seenByWriter) : NaN),
  writer_writes_acknowledged:
    runs.length && runs.every((r) => r.writer) ? runs.reduce((n, r) => n + r.writer!.acknowledged, 0) : NaN,
  writer_writes_lost:
    runs.length && runs.every((r) => r.writer) ? runs.reduce((n, r) => n + r.writer!.acknowledged - r.kept, 0) : NaN,
  peak_rss_mb: Math.max(...rss),
  dry_run_seconds: dry,
  pg_backup_vs_raw_pg_dump_ratio: median(pg.raw) / median(pg.ours),
  pg_backup_mb_per_s: mb(pg.bytes, median(pg.ours)),
  pg_backup_whole_run_seconds: median(pg.whole),
  audit_1g_peak_rss_mb: audit?.maxRssMB ?? NaN,
  audit_1g_seconds: audit?.seconds ?? NaN,
};
console.log(
  `\ncutover bench — ${size} (${(bytes / 1e6).toFixed(0)} MB, ${pdfFiles} PDFs), ${reps} reps alternating, medians; link: ${link || 'loopback, unshaped'}\n`,
);
console.log('| path | MB/s |\n|---|---|');
for (const [k, v] of rows) console.log(`| ${k} | ${(v as number).toFixed(1)} |`);
console.log('');
const file = resolve(ROOT, `backups/bench-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      size,
      bytes,
      pdfFiles,
      reps,
      times,
      restore,
      rows,
      targets,
      freezeRuns: runs,
      floor,
      link: link || 'loopback (unshaped)',
    },
    null,
    2,
  ),
);
console.log(`saved ${file}`);
// With --link, the backup ratio is also printed under the link's name (issue 18: backup_vs_raw_ssh_ratio_1gbit).
const named: Record<string, number> = {
  ...targets,
  ...(link ? { [`backup_vs_raw_ssh_ratio_${link}`]: targets.backup_vs_raw_ssh_ratio } : {}),
};
for (const [k, v] of Object.entries(named)) console.log(`${k}=${Number.isFinite(v) ? Number(v).toFixed(2) : 'n/a'}`);
// What bounds each figure here (a comment line: not a name=value).
console.log(
  `# bounds: ${link ? `backup: the ${link} link (tc tbf on loopback) for both contenders` : "backup on loopback: CPU (2 cores) — the raw pipe spends it on ssh's cipher alone, ours also on sha256 at both ends and the host-side copy"}; ` +
    'restore: the host disk and CPU (ours also chowns and re-reads every file to verify it); freeze: the floor is docker start + the app answering, ours adds the delta, the gate reload and one ssh round trip per step',
);
