/**
 * A small runbook of real steps, used to prove the engine on the lab (the runner takes and releases
 * the host lock around them): write a file, create a volume, start a container, settle.
 *   npx tsx runbooks/demo.ts [--dry-run] [--config runbooks/demo.lab.yaml]
 */
import { z } from 'zod';
import { remote } from '../src/engine/command.ts';
import { makeDir, writeFile } from '../src/engine/files.ts';
import type { Runbook } from '../src/engine/runbook.ts';
import { sshExamples, sshSchema, sshTarget } from '../src/engine/ssh-config.ts';
import { runCli } from '../src/cli/main.ts';

const schema = z.object({
  ssh: sshSchema,
  dir: z.string().default('/home/ubuntu/cutover-demo'),
  volume: z.string().default('cutover_demo'),
  container: z.string().default('cutover-demo'),
  image: z.string().default('nginx:alpine'),
  settleSeconds: z.number().default(0),
});
type Config = z.infer<typeof schema>;
interface Facts {
  volumeOwner?: string;
  containerExists: boolean;
}

export const demo: Runbook<typeof schema, Facts> = {
  name: 'demo',
  defaultConfig: 'runbooks/demo.lab.yaml',
  schema,
  examples: sshExamples,
  ssh: (c) => sshTarget(c.ssh),
  async gather(probe, c, { runId }) {
    const problems = [];
    const v = await probe(
      remote(['docker', 'volume', 'inspect', '-f', '{{index .Labels "io.cutover.run"}}', c.volume]),
    );
    const volumeOwner = v.code === 0 ? v.stdout.trim() || '(none)' : undefined;
    if (volumeOwner && volumeOwner !== runId)
      problems.push({
        message: `a volume named ${c.volume} already exists and was not made by this run (label io.cutover.run=${volumeOwner}): remove it or choose another \`volume\``,
      });
    const k = await probe(remote(['docker', 'container', 'inspect', c.container]));
    return { facts: { volumeOwner, containerExists: k.code === 0 }, problems };
  },
  fingerprint: (f) => f,
  steps: (c: Config) => [
    {
      id: 'write-file',
      title: `write ${c.dir}/hello.txt`,
      plan: ({ runId }) => [
        makeDir(c.dir, runId, 'ubuntu:ubuntu'),
        ...writeFile(`${c.dir}/hello.txt`, `hello from run ${runId}\n`, runId, { owner: 'ubuntu:ubuntu' }),
      ],
    },
    {
      id: 'volume',
      title: `create volume ${c.volume}`,
      plan: ({ runId }) => [
        {
          cmd: { kind: 'docker', op: 'volumeCreate', name: c.volume, labels: { 'io.cutover.run': runId } },
          undo: [{ kind: 'docker', op: 'volumeRemoveOwned', name: c.volume, runId }],
          undoKind: 'destroys-data', // no step here opens it to anyone's writes: the undo may run
          creates: [{ type: 'volume', name: c.volume }],
        },
      ],
    },
    {
      id: 'container',
      title: `start container ${c.container}`,
      plan: ({ runId }) => [
        {
          cmd: remote([
            'docker',
            'run',
            '-d',
            '--pull',
            'never',
            '--name',
            c.container,
            '--label',
            `io.cutover.run=${runId}`,
            '-v',
            `${c.volume}:/data`,
            c.image,
          ]),
          undo: [{ kind: 'docker', op: 'containerRemoveOwned', name: c.container, runId }],
          undoKind: 'removes-ours',
          creates: [{ type: 'container', name: c.container }],
        },
      ],
    },
    { id: 'settle', title: 'let it settle', plan: () => [{ cmd: remote(['sleep', String(c.settleSeconds)]) }] },
  ],
};

if (import.meta.url === `file://${process.argv[1]}`) await runCli(demo);
