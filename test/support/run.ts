import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { ROOT } from './lab.ts';

export interface RunResult { code: number; stdout: string; stderr: string; events: any[] }

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
    ? r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
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
