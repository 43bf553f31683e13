/**
 * Does this spec hold on its host? The spec's rules between fields (at load), then what it says about
 * the host, read there: each service known to its manager and answering as its check says, each data
 * set where the spec says and of its kind, build contexts, ecosystem files, images, neighbours.
 * Read-only: nothing is changed on the host. What a migration by this spec checks in preflight first.
 *   npx tsx runbooks/check-spec.ts --spec runbooks/specs/chm.yaml
 * Exit 0: it holds; 1: the host disagrees (one line per field); 2: bad input (one line).
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { parseOrExit } from '../src/cli/parse.ts';
import { remoteInvocation } from '../src/exec/ssh-executor.ts';
import { loadConfig } from '../src/engine/config.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import { checkSpecOnHost } from '../src/migrate/preflight.ts';
import { specExamples, specSchema } from '../src/migrate/spec.ts';
import { SshConnection } from '../src/ssh/connection.ts';
import { UserError, errorMessage } from '../src/util/errors.ts';

const NAME = 'check-spec';

async function main(argv: string[]): Promise<number> {
  const program = new Command(NAME)
    .description('check a spec against its host (read-only): services, data sets, contexts, images, neighbours')
    .requiredOption('--spec <file>', "the app's spec (YAML; see src/migrate/spec.ts and runbooks/specs/)")
    .option('--accept-new-host-key', 'trust an unknown host key on first use (never a changed or revoked one)', false);
  parseOrExit(program, argv);
  const o = program.opts<{ spec: string; acceptNewHostKey: boolean }>();
  const path = resolve(o.spec);
  const spec = loadConfig(path, specSchema, specExamples, '--spec FILE (see runbooks/specs/)');
  const conn = await SshConnection.connect({ ...sshTarget(spec.ssh), acceptNewHostKey: o.acceptNewHostKey });
  try {
    const problems = await checkSpecOnHost(async (cmd) => {
      const { command, stdin } = remoteInvocation(cmd);
      return conn.exec(command, stdin !== undefined ? { stdin } : {});
    }, spec);
    if (!problems.length) {
      process.stdout.write(
        `spec ${o.spec} holds on ${spec.ssh.host}: ${Object.keys(spec.services).length} services, ${Object.keys(spec.data).length} data sets, ${spec.neighbours.length} neighbours checked\n`,
      );
      return 0;
    }
    process.stdout.write(
      `spec ${o.spec} does not hold on ${spec.ssh.host} (${problems.length} problem${problems.length > 1 ? 's' : ''}; nothing was changed):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    return 1;
  } finally {
    conn.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    process.stderr.write(`${NAME}: error: ${errorMessage(e).split('\n')[0]}\n`);
    code = e instanceof UserError ? e.exitCode : 2;
  }
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  process.exit(code);
}
