/**
 * The deployment-readiness checklist of seed 003, run against real images and Dockerfiles on a host.
 * Read-only: nothing is changed on the host, so there is no plan, journal or rollback.
 *   npx tsx runbooks/audit-images.ts [--config runbooks/stacks/todo.yaml] [--json]
 *   npx tsx runbooks/audit-images.ts --image NAME [--dockerfile PATH [--context DIR]] [--compose FILE --service NAME]
 *   npx tsx runbooks/audit-images.ts --dockerfile PATH [--context DIR] [--compose FILE --service NAME]
 *     (no --image: a Dockerfile on this machine, not built yet; what needs the image is – "undecided")
 * Exit 0: no fatal check failed; 1: a check the config marks fatal failed; 2: bad input (one line).
 */
import '../src/audit/memory.ts'; // first: V8 settings for streaming, before the other modules load
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../src/engine/config.ts';
import { sshTarget } from '../src/engine/ssh-config.ts';
import { SshConnection } from '../src/ssh/connection.ts';
import { UserError, errorMessage } from '../src/util/errors.ts';
import { parseOrExit } from '../src/cli/parse.ts';
import { auditImage, type ImageReport } from '../src/audit/audit.ts';
import { CHECK_IDS, type CheckId } from '../src/audit/checks.ts';
import { dockerImages } from '../src/audit/docker.ts';
import { auditExamples, auditSchema, parseSize, type ImageConfig } from '../src/audit/config.ts';
import { gatherImage } from '../src/audit/gather.ts';
import { gatherLocal } from '../src/audit/local.ts';
import { auditDockerfile } from '../src/audit/prebuild.ts';
import { renderMarkdown, renderTerminal, type AuditReport } from '../src/audit/report.ts';

const ROOT = resolve(import.meta.dirname, '..');
const NAME = 'audit-images';

interface Opts {
  config?: string;
  image?: string;
  dockerfile?: string;
  context?: string;
  compose?: string;
  service?: string;
  sizeBudget?: string;
  fatal?: string;
  json: boolean;
  backupsDir?: string;
  acceptNewHostKey: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Opts {
  const program = new Command(NAME)
    .description('audit images on the host against the deployment-readiness checklist (read-only)')
    .option(
      '-c, --config <file>',
      'YAML config: ssh, images with their Dockerfile/context/compose, budgets, fatal checks',
      'runbooks/stacks/todo.yaml',
    )
    .option('--image <name>', 'audit this image (one from the config, or any image on the host with the options below)')
    .option('--dockerfile <path>', 'with --image: its Dockerfile on the host; alone: a Dockerfile here, not built yet')
    .option('--context <dir>', "the Dockerfile's build context (default: the Dockerfile's dir)")
    .option('--compose <file>', 'the compose file that runs the image (needs --service; here when there is no --image)')
    .option('--service <name>', 'with --compose: the service')
    .option('--size-budget <size>', 'with --image: size budget, e.g. 700MB')
    .option('--fatal <checks>', `comma-separated checks that make the run exit 1 (${CHECK_IDS.join(', ')})`)
    .option('--json', 'one JSON document on stdout, nothing else', false)
    .option('--backups-dir <dir>', 'where <run>/audit.md goes (default: backups/)')
    .option('--accept-new-host-key', 'trust an unknown host key on first connect and remember it', false)
    .option('-v, --verbose', 'stack traces on errors', false)
    .allowExcessArguments(false);
  parseOrExit(program, argv);
  const o = program.opts() as Opts;
  if (o.sizeBudget && !o.image) throw new UserError('--size-budget needs an image to measure: add --image NAME');
  if (o.compose && !o.image && !o.dockerfile)
    throw new UserError('--compose describes the image of --image or the Dockerfile of --dockerfile: add one of them');
  if (o.context && !o.dockerfile)
    throw new UserError('--context needs --dockerfile (the Dockerfile that context builds)');
  if (Boolean(o.compose) !== Boolean(o.service))
    throw new UserError('--compose FILE and --service NAME go together: give both');
  if (o.sizeBudget && parseSize(o.sizeBudget) === undefined)
    throw new UserError(`--size-budget ${o.sizeBudget}: not a size (like 700MB or 1.5GB)`);
  return o;
}

/** Same shape as the migration runbooks' run ids (backups/<run>/). */
function newRunId(now = new Date()): string {
  const iso = now.toISOString().replace(/[-:]/g, '');
  return `${iso.slice(0, 8)}-${iso.slice(9, 15)}-${randomBytes(2).toString('hex')}`;
}

async function main(argv: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  const o = parseArgs(argv);
  const configPath = resolve(o.config ?? resolve(ROOT, 'runbooks/stacks/todo.yaml'));
  const cfg = loadConfig(configPath, auditSchema, auditExamples);
  const fatalFlag = o.fatal
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const f of fatalFlag ?? [])
    if (!(CHECK_IDS as string[]).includes(f))
      throw new UserError(`--fatal ${f}: no such check (checks: ${CHECK_IDS.join(', ')})`);

  const fatalOf = (img?: ImageConfig) =>
    new Set<CheckId>((fatalFlag as CheckId[] | undefined) ?? img?.fatal ?? cfg.fatal);
  if (o.dockerfile && !o.image) {
    // a Dockerfile not built yet, on this machine: no host, no Docker (the config gives the fatal list)
    const compose = o.compose ? { file: o.compose, service: o.service! } : undefined;
    const facts = await gatherLocal({
      dockerfile: o.dockerfile,
      ...(o.context ? { context: o.context } : {}),
      ...(compose ? { compose } : {}),
    });
    const report: AuditReport = { runId: newRunId(), host: 'this machine', images: [], fatalFailures: [], exitCode: 0 };
    addImage(report, auditDockerfile(facts), fatalOf());
    return finish(report, o, started);
  }

  let images: ImageConfig[] = cfg.images;
  if (o.image) {
    const known = cfg.images.find((i) => i.name === o.image);
    images = [
      known && !o.dockerfile && !o.compose && !o.sizeBudget
        ? known
        : {
            name: o.image,
            ...(o.dockerfile ? { dockerfile: o.dockerfile } : {}),
            ...(o.context ? { context: o.context } : {}),
            ...(o.compose ? { compose: { file: o.compose, service: o.service! } } : {}),
            ...(o.sizeBudget ? { sizeBudget: parseSize(o.sizeBudget)! } : {}),
          },
    ];
  }
  if (!images.length)
    throw new UserError(
      `config ${configPath} lists no images: add \`images:\` (example: ${auditExamples.images}) or pass --image NAME`,
    );

  const conn = await SshConnection.connect({ ...sshTarget(cfg.ssh), acceptNewHostKey: o.acceptNewHostKey });
  const report: AuditReport = {
    runId: newRunId(),
    host: `${cfg.ssh.user}@${cfg.ssh.host}:${cfg.ssh.port}`,
    images: [],
    fatalFailures: [],
    exitCode: 0,
  };
  try {
    const docker = dockerImages(await conn.dockerSocket());
    for (const [i, img] of images.entries()) {
      const facts = await gatherImage(
        conn,
        docker,
        cfg,
        img,
        cfg.images.indexOf(img) >= 0 ? cfg.images.indexOf(img) : i,
      );
      const r = auditImage(facts);
      addImage(report, r, fatalOf(img));
      if (!o.json) process.stderr.write(`audited ${r.image}\n`);
    }
  } finally {
    conn.close();
  }
  return finish(report, o, started);
}

/** Mark the fatal checks; only a decided failure of one counts (– never fails the run). */
function addImage(report: AuditReport, r: ImageReport, fatal: Set<CheckId>): void {
  for (const c of r.checks) {
    if (fatal.has(c.id)) c.fatal = true;
    if (c.fatal && c.status === 'fail') report.fatalFailures.push(`${r.image}: ${c.id}`);
  }
  report.images.push(r);
}

/** Exit code, stats, backups/<run>/audit.md and audit.json, and the output. */
function finish(report: AuditReport, o: Opts, started: bigint): number {
  report.exitCode = report.fatalFailures.length ? 1 : 0;
  // what the audit cost here: the scan is streamed, so this stays flat whatever the image size
  report.stats = {
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  const dir = resolve(o.backupsDir ?? resolve(ROOT, 'backups'), report.runId);
  mkdirSync(dir, { recursive: true });
  report.report = resolve(dir, 'audit.md');
  writeFileSync(report.report, renderMarkdown(report));
  writeFileSync(resolve(dir, 'audit.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(renderTerminal(report, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR));
  return report.exitCode;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2);
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    process.stderr.write(`${NAME}: error: ${errorMessage(e).split('\n')[0]}\n`);
    if (argv.includes('--verbose') || argv.includes('-v')) process.stderr.write(`${(e as Error).stack}\n`);
    code = e instanceof UserError ? e.exitCode : 2;
  }
  process.exit(code);
}
