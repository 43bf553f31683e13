import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config.ts';
import { remote } from '../engine/command.ts';
import { executePlan } from '../engine/runner.ts';
import type { PlannedStep } from '../engine/step.ts';
import { DryRunExecutor } from '../exec/executor.ts';
import { specSchema } from '../migrate/spec.ts';
import type { SpecFacts } from '../migrate/facts.ts';
import { specPlanNotes, specSteps } from '../migrate/steps.ts';
import { LineReporter } from './reporters.ts';
import { planSummary } from './plan-view.ts';

const MB = 1024 * 1024;
const facts: SpecFacts = {
  dataBytes: { chroma: 5 * MB, pdfs: 6 * MB, transcripts: MB },
  hostFree: 10_000 * MB,
  neighbours: { mediahub: ['/mediahub-backend id1 t1'] },
  ports: '',
  volumes: {},
  images: [],
};

/** The dry run's text for CHM's spec, exactly as the CLI prints it (same runner, same reporter), run id replaced. */
async function planText(
  runId: string,
  verbose = false,
  config = 'runbooks/specs/chm.yaml',
  f: SpecFacts = facts,
): Promise<string> {
  process.env.CUTOVER_OPERATOR = 'operator';
  const c = loadConfig(resolve(import.meta.dirname, '../..', config), specSchema);
  const plan = specSteps(c).map((step) => ({
    step,
    actions: step.plan({ config: c, facts: f, runId, runDir: `/laptop/backups/${runId}` }),
  }));
  let out = '';
  const reporter = new LineReporter(verbose, (s) => {
    out += s;
  });
  await executePlan({ plan, exec: new DryRunExecutor(), hooks: { event: (e) => reporter.event(e) } });
  for (const l of planSummary(plan, { lines: specPlanNotes(c, f) })) reporter.line(l);
  return out.replaceAll(runId, '<run>');
}

describe('the plan as the operator reads it', () => {
  it("golden: the human plan of migrate-chm (CHM's spec on the generic path), stable across run ids", async () => {
    const a = await planText('20261122-101010-aaaa');
    expect(await planText('20991231-235959-ffff')).toBe(a);
    await expect(a).toMatchFileSnapshot('../../test/golden/migrate-chm.plan.txt');
    // words, not scripts: no shell in the human plan
    expect(a).not.toMatch(/sh -c|\$1|sudo -n/);
  });

  it("golden: the systemd app's plan (systemd units, a host PostgreSQL, two writers of one SQLite database, a worker no route reaches)", async () => {
    process.env.PGPASSWORD = 'lab-secret-never-printed';
    process.env.POSTGRES_PASSWORD = 'lab-secret-never-printed';
    const sd: SpecFacts = {
      dataBytes: { appdb: 2 * MB, uploads: 3 * MB },
      hostFree: 10_000 * MB,
      neighbours: {},
      ports: '',
      volumes: {},
      images: [],
    };
    const a = await planText('20261122-101010-aaaa', false, 'runbooks/specs/sdlab.yaml', sd);
    expect(await planText('20991231-235959-ffff', false, 'runbooks/specs/sdlab.yaml', sd)).toBe(a);
    await expect(a).toMatchFileSnapshot('../../test/golden/migrate-sdlab.plan.txt');
    expect(a).not.toContain('lab-secret-never-printed');
    expect(a).not.toMatch(/sh -c|\$1|sudo -n/);
  });

  it('--verbose adds the exact command under each line, and the exact commands still carry the run id', async () => {
    const v = await planText('20261122-101010-aaaa', true);
    expect(v).toMatch(
      /\+ create volume chatbot_chroma \(labelled with this run\)\n {8}\$ docker api: volumeCreate \{"name":"chatbot_chroma","labels":\{"io.cutover.run":"<run>"/,
    );
    expect(v).toMatch(
      /\+ stop supervisor program chatbot-backend\n {8}\$ remote \(sudo\): supervisorctl stop chatbot-backend/,
    );
  });

  it('the summary counts changes, undos, checks, destructive steps and data moved', () => {
    const step = (id: string, destructive = false, takesWrites = false) => ({
      id,
      title: id,
      destructive,
      takesWrites,
      plan: () => [],
    });
    const plan: PlannedStep<unknown, unknown>[] = [
      {
        step: step('a'),
        actions: [
          { cmd: remote(['true'], { says: 'x' }), undo: [remote(['undo'])] },
          { cmd: { kind: 'download', argv: ['cat'], localPath: '/l', label: 'a.tar', expectedBytes: 2_000_000 } },
          { cmd: remote(['check'], { reads: true }) },
        ],
      },
      {
        step: step('b', true, true),
        actions: [
          {
            cmd: { kind: 'docker', op: 'volumeCreate', name: 'v', labels: {} },
            undo: [remote(['rm'])],
            undoKind: 'destroys-data',
            creates: [{ type: 'volume', name: 'v' }],
          },
          { cmd: remote(['w']), undoneBy: 'the rm above' },
        ],
      },
    ];
    const s = planSummary(plan).join('\n');
    expect(s).toContain(
      'Plan: 2 steps, 4 changes (3 undone by a rollback, 1 never undone), 1 checks that change nothing.',
    );
    expect(s).toContain('  never undone: a');
    expect(s).toContain('Destructive steps (typed confirmation in --interactive, --yes otherwise): b.');
    expect(s).toContain('a rollback from b on keeps them: volume v.');
    expect(s).toContain('Data moved: 2.0 MB on disk (a.tar 2.0 MB).');
  });
});
