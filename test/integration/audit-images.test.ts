/**
 * runbooks/audit-images.ts on the lab: the Todo chatbot images of seed 003 (good and flawed, built
 * by `lab up`/`lab reset`), and the CHM images built from compose/Dockerfile.* exactly as
 * migrate-chm's deploy.build builds them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/engine/config.ts';
import { composeFile } from '../../src/migrate/deploy.ts';
import { specSchema } from '../../src/migrate/spec.ts';
import { ROOT, SSH_DIR, labSsh } from '../support/lab.ts';
import { runbook } from '../support/run.ts';

const CONFIG = 'runbooks/stacks/todo.yaml';
const CHM = '/tmp/cutover-audit-chm';
const CHM_TAGS = ['chm-chatbot-backend:audit', 'chm-chatbot-frontend:audit'];

/** Write a file on the lab host as the ssh user. */
function sshPut(path: string, content: string): void {
  const r = spawnSync('ssh', ['-F', resolve(SSH_DIR, 'config'), 'chm-lab', `cat > '${path}'`], {
    input: content,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`ssh put ${path}: ${r.stderr}`);
}

type Check = {
  id: string;
  status: string;
  summary: string;
  evidence: { what: string; layer?: number; instruction?: string; file?: string }[];
  fix?: string;
  fatal?: boolean;
};
type Img = { image: string; checks: Check[] };
const check = (img: Img | undefined, id: string) => img!.checks.find((c) => c.id === id)!;
const evidenceText = (c: Check) =>
  c.evidence.map((e) => `${e.what} | ${e.instruction ?? ''} | ${e.file ?? ''}`).join('\n');

describe('audit-images on the lab', () => {
  let full: ReturnType<typeof runbook>;
  let report: { runId: string; images: Img[]; fatalFailures: string[]; exitCode: number; report: string };
  const img = (name: string) => report.images.find((i) => i.image === name);

  beforeAll(() => {
    for (const t of ['todo-backend:good', 'todo-frontend:good', 'todo-backend:flawed', 'todo-frontend:flawed'])
      expect(labSsh(`docker image inspect -f ok ${t} 2>&1 || true`).trim(), `${t} missing: run lab up`).toBe('ok');
    full = runbook('audit-images', ['--config', CONFIG, '--json']);
    report = JSON.parse(full.stdout);
  });

  it('--json: stdout is one JSON document and nothing else; exit 1 because fatal checks failed', () => {
    expect(full.stdout.trim().split('\n')).toHaveLength(1);
    expect(full.code).toBe(1);
    expect(report.exitCode).toBe(1);
    expect(report.fatalFailures).toEqual(
      expect.arrayContaining([
        'todo-backend:flawed: non-root',
        'todo-backend:flawed: secrets',
        'todo-backend:flawed: healthcheck',
        'todo-frontend:flawed: healthcheck',
      ]),
    );
    expect(existsSync(report.report)).toBe(true);
    const md = readFileSync(report.report, 'utf8');
    expect(md).toContain('## todo-backend:flawed');
    expect(md).toMatch(/\| ✗ \| non-root \(fatal\) \| 4\.1 \| CIS-DI-0001 \|/);
    expect(md).toContain('**Fix:**');
  });

  it('the good images: no ✗ at all', () => {
    for (const name of ['todo-backend:good', 'todo-frontend:good']) {
      const failed = img(name)!.checks.filter((c) => c.status === 'fail');
      expect(
        failed.map((c) => `${c.id}: ${c.summary}\n${evidenceText(c)}`),
        name,
      ).toEqual([]);
      expect(check(img(name), 'non-root').status).toBe('pass');
      expect(check(img(name), 'healthcheck').summary).toContain('/usr/bin/curl');
    }
    expect(check(img('todo-frontend:good'), 'dev-deps').status).toBe('pass'); // a devDependency exists and is not shipped
  });

  it('flawed backend: root, API key in ENV, .env added then deleted, no healthcheck, gcc, no .dockerignore, over budget, no limits', () => {
    const b = img('todo-backend:flawed');
    const df = '/home/ubuntu/todo/flawed/backend/Dockerfile';
    expect(check(b, 'non-root')).toMatchObject({ status: 'fail', fatal: true });
    expect(evidenceText(check(b, 'non-root'))).toContain(
      `the final stage has no USER instruction | ${df}:9 FROM python:3.11-slim`,
    );
    expect(check(b, 'healthcheck').status).toBe('fail');

    const secrets = check(b, 'secrets');
    expect(secrets.status).toBe('fail');
    const env = secrets.evidence.find((e) => e.what.startsWith('ENV in the image config: OPENAI_API_KEY='))!;
    expect(env.instruction).toBe(`${df}:12 ENV OPENAI_API_KEY=…`);
    expect(env.what).not.toContain('LABfake0flawed0key'); // redacted
    const dotenv = secrets.evidence.find((e) => e.file === '/app/.env')!;
    expect(dotenv.what).toMatch(
      new RegExp(
        `added in layer (\\d+) \\(\\w+\\), ${df}:22 COPY \\. \\., deleted in layer \\d+ \\(\\w+\\), ${df}:23 RUN rm -f \\.env, still in the image's history`,
      ),
    );
    expect(dotenv.instruction).toBe(`${df}:22 COPY . .`);

    const tool = check(b, 'toolchain');
    expect(tool.status).toBe('fail');
    const gcc = tool.evidence.find((e) => e.what.startsWith('/usr/bin/gcc'))!;
    expect(gcc.instruction).toMatch(
      new RegExp(`^${df}:15 RUN apt-get update && apt-get install -y --no-install-recommends gcc`),
    );
    expect(evidenceText(tool)).toMatch(/dpkg package gcc-12 \S+ installed/);

    expect(check(b, 'dockerignore').evidence.map((e) => e.what)).toEqual([
      '/home/ubuntu/todo/flawed/backend/.dockerignore does not exist',
      '.env is in the context and would be sent',
    ]);
    const size = check(b, 'size');
    expect(size.status).toBe('fail');
    expect(size.evidence.some((e) => e.instruction?.startsWith(`${df}:15 RUN apt-get`))).toBe(true); // gcc's layer among the biggest
    expect(check(b, 'resource-limits').status).toBe('fail');
    expect(check(b, 'restart-policy').status).toBe('fail');
    expect(check(b, 'base-pinned').status).toBe('pass');
  });

  it('flawed frontend: wget healthcheck not in the image, dev dependencies shipped, FROM node untagged, no .dockerignore', () => {
    const f = img('todo-frontend:flawed');
    const df = '/home/ubuntu/todo/flawed/frontend/Dockerfile';
    const hc = check(f, 'healthcheck');
    expect(hc.status).toBe('fail');
    expect(hc.evidence[0]).toMatchObject({ instruction: expect.stringMatching(new RegExp(`^${df}:23 HEALTHCHECK`)) });
    expect(hc.evidence[0].what).toContain('wget not found in the image');
    const dev = check(f, 'dev-deps');
    expect(dev.status).toBe('fail');
    expect(dev.evidence[0]).toMatchObject({
      what: 'todo-build-tools is a devDependency in /app/package.json and installed at /app/node_modules/todo-build-tools',
      instruction: expect.stringMatching(new RegExp(`^${df}:18 COPY --from=builder`)),
    });
    expect(check(f, 'base-pinned').evidence).toEqual([
      expect.objectContaining({ what: 'node has no tag (means :latest)', instruction: `${df}:3 FROM node AS builder` }),
    ]);
    expect(check(f, 'dockerignore').status).toBe('fail');
    expect(check(f, 'non-root').status).toBe('pass');
    expect(check(f, 'secrets').status).toBe('pass'); // the .env went into the builder stage only
  });

  it('terminal output without a TTY: a plain table, the evidence and the fix under each ✗', () => {
    const r = runbook('audit-images', ['--config', CONFIG, '--image', 'todo-frontend:flawed']);
    expect(r.code).toBe(1); // healthcheck is fatal in the config
    expect(r.stdout).not.toContain('\x1b[');
    expect(r.stdout).toMatch(/check\s+CIS\s+dockle\s+result/);
    expect(r.stdout).toMatch(/✗ healthcheck\s+4\.6\s+CIS-DI-0006 .*wget/);
    expect(r.stdout).toMatch(/✓ non-root\s+4\.1\s+CIS-DI-0001/);
    expect(r.stdout).toMatch(/fix: probe with a binary the image has/);
    expect(r.stdout).toMatch(/report: .*backups\/\d{8}-\d{6}-[a-z0-9]{4}\/audit\.md/);
  });

  it('exit codes follow the fatal list: 0 when only non-fatal checks fail', () => {
    expect(
      runbook('audit-images', [
        '--config',
        CONFIG,
        '--image',
        'todo-frontend:flawed',
        '--fatal',
        'non-root,secrets',
        '--json',
      ]).code,
    ).toBe(0);
    expect(
      runbook('audit-images', ['--config', CONFIG, '--image', 'todo-frontend:flawed', '--fatal', 'dev-deps', '--json'])
        .code,
    ).toBe(1);
  });

  it('bad input: one line naming the problem and the fix, exit 2', () => {
    const cases: [string[], RegExp][] = [
      [
        ['--image', 'todo-nope:1'],
        /^audit-images: error: image todo-nope:1 is not on the host: build it there .* or fix `images\[0\]\.name`$/,
      ],
      [
        ['--image', 'todo-backend:good', '--dockerfile', '/nope/Dockerfile'],
        /Dockerfile \/nope\/Dockerfile does not exist on the host: fix `images\[0\]\.dockerfile`/,
      ],
      [['--config', '/nonexistent.yaml'], /config \/nonexistent\.yaml does not exist/],
      [
        ['--image', 'todo-backend:good', '--fatal', 'everything'],
        /--fatal everything: no such check \(checks: non-root, /,
      ],
      [['--size-budget', '700MB'], /^audit-images: error: --size-budget needs an image to measure: add --image NAME$/],
    ];
    for (const [args, re] of cases) {
      const r = runbook('audit-images', ['--config', CONFIG, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.stdout).toBe('');
    }
    const dir = mkdtempSync(join(tmpdir(), 'audit-cfg-'));
    writeFileSync(
      join(dir, 'bad.yaml'),
      `${readFileSync(resolve(ROOT, CONFIG), 'utf8')}\nsizeBudget: lots\n`.replace(/^sizeBudget: 750MB\n/m, ''),
    );
    const r = runbook('audit-images', ['--config', join(dir, 'bad.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/field `sizeBudget`: not a size: lots \(example: sizeBudget: 1GB\)/);
  });

  describe('the CHM images, built as migrate-chm builds them', () => {
    beforeAll(() => {
      labSsh(
        `rm -rf ${CHM} && mkdir -p ${CHM} && rsync -a --exclude /chroma_db --exclude /pdfs --exclude /transcripts --exclude node_modules /home/ubuntu/chm-chatbot/ ${CHM}/chatbot/`,
      );
      sshPut(`${CHM}/chatbot/Dockerfile.backend`, readFileSync(resolve(ROOT, 'compose/Dockerfile.backend'), 'utf8'));
      sshPut(`${CHM}/chatbot/.dockerignore`, readFileSync(resolve(ROOT, 'compose/backend.dockerignore'), 'utf8'));
      sshPut(
        `${CHM}/chatbot/chm-chatbot-frontend/Dockerfile`,
        readFileSync(resolve(ROOT, 'compose/Dockerfile.frontend'), 'utf8'),
      );
      sshPut(
        `${CHM}/chatbot/chm-chatbot-frontend/.dockerignore`,
        readFileSync(resolve(ROOT, 'compose/frontend.dockerignore'), 'utf8'),
      );
      // the compose file migrate-chm deploys, rendered from CHM's spec (its images: the tags built here)
      const spec = loadConfig(resolve(ROOT, 'runbooks/specs/chm.yaml'), specSchema);
      sshPut(`${CHM}/compose.yaml`, composeFile(spec, 'audit'));
      // the same command as migrate-chm's deploy.build
      labSsh(
        `cd ${CHM}/chatbot && DOCKER_BUILDKIT=0 docker build -q --pull=false -f Dockerfile.backend -t ${CHM_TAGS[0]} . >/dev/null`,
      );
      labSsh(
        `cd ${CHM}/chatbot/chm-chatbot-frontend && DOCKER_BUILDKIT=0 docker build -q --pull=false -f Dockerfile -t ${CHM_TAGS[1]} . >/dev/null`,
      );
    });
    afterAll(() => {
      labSsh(`docker image rm ${CHM_TAGS.join(' ')} >/dev/null 2>&1 || true; rm -rf ${CHM}`);
    });

    it('pass every check', () => {
      const dir = mkdtempSync(join(tmpdir(), 'audit-chm-'));
      const cfg = `${readFileSync(resolve(ROOT, CONFIG), 'utf8').split('\nimages:')[0]}
images:
  - name: ${CHM_TAGS[0]}
    dockerfile: ${CHM}/chatbot/Dockerfile.backend
    compose: { file: ${CHM}/compose.yaml, service: backend }
  - name: ${CHM_TAGS[1]}
    dockerfile: ${CHM}/chatbot/chm-chatbot-frontend/Dockerfile
    compose: { file: ${CHM}/compose.yaml, service: frontend }
`;
      writeFileSync(join(dir, 'chm.yaml'), cfg);
      const r = runbook('audit-images', ['--config', join(dir, 'chm.yaml'), '--json']);
      const rep = JSON.parse(r.stdout) as typeof report;
      for (const i of rep.images) {
        const failed = i.checks.filter((c) => c.status === 'fail');
        expect(
          failed.map((c) => `${c.id}: ${c.summary}\n${evidenceText(c)}`),
          i.image,
        ).toEqual([]);
      }
      expect(r.code).toBe(0);
    });
  });
});

/**
 * A Dockerfile before it is built (--dockerfile, no --image): the lab's Dockerfiles from this checkout
 * (scripts/lab/todo/, which `lab up` copies to the host and builds), audited with no host and no image.
 */
describe('audit-images on a Dockerfile not built yet', () => {
  const TODO = resolve(ROOT, 'scripts/lab/todo');
  let noHost: string;
  type Report = { images: (Img & { id?: string; dockerfile?: string })[]; fatalFailures: string[]; exitCode: number };
  const imageList = () => labSsh('docker image ls -aq --no-trunc | sort').trim();
  let imagesBefore: string;

  beforeAll(() => {
    // an ssh target nothing listens on, and a key that does not exist: any use of a host would fail
    noHost = join(mkdtempSync(join(tmpdir(), 'audit-nohost-')), 'nohost.yaml');
    writeFileSync(
      noHost,
      'ssh: { host: 127.0.0.1, port: 9, user: nobody, key: /nonexistent/key }\n' +
        'fatal: [non-root, secrets, healthcheck]\n',
    );
    imagesBefore = imageList();
  });

  const audit = (version: 'good' | 'flawed', part: 'backend' | 'frontend', ...extra: string[]) => {
    const dockerfile = join(TODO, version, part, 'Dockerfile');
    const r = runbook('audit-images', [
      '--config',
      noHost,
      '--dockerfile',
      dockerfile,
      '--compose',
      join(TODO, version, 'compose.yaml'),
      '--service',
      part,
      '--json',
      ...extra,
    ]);
    expect(r.stderr, `${version} ${part}`).toBe('');
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const rep = JSON.parse(r.stdout) as Report;
    expect(rep.images).toHaveLength(1);
    return { r, rep, img: rep.images[0], dockerfile };
  };
  const lines = (c: Check) => c.evidence.map((e) => (e as { line?: number }).line).filter((l) => l !== undefined);
  const NEEDS = /^needs an image \(.+\): run with --image NAME/;

  it('flawed backend: ✗ with the line for root, the ENV key, the copied .env, no HEALTHCHECK, gcc; exit 1', () => {
    const { r, rep, img: b, dockerfile } = audit('flawed', 'backend');
    expect(b).not.toHaveProperty('id'); // no image behind this report
    expect(b.dockerfile).toBe(dockerfile);
    expect(check(b, 'non-root')).toMatchObject({ status: 'fail', fatal: true });
    expect(lines(check(b, 'non-root'))).toEqual([9]); // FROM python:3.11-slim, the final stage, sets no USER
    const secrets = check(b, 'secrets');
    expect(secrets.status).toBe('fail');
    expect(lines(secrets)).toEqual([12, 22]);
    expect(secrets.evidence[0].what).toMatch(/^ENV in the Dockerfile: OPENAI_API_KEY=sk-proj-…/);
    expect(secrets.evidence[0].what).not.toContain('LABfake0flawed0key'); // redacted
    expect(secrets.evidence[1].file).toBe(join(TODO, 'flawed/backend/.env'));
    expect(check(b, 'healthcheck').status).toBe('fail');
    expect(lines(check(b, 'healthcheck'))).toEqual([9]);
    expect(check(b, 'toolchain')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/gcc$/) });
    expect(lines(check(b, 'toolchain'))).toEqual([15]);
    expect(check(b, 'dockerignore').evidence.map((e) => e.what)).toEqual([
      `${join(TODO, 'flawed/backend')}/.dockerignore does not exist`,
      '.env is in the context and would be sent',
    ]);
    expect(check(b, 'base-pinned').status).toBe('pass');
    expect(lines(check(b, 'base-pinned'))).toEqual([3, 9]);
    expect([check(b, 'resource-limits').status, check(b, 'restart-policy').status]).toEqual(['fail', 'fail']);
    // what only the image can tell is not decided, and says so
    for (const id of ['size', 'dev-deps'])
      expect(check(b, id), id).toMatchObject({ status: 'undecided', summary: expect.stringMatching(NEEDS) });
    expect(r.code).toBe(1);
    expect(rep.fatalFailures.sort()).toEqual(['healthcheck', 'non-root', 'secrets'].map((c) => `${dockerfile}: ${c}`));
  });

  it('flawed frontend: ✗ for FROM node (line 3); the wget HEALTHCHECK (line 23) needs the image; exit 0', () => {
    const { r, rep, img: f } = audit('flawed', 'frontend');
    const pinned = check(f, 'base-pinned');
    expect([pinned.status, pinned.evidence.map((e) => e.what), lines(pinned)]).toEqual([
      'fail',
      ['node has no tag (means :latest)'],
      [3],
    ]);
    const hc = check(f, 'healthcheck');
    expect(hc.status).toBe('undecided');
    expect(hc.summary).toMatch(/^needs an image \(does it have \/bin\/sh, wget\?\): run with --image NAME/);
    expect(lines(hc)).toEqual([23]);
    expect(check(f, 'non-root').status).toBe('pass');
    expect(lines(check(f, 'non-root'))).toEqual([14]);
    expect(check(f, 'dockerignore').status).toBe('fail');
    // the .env went into the builder stage only; the node_modules it ships are in the image
    for (const id of ['secrets', 'toolchain', 'dev-deps', 'size']) expect(check(f, id).status, id).toBe('undecided');
    // the fatal checks (non-root, secrets, healthcheck) did not fail: undecided never fails the run
    expect([r.code, rep.exitCode, rep.fatalFailures]).toEqual([0, 0, []]);
    expect(audit('flawed', 'frontend', '--fatal', 'base-pinned').r.code).toBe(1);
    expect(audit('flawed', 'frontend', '--fatal', 'size,dev-deps').r.code).toBe(0);
  });

  it('the good Dockerfiles: no ✗; what they decide passes with its line', () => {
    for (const part of ['backend', 'frontend'] as const) {
      const { r, img } = audit('good', part);
      expect(
        img.checks.filter((c) => c.status === 'fail').map((c) => `${c.id}: ${c.summary}`),
        part,
      ).toEqual([]);
      expect(
        img.checks.filter((c) => c.status === 'pass').map((c) => c.id),
        part,
      ).toEqual(['non-root', 'multi-stage', 'base-pinned', 'dockerignore', 'resource-limits', 'restart-policy']);
      expect(lines(check(img, 'non-root'))).toEqual([part === 'backend' ? 15 : 23]);
      // the backend's RUN useradd shows it has /bin/sh; only the image can say whether it has curl
      expect(check(img, 'healthcheck').summary).toMatch(
        part === 'backend' ? /does it have curl\?/ : /does it have \/bin\/sh, curl\?/,
      );
      expect(r.code).toBe(0);
    }
  });

  it('the table marks – and says what it needs', () => {
    const r = runbook('audit-images', ['--config', noHost, '--dockerfile', join(TODO, 'flawed/backend/Dockerfile')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Dockerfile only, no image/);
    expect(r.stdout).toMatch(/✗ toolchain\s+4\.3\s+CIS-DI-0003 .*gcc/);
    expect(r.stdout).toMatch(/Dockerfile:15 RUN apt-get update/);
    expect(r.stdout).toMatch(/– size\s+4\.3\s+–\s+needs an image \(its size\): run with --image NAME/);
    expect(r.stdout).toMatch(/^1 Dockerfile \(no image\): \d+ checks failed, 2 not decided without an image, 3 fatal/m);
  });

  it('needs no image and no host: a FROM nobody has, no ssh; nothing built or pulled on the lab', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-prebuild-'));
    const base = 'cutover-never-built.invalid/base:1.0';
    writeFileSync(
      join(dir, 'Dockerfile'),
      `FROM ${base}\nRUN apk add --no-cache make\nUSER 10001\n` + 'HEALTHCHECK CMD ["/app/probe"]\n',
    );
    writeFileSync(join(dir, '.dockerignore'), '.env\n.git\nnode_modules\nvenv\n');
    const r = runbook('audit-images', ['--config', noHost, '--dockerfile', join(dir, 'Dockerfile'), '--json']);
    expect(r.stderr).toBe('');
    const i = (JSON.parse(r.stdout) as Report).images[0];
    expect(Object.fromEntries(i.checks.map((c) => [c.id, c.status]))).toEqual({
      'non-root': 'pass',
      'multi-stage': 'fail', // one stage
      healthcheck: 'undecided',
      secrets: 'undecided',
      toolchain: 'fail',
      'dev-deps': 'undecided',
      'base-pinned': 'pass',
      size: 'undecided',
      dockerignore: 'pass',
      'resource-limits': 'na',
      'restart-policy': 'na',
    });
    expect(lines(check(i, 'toolchain'))).toEqual([2]);
    expect(r.code).toBe(0); // toolchain is not fatal here
    expect(labSsh(`docker image inspect ${base} >/dev/null 2>&1 && echo present || echo absent`).trim()).toBe('absent');
    expect(imageList()).toBe(imagesBefore);
  });

  it('bad input: a Dockerfile that is not there, one that is not a Dockerfile: one line, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-prebuild-bad-'));
    writeFileSync(join(dir, 'notes.txt'), 'not a Dockerfile\n');
    const good = join(TODO, 'good/backend/Dockerfile');
    const cases: [string[], RegExp][] = [
      [
        ['--dockerfile', join(dir, 'Dockerfile')],
        /^audit-images: error: Dockerfile \S+ does not exist: fix --dockerfile \(a path on this machine; with/,
      ],
      [
        ['--dockerfile', join(dir, 'notes.txt')],
        /^audit-images: error: \S+notes\.txt has no FROM: is it a Dockerfile\? fix --dockerfile$/,
      ],
      [
        ['--dockerfile', good, '--compose', join(dir, 'compose.yaml'), '--service', 'api'],
        /^audit-images: error: compose file \S+ does not exist here: fix `--compose`$/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = runbook('audit-images', ['--config', noHost, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr.trim()).toMatch(re);
      expect(r.stdout).toBe('');
    }
  });
});
