/**
 * A compose stack's validation checklist (seeds 000-002), run on the host over SSH: compose files
 * valid, ports free or ours, up and healthy in time, reachability by service name, logs, a clean
 * restart, data across down + up, overlays. Checks that change the stack put it back as found on
 * failure or --rollback. Exit 0 only when every check holds.
 *   npx tsx runbooks/verify-stack.ts --config runbooks/stacks/rhinon.yaml [--dry-run | --yes] [--json]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../src/cli/main.ts';
import { Journal } from '../src/engine/journal.ts';
import type { Runbook } from '../src/engine/runbook.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import { checkResults, checklistLines, checklistMarkdown } from '../src/stacks/checklist.ts';
import { stackExamples, stackSchema, type StackConfig } from '../src/stacks/config.ts';
import { gatherStack } from '../src/stacks/facts.ts';
import { foundWords, stackSteps, type StackFacts } from '../src/stacks/steps.ts';

const results = (c: StackConfig, runDir: string) => {
  const steps = stackSteps(c);
  const titles = Object.fromEntries(steps.map((s) => [s.id, s.title]));
  return {
    titles,
    results: checkResults(
      Journal.read(join(runDir, 'journal.jsonl')),
      steps.map((s) => s.id),
    ),
  };
};
/** What the dry run's summary adds: how the stack was found and what a rollback returns it to. */
const notes = {
  planNotes: (c: StackConfig, f: StackFacts) => [
    `Found: ${foundWords(f)}${f.found.files.length ? ` with ${f.found.files.join(', ')}` : ''};` +
      ` the last step, a failure or --rollback puts it back so` +
      `${(f.found.services ?? []).length ? '' : ' (down; volumes kept)'}.`,
    `Never run: docker compose down -v${c.freshVolumes ? ' (except stack.fresh-volumes, confirmed by its volume names)' : ''}; volumes ${f.volumes.join(', ') || '(none yet)'} are kept.`,
  ],
};
const head = (c: StackConfig) => `stack ${c.stack.project} (${c.stack.dir}: ${c.stack.files.join(', ')})`;

export const verifyStack: Runbook<typeof stackSchema, StackFacts> = {
  name: 'verify-stack',
  defaultConfig: 'runbooks/stacks/rhinon.yaml',
  schema: stackSchema,
  examples: stackExamples,
  ssh: (c) => sshTarget(c.ssh),
  gather: (probe, c) => gatherStack(probe, c),
  fingerprint: (f) => f,
  steps: stackSteps,
  ...notes,
  report: ({ config, facts, runId, runDir, timings }) => {
    const { titles, results: r } = results(config, runDir);
    writeFileSync(join(runDir, 'checks.json'), `${JSON.stringify(r, null, 2)}\n`);
    return checklistMarkdown(r, titles, [
      `# verify-stack ${config.stack.project}, run ${runId}`,
      '',
      `- ${head(config)}`,
      `- found ${foundWords(facts)} (${facts.found.files.join(', ') || 'no files'}), and left so;` +
        ` volumes: ${facts.volumes.join(', ') || 'none'}`,
      `- deadline ${config.deadlineSeconds} s; step times: ${Object.entries(timings)
        .map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`)
        .join(', ')}`,
      `- ${
        r.every((x) => x.status === 'pass')
          ? 'every check holds'
          : `did not hold: ${r
              .filter((x) => x.status !== 'pass')
              .map((x) => `${x.id} (${x.status})`)
              .join(', ')}`
      }`,
    ]);
  },
  summary: ({ config, runDir }) => {
    const { titles, results: r } = results(config, runDir);
    return {
      lines: checklistLines(r, titles, `checklist: ${head(config)}`),
      data: { stack: config.stack.project, ok: r.every((x) => x.status === 'pass'), checks: r },
    };
  },
};

if (import.meta.url === `file://${process.argv[1]}`) await runCli(verifyStack);
