import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { fateOf, keptFile, resolvePath, scanSavedImage } from './layers.ts';

type Ent = {
  name: string;
  body?: string | Buffer;
  type?: 'directory' | 'symlink' | 'file';
  linkname?: string;
  mode?: number;
};

async function tarOf(entries: Ent[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    if (e.type === 'directory') p.entry({ name: e.name, type: 'directory', mode: 0o755 });
    else if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: e.linkname });
    else p.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.body ?? '');
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A legacy `docker save` archive: <id>/layer.tar per layer (the second copy of a layer is a symlink), a config, manifest.json last. */
async function savedImage(layers: Ent[][], history: { created_by: string; empty_layer?: boolean }[]): Promise<Buffer> {
  const tars = await Promise.all(layers.map(tarOf));
  const ids = layers.map((_, i) => `${String(i).repeat(8)}`);
  const entries: Ent[] = [];
  // out of order on purpose: the manifest, not the archive order, gives the layer order
  for (const i of [...ids.keys()].reverse())
    entries.push({ name: `${ids[i]}/`, type: 'directory' }, { name: `${ids[i]}/layer.tar`, body: tars[i] });
  entries.push({
    name: 'abc.json',
    body: JSON.stringify({ history, rootfs: { diff_ids: ids.map((x) => `sha256:${x}`) } }),
  });
  entries.push({
    name: 'manifest.json',
    body: JSON.stringify([{ Config: 'abc.json', Layers: ids.map((x) => `${x}/layer.tar`) }]),
  });
  return tarOf(entries);
}

describe('docker save stream scanner', () => {
  it('applies whiteouts and opaque dirs, and knows a secret added in one layer and deleted in a later one', async () => {
    const img = await savedImage(
      [
        [
          { name: 'usr/', type: 'directory' },
          { name: 'usr/bin/', type: 'directory' },
          { name: 'usr/bin/dash', body: 'ELF', mode: 0o755 },
          { name: 'usr/bin/curl', body: 'ELF', mode: 0o755 },
          { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
          { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\napp:x:10001:10001::/home/app:/bin/sh\n' },
          { name: 'etc/ssl/certs/ca.pem', body: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
          { name: 'cache/', type: 'directory' },
          { name: 'cache/a.txt', body: 'old' },
        ],
        [
          { name: 'app/', type: 'directory' },
          { name: 'app/.env', body: 'OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz\n' },
          { name: 'app/conf.ini', body: 'db_password=hunter22\n' },
          { name: 'app/big.bin', body: Buffer.alloc(2 * 1024 * 1024) }, // > 1 MB: skipped, but recorded
        ],
        [
          { name: 'app/.wh..env', body: '' },
          { name: 'usr/bin/.wh.curl', body: '' },
          { name: 'cache/.wh..wh..opq', body: '' },
          { name: 'cache/b.txt', body: 'new' },
        ],
      ],
      [
        { created_by: '/bin/sh -c #(nop) ADD file:abc in /' },
        { created_by: '/bin/sh -c #(nop)  CMD ["sh"]', empty_layer: true },
        { created_by: '/bin/sh -c #(nop) COPY dir:x in /app' },
        { created_by: '/bin/sh -c rm -f /app/.env /usr/bin/curl' },
      ],
    );
    const fs = await scanSavedImage(Readable.from([img]));
    expect(fs.layers).toHaveLength(3);
    expect(fs.config?.history).toHaveLength(4);

    // merged view: whiteouts remove, the opaque dir hides the lower contents only
    expect(fs.merged.has('app/.env')).toBe(false);
    expect(fs.merged.has('usr/bin/curl')).toBe(false);
    expect(fs.merged.has('cache/a.txt')).toBe(false);
    expect(fs.merged.get('cache/b.txt')?.layer).toBe(2);
    expect(fs.merged.get('app/big.bin')?.size).toBe(2 * 1024 * 1024);

    // secrets: by name + content in layer 1 (0-based), config-file password; the CA bundle is not one
    const secrets = fs.layers.flatMap((l, i) => l.secrets.map((s) => ({ ...s, layer: i })));
    expect(secrets.map((s) => `${s.layer}:${s.path}`).sort()).toEqual(['1:app/.env', '1:app/conf.ini']);
    expect(secrets.find((s) => s.path === 'app/.env')?.why).toMatch(/secret file name; OpenAI-style API key/);
    expect(fateOf(fs, 1, 'app/.env')).toEqual({ visible: false, by: 2, how: 'deleted' });
    expect(fateOf(fs, 1, 'app/conf.ini')).toEqual({ visible: true });

    // lookups through symlinks (usrmerge: /bin -> usr/bin), and kept files
    expect(resolvePath(fs.merged, '/bin/dash')?.path).toBe('usr/bin/dash');
    expect(resolvePath(fs.merged, '/bin/curl')).toBeUndefined();
    expect(keptFile(fs, 'etc/passwd')?.toString()).toContain('app:x:10001');
  });

  it('a file replaced in a later layer is reported as replaced', async () => {
    const img = await savedImage(
      [[{ name: 'root/.ssh/id_rsa', body: 'x' }], [{ name: 'root/.ssh/id_rsa', body: 'y' }]],
      [{ created_by: 'a' }, { created_by: 'b' }],
    );
    const fs = await scanSavedImage(Readable.from([img]));
    expect(fateOf(fs, 0, 'root/.ssh/id_rsa')).toEqual({ visible: false, by: 1, how: 'replaced' });
  });

  it('refuses a stream that is not a docker save archive', async () => {
    const notImage = await tarOf([{ name: 'hello.txt', body: 'hi' }]);
    await expect(scanSavedImage(Readable.from([notImage]))).rejects.toThrow(/no manifest.json/);
  });
});
