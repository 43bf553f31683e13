import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { ROOT, SSH_DIR } from './lab.ts';

/**
 * The systemd lab host's app (scripts/lab/systemd-host/, runbooks/specs/sdlab.yaml) for the tests that
 * migrate it: the host's lifecycle, ssh to it, the lab secrets, a writer that keeps writing during a
 * migration and records every acknowledged write, and readers that read the data back independently
 * of the tool (sqlite3/psql/sha256 on the host or in a throwaway container on the shared engine).
 */
const HOST_SH = resolve(ROOT, 'scripts/lab/systemd-host/host.sh');
/** The helper image the readers run in (has python3); nothing is pulled. */
const READER_IMAGE = 'python:3.11-slim';

/** The lab secrets the spec's services read from the operator's environment (lab only): also the host role sdlab's password. */
export const SDLAB_PG_PASSWORD = 'sdlab-lab-pg-pass';
export const sdlabSecretsEnv: Record<string, string> = {
  PGPASSWORD: SDLAB_PG_PASSWORD,
  POSTGRES_PASSWORD: SDLAB_PG_PASSWORD,
};
/** Where the app answers: on bare metal, and through the migrated nginx (with this Host header). */
export const SDLAB_BARE = 'http://127.0.0.1:8100';
export const SDLAB_NGINX = 'http://127.0.0.1:8180';
export const SDLAB_HOST_HEADER = 'sdlab.lab.internal';

function hostSh(cmd: 'up' | 'reboot' | 'down'): string {
  const r = spawnSync('bash', [HOST_SH, cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`host.sh ${cmd} failed (exit ${r.status ?? r.signal}):\n${out}`);
  return out;
}
export const sdlabUp = () => hostSh('up');
export const sdlabReboot = () => hostSh('reboot');
export const sdlabDown = () => hostSh('down');

/** A command on the systemd host (as ubuntu, sudo without a password); throws with its output on a non-zero exit. */
export function sdlabSsh(cmd: string, opts: { input?: string; okCodes?: number[] } = {}): string {
  const r = spawnSync('ssh', ['-F', resolve(SSH_DIR, 'config-sdlab'), 'sdlab', cmd], {
    encoding: 'utf8',
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (!(opts.okCodes ?? [0]).includes(r.status ?? -1))
    throw new Error(`ssh sdlab ${cmd}: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function docker(args: string[], input?: string): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', input, maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.status ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Where data is read: a dir on the host (read as root over ssh) or a docker volume (mounted in a throwaway container). */
export type Where = { host: string } | { volume: string; subdir?: string };

/** Runs a python3 script (argv[1] = the dir) where the data is; its stdout is JSON. */
function runPy(where: Where, script: string): any {
  const out =
    'host' in where
      ? sdlabSsh(`sudo python3 - ${JSON.stringify(where.host)}`, { input: script })
      : docker(
          [
            'run',
            '--rm',
            '-i',
            '--pull',
            'never',
            '--network',
            'none',
            '-v',
            `${where.volume}:/v`,
            '--entrypoint',
            'python3',
            READER_IMAGE,
            '-',
            `/v/${where.subdir ?? ''}`,
          ],
          script,
        );
  return JSON.parse(out);
}

// Opened read-only as the file's owner (a -shm a root reader created would lock the app out of its db).
const SQLITE_PY = String.raw`
import json, os, sqlite3, sys
path = os.path.join(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "app.db")
st = os.stat(path)
os.setgid(st.st_gid); os.setuid(st.st_uid)
c = sqlite3.connect("file:" + path + "?mode=ro", uri=True, timeout=30)
c.execute("PRAGMA busy_timeout=30000")
tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
notes = [[i, b] for i, b in c.execute("SELECT id, body FROM notes ORDER BY id")] if "notes" in tables else []
ticks = c.execute("SELECT count(*), coalesce(max(id), 0) FROM ticks").fetchone() if "ticks" in tables else (0, 0)
ok = c.execute("PRAGMA quick_check").fetchone()[0]
print(json.dumps({"notes": notes, "ticks": ticks[0], "maxTick": ticks[1], "integrity": ok}))
`;

export interface SqliteRows {
  /** note id -> body */
  notes: Map<number, string>;
  ticks: number;
  maxTick: number;
  /** PRAGMA quick_check: "ok" */
  integrity: string;
}

/** The app's SQLite database (app.db under the dir), read independently of the tool: notes, ticks, quick_check. */
export function readSqliteRows(where: Where = { host: '/srv/sdlab/data' }): SqliteRows {
  const r = runPy(where, SQLITE_PY);
  return {
    notes: new Map(r.notes.map(([i, b]: [number, string]) => [i, b])),
    ticks: r.ticks,
    maxTick: r.maxTick,
    integrity: r.integrity,
  };
}

export interface PgOrders {
  count: number;
  /** sum(amount), two decimals ("0.00" when empty) */
  sum: string;
  noteIds: Set<number>;
}

/** The orders table of db sdlab: on the host (psql as postgres over its socket) or in a container (psql -U sdlab over its local socket). */
export function readPgOrders(where: 'host' | { container: string }): PgOrders {
  const sql =
    "SELECT count(*) || '|' || coalesce(sum(amount), 0)::numeric(20,2) || '|' || coalesce(string_agg(note_id::text, ',' ORDER BY note_id), '') FROM orders";
  const out =
    where === 'host'
      ? sdlabSsh(`sudo -u postgres psql -X -At -v ON_ERROR_STOP=1 -d sdlab -c ${JSON.stringify(sql)}`)
      : docker([
          'exec',
          where.container,
          'psql',
          '-X',
          '-At',
          '-v',
          'ON_ERROR_STOP=1',
          '-U',
          'sdlab',
          '-d',
          'sdlab',
          '-c',
          sql,
        ]);
  const [count, sum, ids] = out.trim().split('|');
  return { count: Number(count), sum, noteIds: new Set(ids ? ids.split(',').map(Number) : []) };
}

const UPLOADS_PY = String.raw`
import hashlib, json, os, sys, urllib.parse
d = os.fsencode(sys.argv[1]); out = {}
for n in sorted(os.listdir(d)):
    if n.startswith(b".sdlab-tmp-"):
        continue
    p = os.path.join(d, n)
    if os.path.islink(p):
        v = "link:" + urllib.parse.quote(os.readlink(p))
    elif os.path.isfile(p):
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        v = h.hexdigest()
    else:
        v = "dir" if os.path.isdir(p) else "other"
    out[urllib.parse.quote(n)] = v
print(json.dumps(out))
`;

/** The uploads dir: name (percent-encoded bytes, as the writer PUT it) -> sha256, or "link:TARGET" for a symlink. */
export function readUploads(where: Where = { host: '/srv/sdlab/uploads' }): Map<string, string> {
  return new Map(Object.entries(runPy(where, UPLOADS_PY) as Record<string, string>));
}

export interface AckedNote {
  note_id: number;
  order_id: number;
  body: string;
  amount: string;
}
export interface AckedUpload {
  name: string;
  sha256: string;
  size: number;
}
export interface WriterResult {
  notes: AckedNote[];
  uploads: AckedUpload[];
  /** requests sent, and those that got no 200 (not acknowledged, not counted above) */
  attempted: number;
  failed: number;
  /** why they failed: "HTTP 503", "ECONNREFUSED", "timeout"... -> count */
  errors: Record<string, number>;
  /** ticks that sent nothing: maxInFlight requests were still waiting */
  skipped: number;
  /** sum of the acknowledged notes' amounts, two decimals (compare with readPgOrders().sum on a fresh db) */
  ackedSum: string;
}

function send(
  url: URL,
  method: string,
  path: string,
  body: Buffer,
  hostHeader?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port || 80,
        path,
        method,
        agent: false,
        timeout: 10_000,
        headers: {
          ...(hostHeader ? { Host: hostHeader } : {}),
          'content-type': 'application/octet-stream',
          'content-length': body.length,
        },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (d) => chunks.push(d));
        r.on('end', () => res({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        r.on('error', rej);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', rej);
    req.end(body);
  });
}

/**
 * Writes to the app at `url` (bare metal http://127.0.0.1:8100, or nginx http://127.0.0.1:8180 with
 * hostHeader sdlab.lab.internal) until stopped: each tick, perSecond times a second, POSTs a note (a
 * unique body, an amount in cents) and PUTs an upload (random bytes, a unique name). Only a 200 with
 * its ids is an acknowledged write, recorded; anything else (503, refused, reset, timeout) is counted
 * as failed and not recorded. At most `maxInFlight` requests at once (a tick is skipped past that,
 * and counted as skipped).
 */
export function startWriter(
  url: string,
  opts: { hostHeader?: string; perSecond: number; maxInFlight?: number; uploadBytes?: number },
): { stop: () => Promise<WriterResult>; result: () => WriterResult } {
  const base = new URL(url);
  const prefix = randomBytes(4).toString('hex');
  const notes: AckedNote[] = [];
  const uploads: AckedUpload[] = [];
  const errors: Record<string, number> = {};
  const inflight = new Set<Promise<void>>();
  let attempted = 0;
  let failed = 0;
  let seq = 0;
  let skipped = 0;
  let ackedCents = 0n;
  const maxInFlight = opts.maxInFlight ?? 32;
  const fail = (why: string) => {
    failed++;
    errors[why] = (errors[why] ?? 0) + 1;
  };
  const track = (p: Promise<void>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  const note = async (n: number) => {
    const cents = 100 + Math.floor(Math.random() * 99_900);
    const amount = `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
    const body = `note ${prefix}-${n} ${new Date().toISOString()}`;
    attempted++;
    try {
      const r = await send(base, 'POST', `/notes?amount=${amount}`, Buffer.from(body), opts.hostHeader);
      const j = r.status === 200 ? JSON.parse(r.body) : undefined;
      if (!j || !Number.isInteger(j.note_id) || !Number.isInteger(j.order_id)) return fail(`HTTP ${r.status}`);
      notes.push({ note_id: j.note_id, order_id: j.order_id, body, amount });
      ackedCents += BigInt(cents);
    } catch (e) {
      fail((e as { code?: string }).code ?? String(e));
    }
  };
  const upload = async (n: number) => {
    const data = randomBytes(opts.uploadBytes ?? 4096);
    const name = `w-${prefix}-${n}.bin`;
    const sha256 = createHash('sha256').update(data).digest('hex');
    attempted++;
    try {
      const r = await send(base, 'PUT', `/uploads/${name}`, data, opts.hostHeader);
      const j = r.status === 200 ? JSON.parse(r.body) : undefined;
      if (!j || j.sha256 !== sha256) return fail(`HTTP ${r.status}`);
      uploads.push({ name, sha256, size: data.length });
    } catch (e) {
      fail((e as { code?: string }).code ?? String(e));
    }
  };

  const timer = setInterval(
    () => {
      if (inflight.size + 2 > maxInFlight) {
        skipped++;
        return;
      }
      const n = ++seq;
      track(note(n));
      track(upload(n));
    },
    Math.max(1, Math.round(1000 / opts.perSecond)),
  );

  const result = (): WriterResult => ({
    notes: [...notes],
    uploads: [...uploads],
    attempted,
    failed,
    errors: { ...errors },
    skipped,
    ackedSum: `${ackedCents / 100n}.${String(ackedCents % 100n).padStart(2, '0')}`,
  });
  return {
    result,
    stop: async () => {
      clearInterval(timer);
      await Promise.allSettled([...inflight]);
      return result();
    },
  };
}
