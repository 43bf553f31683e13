/**
 * Reads an image as `docker save` streams it (legacy `<id>/layer.tar` or OCI `blobs/sha256/…`),
 * tar inside tar, in one pass: nothing is written to disk, nothing large is held in memory. Per layer
 * it records every entry (path, type, mode, size), whiteouts and opaque dirs, keeps the content of
 * the few small files the checks read (passwd, package databases, package.json), and scans small
 * text files for secrets as they go by. The merged filesystem (what a container sees) is computed
 * afterwards from the per-layer records, honouring whiteouts, so layers may arrive in any order.
 */
import { PassThrough, type Readable } from 'node:stream';
import { extract, type Header as Headers } from 'tar-stream';

// tar-stream's entry streams are streamx Readables: the same events and pipe() as node's.
const asReadable = (s: unknown) => s as Readable;
import { CONFIG_TOKEN, configLike, isText, scanText, secretFileName } from './secrets.ts';

export const SMALL_FILE = 1024 * 1024;

export type EntryType = 'file' | 'dir' | 'symlink' | 'link' | 'other';
export interface Entry {
  layer: number;
  type: EntryType;
  mode: number;
  size: number;
  link?: string;
}

export interface LayerScan {
  /** entries by normalized path (no leading slash) */
  entries: Map<string, Omit<Entry, 'layer'>>;
  /** paths deleted by this layer (.wh.NAME) */
  whiteouts: string[];
  /** dirs whose lower-layer contents this layer hides (.wh..wh..opq) */
  opaque: string[];
  /** secrets found in this layer's files */
  secrets: { path: string; why: string; size: number }[];
  /** contents of the files the checks read */
  kept: Map<string, Buffer>;
  bytes: number;
}

export interface ImageFs {
  layers: LayerScan[];
  merged: Map<string, Entry>;
  /** the image config from the archive: its history has the empty_layer flags the API's lacks */
  config?: { history?: { created_by?: string; empty_layer?: boolean }[]; rootfs?: { diff_ids?: string[] } };
}

/** Files whose content the checks need (all small). */
export function wanted(path: string): number {
  if (path === 'etc/passwd' || path === 'etc/group') return SMALL_FILE;
  if (path === 'var/lib/dpkg/status' || path === 'lib/apk/db/installed') return 16 * SMALL_FILE;
  if (path.endsWith('/package.json') && !path.includes('node_modules/')) return SMALL_FILE;
  return 0;
}

export const normPath = (p: string) => p.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
const typeOf = (h: Headers): EntryType =>
  h.type === 'file' || h.type === 'contiguous-file'
    ? 'file'
    : h.type === 'directory'
      ? 'dir'
      : h.type === 'symlink'
        ? 'symlink'
        : h.type === 'link'
          ? 'link'
          : 'other';

function readAll(stream: Readable, max: number): Promise<Buffer | undefined> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let n = 0;
    stream.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= max) chunks.push(c);
    });
    stream.on('end', () => res(n <= max ? Buffer.concat(chunks) : undefined));
    stream.on('error', rej);
  });
}

const drain = (stream: Readable) =>
  new Promise<void>((res, rej) => {
    stream.on('end', res);
    stream.on('error', rej);
    stream.resume();
  });

/** One layer's tar, streamed. */
export async function scanLayer(stream: Readable): Promise<LayerScan> {
  const scan: LayerScan = { entries: new Map(), whiteouts: [], opaque: [], secrets: [], kept: new Map(), bytes: 0 };
  const ex = extract();
  const done = new Promise<void>((res, rej) => {
    ex.on('finish', res);
    ex.on('error', rej);
  });
  ex.on('entry', (h, body, next) => {
    handleEntry(scan, h, asReadable(body)).then(
      () => next(),
      (e) => next(e),
    );
  });
  stream.on('error', (e) => ex.destroy(e));
  stream.pipe(ex);
  await done;
  return scan;
}

async function handleEntry(scan: LayerScan, h: Headers, body: Readable): Promise<void> {
  const path = normPath(h.name);
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (base === '.wh..wh..opq') {
    scan.opaque.push(dir);
    return drain(body);
  }
  if (base.startsWith('.wh.')) {
    scan.whiteouts.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
    return drain(body);
  }
  if (!path) return drain(body);
  const type = typeOf(h);
  const size = h.size ?? 0;
  scan.bytes += size;
  scan.entries.set(path, { type, mode: h.mode ?? 0, size, ...(h.linkname ? { link: h.linkname } : {}) });
  if (type !== 'file' || size === 0) return drain(body);
  const keep = wanted(path);
  const byName = secretFileName(path);
  if (size > Math.max(SMALL_FILE, keep)) {
    if (byName === 'secret') scan.secrets.push({ path, why: 'secret file name', size });
    return drain(body);
  }
  const data = await readAll(body, Math.max(SMALL_FILE, keep));
  if (!data) return;
  if (keep) scan.kept.set(path, data);
  if (byName === 'secret') {
    const hit = isText(data) ? scanText(data.toString('utf8'), { configFile: true })[0] : undefined;
    scan.secrets.push({
      path,
      why: `secret file name${hit ? `; ${hit.pattern} on line ${hit.line}: ${hit.excerpt}` : ''}`,
      size,
    });
    return;
  }
  if (size > SMALL_FILE || !prefilter(data) || !isText(data)) return;
  const text = data.toString('utf8');
  if (byName === 'maybe' && /\.(npmrc|pypirc|netrc)$/.test(path)) {
    if (CONFIG_TOKEN.test(text)) scan.secrets.push({ path, why: 'credentials file with a token/password', size });
    return;
  }
  const hits = scanText(text, { configFile: configLike(path), yaml: /\.ya?ml$/.test(path) });
  if (hits.length)
    scan.secrets.push({ path, why: hits.map((x) => `${x.pattern} on line ${x.line}: ${x.excerpt}`).join('; '), size });
}

/** Cheap byte search before any regex: most files hold none of these. */
const NEEDLES = ['sk-', 'AKIA', 'PRIVATE KEY', 'assword', 'ASSWORD', 'asswd', 'ASSWD', '_auth'].map((s) =>
  Buffer.from(s),
);
const prefilter = (b: Buffer) => NEEDLES.some((n) => b.includes(n));

/**
 * A whole `docker save` stream. `layerOrder` is not needed up front: the manifest inside the stream
 * gives the order; layers are matched to it by their entry name (symlinked duplicates included).
 */
export async function scanSavedImage(stream: Readable): Promise<ImageFs> {
  const byName = new Map<string, LayerScan>();
  const links = new Map<string, string>();
  let manifest: { Layers?: string[]; Config?: string }[] | undefined;
  const small = new Map<string, Buffer>();
  const ex = extract();
  const done = new Promise<void>((res, rej) => {
    ex.on('finish', res);
    ex.on('error', rej);
  });
  ex.on('entry', (h, entry, next) => {
    const body = asReadable(entry);
    const name = normPath(h.name);
    const step = async () => {
      if (h.type === 'symlink' && h.linkname) {
        links.set(name, normPath(joinPath(name, h.linkname)));
        return drain(body);
      }
      if (name === 'manifest.json') {
        const data = await readAll(body, 16 * SMALL_FILE);
        manifest = data ? JSON.parse(data.toString('utf8')) : undefined;
        return;
      }
      if (h.type === 'file' && name.endsWith('.json')) {
        const data = await readAll(body, 16 * SMALL_FILE);
        if (data) small.set(name, data);
        return;
      }
      if (h.type !== 'file' || !(name.endsWith('/layer.tar') || name.startsWith('blobs/'))) return drain(body);
      const peeked = await peekTar(body);
      if ('tar' in peeked) byName.set(name, await scanLayer(peeked.tar));
      else if (peeked.data) small.set(name, peeked.data); // a config or manifest blob
    };
    step().then(
      () => next(),
      (e) => next(e),
    );
  });
  stream.on('error', (e) => ex.destroy(e));
  stream.pipe(ex);
  await done;
  if (!manifest?.[0]?.Layers) throw new Error('the image stream has no manifest.json: not a docker save archive');
  const empty = (): LayerScan => ({
    entries: new Map(),
    whiteouts: [],
    opaque: [],
    secrets: [],
    kept: new Map(),
    bytes: 0,
  });
  const layers = manifest[0].Layers.map((l) => {
    const n = normPath(l);
    return byName.get(n) ?? byName.get(links.get(n) ?? '') ?? empty();
  });
  const cfg = manifest[0].Config ? small.get(normPath(manifest[0].Config)) : undefined;
  return { layers, merged: mergeLayers(layers), ...(cfg ? { config: JSON.parse(cfg.toString('utf8')) } : {}) };
}

function joinPath(from: string, link: string): string {
  if (link.startsWith('/')) return link;
  const parts = from.split('/').slice(0, -1);
  for (const p of link.split('/')) {
    if (p === '..') parts.pop();
    else if (p && p !== '.') parts.push(p);
  }
  return parts.join('/');
}

/** Pass the stream on if it starts like a tar (ustar magic at 257); else read it (small JSON) or drain it. */
function peekTar(body: Readable): Promise<{ tar: Readable } | { data?: Buffer }> {
  return new Promise((res, rej) => {
    const head: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      head.push(c);
      n += c.length;
      if (n < 512) return;
      body.off('data', onData);
      body.off('end', onEnd);
      body.pause();
      const first = Buffer.concat(head);
      if (first.subarray(257, 262).toString('latin1') === 'ustar') {
        const out = new PassThrough({ highWaterMark: 1024 * 1024 });
        out.write(first);
        body.pipe(out);
        return res({ tar: out });
      }
      readAll(body, 16 * SMALL_FILE).then(
        (rest) => res({ data: rest ? Buffer.concat([first, rest]) : undefined }),
        rej,
      );
    };
    const onEnd = () => res({ data: Buffer.concat(head) }); // shorter than one tar header: small JSON
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', rej);
  });
}

const under = (p: string, dir: string) => dir === '' || p === dir || p.startsWith(`${dir}/`);

/** Apply the layers in order: what a container of this image sees. */
export function mergeLayers(layers: LayerScan[]): Map<string, Entry> {
  const merged = new Map<string, Entry>();
  layers.forEach((l, i) => {
    for (const d of l.opaque) for (const p of merged.keys()) if (p !== d && under(p, d)) merged.delete(p);
    for (const w of l.whiteouts) for (const p of merged.keys()) if (under(p, w)) merged.delete(p);
    for (const [p, e] of l.entries) merged.set(p, { ...e, layer: i });
  });
  return merged;
}

/**
 * What became of a file layer `layer` added: still visible, or the later layer that deleted it
 * (whiteout of it or a parent, or an opaque parent) or replaced it.
 */
export function fateOf(
  fs: ImageFs,
  layer: number,
  path: string,
): { visible: true } | { visible: false; by: number; how: 'deleted' | 'replaced' } {
  for (let m = layer + 1; m < fs.layers.length; m++) {
    const l = fs.layers[m];
    if (l.whiteouts.some((w) => under(path, w)) || l.opaque.some((d) => path !== d && under(path, d)))
      return { visible: false, by: m, how: 'deleted' };
    if (l.entries.has(path)) return { visible: false, by: m, how: 'replaced' };
  }
  return { visible: true };
}

/** The newest visible copy of a kept file. */
export function keptFile(fs: ImageFs, path: string): Buffer | undefined {
  const e = fs.merged.get(path);
  return e ? fs.layers[e.layer].kept.get(path) : undefined;
}

/**
 * Resolve a path in the merged filesystem, following symlinks in every component (usrmerge makes
 * /bin a link to usr/bin). Returns the final path and its entry, or undefined.
 */
export function resolvePath(
  merged: Map<string, Entry>,
  path: string,
  depth = 0,
): { path: string; entry: Entry } | undefined {
  if (depth > 20) return undefined;
  const parts = normPath(path).split('/').filter(Boolean);
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    const next = cur ? `${cur}/${parts[i]}` : parts[i];
    const e = merged.get(next);
    if (!e) {
      if (i === parts.length - 1) return undefined;
      cur = next; // a parent dir a layer did not list: implied by its children
      continue;
    }
    if (e.type === 'symlink' && e.link !== undefined) {
      const target = e.link.startsWith('/') ? normPath(e.link) : normPath(joinPath(next, e.link));
      const rest = parts.slice(i + 1).join('/');
      return resolvePath(merged, rest ? `${target}/${rest}` : target, depth + 1);
    }
    if (e.type === 'link' && e.link !== undefined && i === parts.length - 1) {
      const t = merged.get(normPath(e.link));
      return t ? { path: next, entry: { ...t, layer: e.layer } } : { path: next, entry: e };
    }
    cur = next;
  }
  const entry = merged.get(cur);
  return entry ? { path: cur, entry } : undefined;
}
