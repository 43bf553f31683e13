import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describe as describeCmd, reviveSecrets, type UploadCommand } from './command.ts';
import { buildHostTool } from './host-tool.ts';

describe('host tool bundle (a Python package as one deterministic zip)', () => {
  const root = mkdtempSync(join(tmpdir(), 'host-tool-'));
  const pkg = join(root, 'pkg');
  mkdirSync(join(pkg, '__pycache__'), { recursive: true });
  const MAIN = 'import sys\nimport greet\nsys.exit(greet.hello(sys.argv[1:]))\n';
  const GREET = 'def hello(args):\n    print("hello from the zip: " + " ".join(args))\n    return 3\n';
  writeFileSync(join(pkg, '__main__.py'), MAIN);
  writeFileSync(join(pkg, 'greet.py'), GREET);
  writeFileSync(join(pkg, 'README'), 'not python: left out\n');
  writeFileSync(join(pkg, '__pycache__', 'greet.cpython-311.pyc'), 'left out');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("the same sources give the same bytes (not the files' times), sorted stored entries of every *.py", () => {
    const a = buildHostTool(pkg);
    utimesSync(join(pkg, 'greet.py'), new Date('2001-02-03'), new Date('2001-02-03'));
    const b = buildHostTool(pkg);
    expect(b.bundle.equals(a.bundle)).toBe(true);
    expect(a.sha256).toBe(createHash('sha256').update(a.bundle).digest('hex'));
    const z = join(root, 'a.pyz');
    writeFileSync(z, a.bundle);
    const r = spawnSync('python3', [
      '-c',
      `import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
print(z.testzip())
for i in z.infolist():
    print(i.filename, i.compress_type, i.date_time, oct(i.external_attr >> 16), i.file_size)
`,
      z,
    ]);
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toBe(
      'None\n' +
        `__main__.py 0 (1980, 1, 1, 0, 0, 0) 0o100644 ${MAIN.length}\n` +
        `greet.py 0 (1980, 1, 1, 0, 0, 0) 0o100644 ${GREET.length}\n`,
    );
  });

  it('python3 runs the zip: its __main__ imports a sibling module', () => {
    const z = join(root, 'tool.pyz');
    writeFileSync(z, buildHostTool(pkg).bundle);
    const r = spawnSync('python3', [z, 'a', 'b'], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toBe('hello from the zip: a b\n');
    expect(r.status).toBe(3);
  });

  it('as an upload: the plan counts its bytes; read back from a journal (JSON) it is the same bytes', () => {
    const { bundle } = buildHostTool(pkg);
    const up: UploadCommand = {
      kind: 'upload',
      path: '/var/lib/cutover/tool.pyz',
      content: bundle,
      mode: '755',
      sudo: true,
    };
    expect(describeCmd(up)).toBe(`upload (sudo): ${bundle.length} bytes -> /var/lib/cutover/tool.pyz (mode 755)`);
    const back = reviveSecrets(JSON.parse(JSON.stringify(up))) as UploadCommand;
    expect(Buffer.isBuffer(back.content) && back.content.equals(bundle)).toBe(true);
    expect(describeCmd(back)).toBe(describeCmd(up));
  });

  it('refuses a dir without __main__.py', () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'lib.py'), '');
    expect(() => buildHostTool(empty)).toThrow(/no __main__\.py/);
  });
});
