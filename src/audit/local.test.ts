import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gatherLocal, listSensitive } from './local.ts';

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'audit-local-'));
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  return dir;
}

describe('a Dockerfile and its context on this machine', () => {
  it('lists what find lists on the host: secret-looking names, bulky dirs not descended into', () => {
    const dir = tree({
      Dockerfile: 'FROM a:1\n',
      '.env': 'X=1',
      '.env.example': '',
      'sub/id_rsa': 'k',
      'sub/cert.pem': '',
      'main.py': '',
      'node_modules/pkg/.env': 'inside a pruned dir',
      '.git/config': '',
    });
    expect(listSensitive(dir)).toEqual(['.env', '.env.example', '.git', 'node_modules', 'sub/cert.pem', 'sub/id_rsa']);
  });

  it('gathers the Dockerfile, its directory as the context, and the compose file with the .env beside it', async () => {
    const dir = tree({
      'app/Dockerfile': 'FROM node:20\nUSER 1000\n',
      'app/.dockerignore': '.env\n',
      'app/.env': 'K=v',
      'compose.yaml': 'services:\n  web:\n    mem_limit: ${MEM}\n',
      '.env': 'MEM=1g\n',
    });
    const compose = { file: join(dir, 'compose.yaml'), service: 'web' };
    const f = await gatherLocal({ dockerfile: join(dir, 'app/Dockerfile'), compose });
    expect(f.dockerfile.stages[0].from.image).toBe('node:20');
    expect(f.context).toMatchObject({ dir: join(dir, 'app'), dockerignore: '.env\n', files: ['.env'] });
    expect(f.compose).toMatchObject({ service: 'web', vars: { MEM: '1g' } });
  });

  it('bad input: one line naming the problem and the fix', async () => {
    const dir = tree({ 'notes.txt': 'hello\n', Dockerfile: 'FROM a:1\n' });
    await expect(gatherLocal({ dockerfile: join(dir, 'nope') })).rejects.toThrow(
      /^Dockerfile \S+nope does not exist: fix --dockerfile/,
    );
    await expect(gatherLocal({ dockerfile: dir })).rejects.toThrow(
      /a directory, not a file: give the Dockerfile's path$/,
    );
    await expect(gatherLocal({ dockerfile: join(dir, 'notes.txt') })).rejects.toThrow(
      /notes\.txt has no FROM: is it a Dockerfile\? fix --dockerfile$/,
    );
    await expect(gatherLocal({ dockerfile: join(dir, 'Dockerfile'), context: join(dir, 'gone') })).rejects.toThrow(
      /^build context \S+gone is not a readable directory here: fix `--context`/,
    );
    const compose = { file: join(dir, 'c.yaml'), service: 's' };
    await expect(gatherLocal({ dockerfile: join(dir, 'Dockerfile'), compose })).rejects.toThrow(
      /^compose file \S+c\.yaml does not exist here: fix `--compose`$/,
    );
  });
});
