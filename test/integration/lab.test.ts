import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SshConnection } from '../../src/ssh/connection.ts';
import { SSH_DIR, getJson, ingest, labScript, labSsh, labTarget } from '../support/lab.ts';

describe('the lab is a faithful replica of the CHM host', () => {
  beforeAll(() => {
    const r = labScript('reset');
    expect(r.code, r.out).toBe(0);
  });

  it('ssh with the pinned key works (OpenSSH and ssh2)', async () => {
    expect(labSsh('id -un').trim()).toBe('ubuntu');
    expect(labSsh('sudo -n id -u').trim()).toBe('0');
    const conn = await SshConnection.connect(labTarget());
    try {
      const r = await conn.exec('echo "$USER" && id -nG');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^ubuntu\n.*\bdocker\b/);
    } finally {
      conn.close();
    }
  });

  it('a wrong host key is refused (OpenSSH and ssh2)', async () => {
    const wrong = resolve(SSH_DIR, 'known_hosts.wrong');
    const r = spawnSync(
      'ssh',
      ['-F', resolve(SSH_DIR, 'config'), '-o', `UserKnownHostsFile=${wrong}`, 'chm-lab', 'true'],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
    await expect(SshConnection.connect(labTarget({ knownHostsPath: wrong }))).rejects.toThrow(/HOST KEY CHANGED/);
    await expect(SshConnection.connect(labTarget({ knownHostsPath: '/dev/null' }))).rejects.toThrow(
      /is not in \/dev\/null/,
    );
  });

  it('password and unknown keys are refused: key-only auth', () => {
    const stranger = resolve(mkdtempSync(resolve(tmpdir(), 'k-')), 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
    const r = spawnSync(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-p',
        '2222',
        '-i',
        stranger,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        `UserKnownHostsFile=${resolve(SSH_DIR, 'known_hosts')}`,
        'ubuntu@127.0.0.1',
        'true',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('docker compose v2 answers over ssh, and the stand-in images never pull', () => {
    expect(labSsh('docker compose version')).toMatch(/version v?2\.\d+/);
    const out = labSsh(
      "docker run --rm --pull never python:3.11-slim python3 -c 'import fastapi, sys; print(sys.version_info[:2])'",
    );
    expect(out.trim()).toBe('(3, 11)');
  });

  it('each bare-metal endpoint answers, under its process manager', async () => {
    expect((await getJson('http://127.0.0.1:8000/health')).status).toBe('ok');
    expect((await getJson('http://127.0.0.1:3000/health')).status).toBe('ok');
    const page = await (await fetch('http://127.0.0.1:3000/')).text();
    expect(page).toContain('CHM Chatbot');
    const stats = await getJson('http://127.0.0.1:3000/api/stats');
    expect(Object.keys(stats.collections).length).toBeGreaterThanOrEqual(3);
    expect(stats.pdfs).toBeGreaterThan(10);
    expect(labSsh('sudo supervisorctl status chatbot-backend')).toMatch(/RUNNING/);
    expect(labSsh('pm2 jlist')).toMatch(/"name":"chatbot-frontend"/);
  });

  it('the ChromaDB dir is shaped like the real thing (WAL sqlite, segment dirs)', () => {
    const dir = '/home/ubuntu/chm-chatbot/chroma_db';
    expect(
      labSsh(
        `python3 -c "import sqlite3; print(sqlite3.connect('${dir}/chroma.sqlite3').execute('pragma journal_mode').fetchone()[0])"`,
      ).trim(),
    ).toBe('wal');
    const files = labSsh(`cd ${dir} && ls */ | sort -u`);
    for (const f of ['data_level0.bin', 'header.bin', 'length.bin', 'link_lists.bin', 'index_metadata.pickle'])
      expect(files).toContain(f);
    expect(labSsh('ls /home/ubuntu/chm-chatbot/pdfs')).toMatch(/ /);
  });

  it('/api/ingest changes /api/stats (a real write)', async () => {
    const before = await getJson('http://127.0.0.1:8000/api/stats');
    await ingest('a document written by the lab test');
    const after = await getJson('http://127.0.0.1:8000/api/stats');
    expect(after.collections.faq).toBe(before.collections.faq + 1);
    expect(after.digest).not.toBe(before.digest);
  });

  it('MediaHub backend reads from its PostgreSQL and Redis', async () => {
    const a = await getJson('http://127.0.0.1:8002/api/items');
    const b = await getJson('http://127.0.0.1:8002/api/items');
    const rows = execFileSync(
      'docker',
      ['exec', 'mediahub-postgres', 'psql', '-U', 'mediahub', '-tAc', 'select count(*) from items'],
      { encoding: 'utf8' },
    );
    expect(a.items.length).toBe(Number(rows.trim()));
    expect(b.hits).toBe(a.hits + 1);
    const hits = execFileSync('docker', ['exec', 'mediahub-redis', 'redis-cli', 'get', 'mediahub:hits'], {
      encoding: 'utf8',
    });
    expect(Number(hits.trim())).toBe(b.hits);
    expect(
      execFileSync('docker', ['network', 'inspect', 'mediahub', '-f', '{{len .Containers}}'], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('4');
  });

  it('lab:reset after a change brings back identical stats', async () => {
    labScript('reset');
    const pristine = await getJson('http://127.0.0.1:8000/api/stats');
    await ingest('change before reset');
    labSsh('echo stray > /home/ubuntu/chm-chatbot/pdfs/stray.pdf');
    expect((await getJson('http://127.0.0.1:8000/api/stats')).digest).not.toBe(pristine.digest);
    const r = labScript('reset');
    expect(r.code, r.out).toBe(0);
    expect(await getJson('http://127.0.0.1:8000/api/stats')).toEqual(pristine);
  });

  it('lab:reset removes what any run deployed, whatever its config: a deployDir elsewhere, the images it built', () => {
    const elsewhere = '/home/ubuntu/deploy-elsewhere';
    labSsh(
      `sudo mkdir -p ${elsewhere} /var/lib/cutover/runs/20261122-000000-abcd/created && sudo touch ${elsewhere}/compose.yaml /var/lib/cutover/runs/20261122-000000-abcd/created/home%2Fubuntu%2Fdeploy-elsewhere`,
    );
    execFileSync('docker', ['tag', 'python:3.11-slim', 'chm-chatbot-backend:20261122-000000-abcd']);
    expect(labScript('status').out).toMatch(/no migration leftovers .*FAIL|FAIL.*no migration leftovers/);
    const r = labScript('reset');
    expect(r.code, r.out).toBe(0);
    expect(labSsh(`test -e ${elsewhere} && echo present || echo gone`).trim()).toBe('gone');
    expect(
      execFileSync('docker', ['images', '-q', 'chm-chatbot-backend:20261122-000000-abcd'], { encoding: 'utf8' }).trim(),
    ).toBe('');
  });

  it('lab:status reports every part healthy', () => {
    const r = labScript('status');
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toMatch(/FAIL/);
  });
});
