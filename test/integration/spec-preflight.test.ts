import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hostFingerprint } from '../support/fingerprint.ts';
import { ROOT } from '../support/lab.ts';
import { labReset } from '../support/reset.ts';
import { sdlabDown, sdlabSsh, sdlabUp } from '../support/sdlab.ts';

/**
 * A spec checked against its host before anything is planned (runbooks/check-spec.ts): CHM's on the
 * lab, the systemd app's on the systemd host. Each wrong field is one line naming it; nothing changes.
 */
const TSX = resolve(ROOT, 'node_modules/.bin/tsx');
const dir = mkdtempSync(join(tmpdir(), 'spec-preflight-'));
const check = (spec: string) =>
  spawnSync(TSX, [resolve(ROOT, 'runbooks/check-spec.ts'), '--spec', spec], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true' },
  });
const problemLines = (r: { stdout: string }) => r.stdout.trim().split('\n').slice(1);
function variant(base: string, change: (s: Record<string, any>) => void): string {
  const raw = parse(readFileSync(resolve(ROOT, base), 'utf8'));
  change(raw);
  const file = join(dir, `${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(file, stringify(raw));
  return file;
}

describe('a spec checked on its host (read-only)', () => {
  beforeAll(() => {
    expect(labReset().code).toBe(0);
  });
  afterAll(() => {
    try {
      sdlabDown();
    } catch {
      /* best effort */
    }
  });

  it("CHM's spec holds on the lab; each field the host disagrees with is one line naming it; nothing changes", () => {
    const before = hostFingerprint();
    const good = check('runbooks/specs/chm.yaml');
    expect(good.status, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(
      /spec runbooks\/specs\/chm\.yaml holds on 127\.0\.0\.1: 2 services, 3 data sets, 1 neighbours checked/,
    );

    const bad = check(
      variant('runbooks/specs/chm.yaml', (s) => {
        s.services.backend.name = 'chatbot-backnd';
        s.services.frontend.name = 'chatbot-frontnd';
        s.services.frontend.build.context = '/home/ubuntu/chm-chatbot/no-such-frontend';
        s.data.pdfs.path = '/home/ubuntu/chm-chatbot/pdf';
        s.data.transcripts.kind = 'chromadb';
        s.neighbours[0].project = 'mediahb';
        s.images.push('redis:6');
        s.services.backend.check = { http: '/no-such-path' };
      }),
    );
    expect(bad.status, bad.stderr).toBe(1);
    const lines = bad.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.replace(/^ {2}- /, ''));
    const expected = [
      /^`services\.backend\.name`: supervisor has no program chatbot-backnd/,
      /^`services\.frontend\.name`: pm2 \(as ubuntu\) has no process chatbot-frontnd/,
      /^`services\.frontend\.build\.context`: \/home\/ubuntu\/chm-chatbot\/no-such-frontend is not a directory/,
      /^`data\.pdfs\.path`: \/home\/ubuntu\/chm-chatbot\/pdf is not a directory/,
      /^`data\.transcripts\.kind`: .* has no chroma\.sqlite3/,
      /^`neighbours\.0\.project`: no running container of compose project mediahb/,
      /^`images\.3`: no image redis:6 on the host/,
    ];
    for (const re of expected)
      expect(
        lines.filter((l) => re.test(l)),
        `${re}\n${bad.stdout}`,
      ).toHaveLength(1);
    // a wrong name is not also reported as a failed check (the check is read only of a service its manager knows)
    expect(lines).toHaveLength(expected.length);
    expect(hostFingerprint()).toEqual(before);

    const badPath = check(
      variant('runbooks/specs/chm.yaml', (s) => {
        s.services.backend.check = { http: '/no-such-path' };
      }),
    );
    expect(badPath.status).toBe(1);
    expect(badPath.stdout).toMatch(
      /`services\.backend\.check\.http`: chatbot-backend answers HTTP 404 at http:\/\/127\.0\.0\.1:8000\/no-such-path/,
    );
  });

  it("the systemd app's spec holds on the systemd host; a unit it does not have, a port nothing answers on and a missing data dir are each named", () => {
    sdlabUp();
    const good = check('runbooks/specs/sdlab.yaml');
    expect(good.status, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(
      /spec runbooks\/specs\/sdlab\.yaml holds on 127\.0\.0\.1: 4 services, 3 data sets, 0 neighbours checked/,
    );
    const bad = check(
      variant('runbooks/specs/sdlab.yaml', (s) => {
        s.services.worker.name = 'sdlab-wrker';
        s.services.web.port = 8101;
        s.data.appdb.path = '/srv/sdlab/nodata';
      }),
    );
    expect(bad.status).toBe(1);
    const lines = problemLines(bad);
    expect(lines, bad.stdout).toHaveLength(3);
    expect(bad.stdout).toMatch(
      /`services\.worker\.name`: systemd has no unit sdlab-wrker on the host \(LoadState not-found\)/,
    );
    expect(bad.stdout).toMatch(
      /`services\.web\.check\.http`: sdlab-web answers nothing at http:\/\/127\.0\.0\.1:8101\/health/,
    );
    expect(bad.stdout).toMatch(/`data\.appdb\.path`: \/srv\/sdlab\/nodata is not a directory on the host/);

    // The app's cron jobs, as root reads them on the host: the owner's own, and root's naming a data set's dir.
    sdlabSsh(`sudo mkdir -p /var/spool/cron/crontabs /etc/cron.d
      printf '%s\\n' '# an old job' '*/10 * * * * /usr/bin/python3 /opt/sdlab/sdlab_worker.py --once' | sudo tee /var/spool/cron/crontabs/sdlab >/dev/null
      printf '%s\\n' 'MAILTO=ops' '0 * * * * root find /srv/sdlab/uploads -name ".sdlab-tmp-*" -delete' | sudo tee /etc/cron.d/sdlab-prune >/dev/null`);
    try {
      const cron = check('runbooks/specs/sdlab.yaml');
      expect(cron.status).toBe(1);
      expect(problemLines(cron), cron.stdout).toHaveLength(2);
      expect(cron.stdout).toMatch(
        /`services\.web\.build\.context`: a cron job of sdlab in \/var\/spool\/cron\/crontabs\/sdlab \(`\*\/10 \* \* \* \* \/usr\/bin\/python3 \/opt\/sdlab\/sdlab_worker\.py --once`\) is the app's \(it names \/opt\/sdlab\)/,
      );
      expect(cron.stdout).toMatch(
        /`data\.uploads\.path`: a cron job of root in \/etc\/cron\.d\/sdlab-prune .*edit \/etc\/cron\.d\/sdlab-prune/,
      );
    } finally {
      sdlabSsh('sudo rm -f /var/spool/cron/crontabs/sdlab /etc/cron.d/sdlab-prune');
    }
  }, 180_000);

  it('a spec that breaks its own rules is refused before any host is asked (exit 2, one line)', () => {
    const r = check(
      variant('runbooks/specs/sdlab.yaml', (s) => {
        s.routes[0].service = 'api';
        s.ssh.port = 1;
      }),
    );
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/field `routes\.0\.service`: no service api \(services: web, worker, prune, db\)/);
  });
});
