import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../engine/config.ts';
import { appChanges, containerUser, userMismatches } from './app-changes.ts';
import { specSchema, type Spec } from './spec.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const SDLAB = () => loadConfig(resolve(ROOT, 'runbooks/specs/sdlab.yaml'), specSchema);
const CHM = () => loadConfig(resolve(ROOT, 'runbooks/specs/chm.yaml'), specSchema);
const dir = mkdtempSync(join(tmpdir(), 'app-changes-'));
/** sdlab with web built from DOCKERFILE's text. */
const withWebDockerfile = (text: string): Spec => {
  const s = SDLAB();
  const path = join(dir, `web-${Math.random().toString(36).slice(2)}.Dockerfile`);
  writeFileSync(path, text);
  const web = s.services.web;
  return {
    ...s,
    services: { ...s.services, web: { ...web, build: { ...web.build, dockerfile: path } as typeof web.build } },
  };
};

describe('what changes for the app', () => {
  it("reads each container's user from its Dockerfile's final stage, or says the image decides", () => {
    const s = CHM();
    expect(containerUser(s, 'backend', ROOT)).toEqual({ user: '10001', from: "compose/Dockerfile.backend's USER" });
    expect(containerUser(s, 'frontend', ROOT).user).toBe('node'); // the runner stage, not the builder
    const sd = SDLAB();
    expect(containerUser(sd, 'db', ROOT)).toEqual({ user: undefined, from: "the image postgres:16-alpine's own USER" });
    const root = withWebDockerfile('FROM python:3.11-slim AS b\nUSER 5\nFROM python:3.11-slim\nCMD ["x"]\n');
    expect(containerUser(root, 'web', ROOT).user).toBe('root'); // USER in another stage does not carry over
  });

  it('names the client address nginx gives, the loopback names in env, and who runs as whom', () => {
    const s = SDLAB();
    const lines = appChanges(
      {
        ...s,
        services: {
          ...s.services,
          web: {
            ...s.services.web,
            env: {
              ...s.services.web.env,
              REDIS_URL: 'redis://localhost:6379/0',
              SELF: 'http://127.0.0.1:8100',
              OTHER: 'mylocalhost.example',
            },
          },
        },
      },
      ROOT,
    );
    expect(lines[0]).toMatch(/^Client address: web sees every request come from nginx's container .*X-Forwarded-For/);
    expect(lines.filter((l) => l.includes('names loopback')).map((l) => l.split(' names')[0].trim())).toEqual([
      'web: env REDIS_URL=redis://localhost:6379/0',
      'web: env SELF=http://127.0.0.1:8100',
    ]);
    expect(lines.at(-1)).toBe(
      'Schedule: prune: a scheduled job, run in its own container 2s after it starts, then every 1h (an interval: a calendar schedule on bare metal runs at its period, not at its clock times): python3 /app/sdlab_prune.py.',
    );
    expect(lines.at(-2)).toBe(
      "User: web as 10001 (runbooks/specs/sdlab/web.Dockerfile's USER), worker as 10001 (runbooks/specs/sdlab/worker.Dockerfile's USER), prune as 10001 (runbooks/specs/sdlab/prune.Dockerfile's USER), db as the image decides (the image postgres:16-alpine's own USER); the volumes' files are owned by appdb 10001:10001, uploads 10001:10001; on bare metal the data was sdlab's.",
    );
  });

  it('refuses a writer whose numeric USER does not own the volume it writes, naming the field and both fixes', () => {
    expect(userMismatches(SDLAB(), ROOT)).toEqual([]);
    expect(userMismatches(CHM(), ROOT)).toEqual([]);
    const s = withWebDockerfile('FROM python:3.11-slim\nUSER 1000:1000\n');
    expect(userMismatches(s, ROOT)).toEqual([
      [
        'services.web.uid',
        expect.stringMatching(
          /^web runs as 1000 .* but appdb's volume is given to 10001: set services\.web\.uid to 1000/,
        ),
      ],
      ['services.web.uid', expect.stringMatching(/uploads's volume is given to 10001/)],
    ]);
    expect(userMismatches(withWebDockerfile('FROM python:3.11-slim\nUSER app\n'), ROOT)).toEqual([]); // a name: only the image knows
  });
});
