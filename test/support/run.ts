import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Journal } from '../../src/engine/journal.ts';
import { ROOT } from './lab.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  events: any[];
}

const TSX = resolve(ROOT, 'node_modules/.bin/tsx');

/** Run a runbook as an operator would (a child process, no TTY). */
export function runbook(name: string, args: string[], env: Record<string, string> = {}): RunResult {
  const r = spawnSync(TSX, [resolve(ROOT, 'runbooks', `${name}.ts`), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  const events = args.includes('--json')
    ? r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
    : [];
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, events };
}

/** Start a runbook in the background (to kill it mid-run). */
export function startRunbook(name: string, args: string[]) {
  return spawn(TSX, [resolve(ROOT, 'runbooks', `${name}.ts`), ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: kill -9 reaches tsx's node child too
  });
}

/** kill -9 the whole runbook (tsx and the node process it starts), as a crash would. */
export async function killHard(child: ReturnType<typeof startRunbook>): Promise<void> {
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  await new Promise((r) => setTimeout(r, 200));
}

/** The mutating commands a run printed (dry) or executed (real), with the run id as a placeholder. */
export function actionLines(r: RunResult): string[] {
  return r.events.filter((e) => e.type === 'action').map((e) => e.what.replace(/\d{8}-\d{6}-[a-z0-9]{4}/g, '<run-id>'));
}

export function runIdOf(r: RunResult): string {
  const m = /\b(\d{8}-\d{6}-[a-z0-9]{4})\b/.exec(r.stdout + r.stderr);
  if (!m) throw new Error(`no run id in output:\n${r.stdout}\n${r.stderr}`);
  return m[1];
}

/** Run a runbook in the background and collect its output; resolves when it exits (the test's event loop keeps going). */
export function runbookAsync(name: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(TSX, [resolve(ROOT, 'runbooks', `${name}.ts`), ...args], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const r: RunResult = { code: 1, stdout: '', stderr: '', events: [] };
  child.stdout.on('data', (d) => (r.stdout += d));
  child.stderr.on('data', (d) => (r.stderr += d));
  const done = new Promise<RunResult>((res) =>
    child.on('close', (code) => {
      r.code = code ?? 1;
      if (args.includes('--json'))
        r.events = r.stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l));
      res(r);
    }),
  );
  return { child, result: r, done };
}

/** Resolves once the run's journal (path printed at its start) shows `pred` true; polls every 10 ms. */
export function whenJournal(
  result: RunResult,
  pred: (entries: ReturnType<typeof Journal.read>) => boolean,
  timeoutMs = 300_000,
): Promise<string> {
  const t0 = Date.now();
  return new Promise((res, rej) => {
    const tick = setInterval(() => {
      const m = /journal (\S+journal\.jsonl)/.exec(result.stdout);
      if (m && pred(Journal.read(m[1]))) {
        clearInterval(tick);
        res(m[1]);
      }
      if (Date.now() - t0 > timeoutMs) {
        clearInterval(tick);
        rej(new Error(`journal condition never met:\n${result.stdout}\n${result.stderr}`));
      }
    }, 10);
  });
}

/** The journal shows an action of STEP begun. */
export const stepBegan = (step: string) => (entries: ReturnType<typeof Journal.read>) =>
  entries.some((e) => e.type === 'action' && e.step === step);
