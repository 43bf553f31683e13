import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RunEvent } from '../engine/runner.ts';

/**
 * backups/<run>/run.log: everything the terminal shortens, in full and timestamped: each action's
 * exact command beside its words, and for a failure the whole command and all it printed (a
 * traceback included). The terminal gets one line and this file's path.
 */
export class RunLog {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  line(text: string): void {
    const t = new Date().toISOString();
    appendFileSync(
      this.path,
      text
        .split('\n')
        .map((l) => `${t} ${l}\n`)
        .join(''),
    );
  }

  event(e: RunEvent): void {
    switch (e.type) {
      case 'step-start':
        return this.line(`[${e.index + 1}/${e.total}] ${e.id}: ${e.title}`);
      case 'step-done':
        return this.line(`  done ${e.id} in ${(e.ms / 1000).toFixed(1)}s`);
      case 'step-skipped':
        return this.line(`  skip ${e.id} (${e.why})`);
      case 'action':
        return this.line(
          `  ${e.reads ? '·' : '+'} ${e.says}\n      $ ${e.what}${e.undo.map((u) => `\n      undo: ${u}`).join('')}`,
        );
      case 'progress':
        if (e.progress.done) this.line(`    ${e.progress.label}: ${e.progress.bytes} bytes`);
        return;
      case 'step-failed':
        return this.line(
          `  ✗ ${e.id} failed: ${e.error}${
            e.detail
              ? `\n${e.detail
                  .split('\n')
                  .map((l) => `      | ${l}`)
                  .join('\n')}`
              : ''
          }`,
        );
      case 'undo':
        return this.line(
          `  ↩ ${e.ok ? 'undone' : 'UNDO FAILED'} (${e.id}): ${e.what}\n      $ ${e.exact}${e.error ? `\n      error: ${e.error}` : ''}${
            e.detail
              ? `\n${e.detail
                  .trim()
                  .split('\n')
                  .map((l) => `      | ${l}`)
                  .join('\n')}`
              : ''
          }`,
        );
      case 'kept':
        return this.line(`  ⚑ kept (${e.id}): ${e.resources.map((r) => `${r.type} ${r.name}`).join(', ')}`);
      case 'info':
        return this.line(e.message);
    }
  }
}
