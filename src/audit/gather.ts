/**
 * Everything the checks read, from the host: images through the Docker API over the forwarded
 * socket (inspect, and `docker save` streamed through the layer scanner), Dockerfiles, build
 * contexts and compose files over SSH. Read-only.
 */
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import type { SshConnection } from '../ssh/connection.ts';
import { UserError } from '../util/errors.ts';
import { shQuote } from '../util/quote.ts';
import type { ImageFacts, ImageInspect } from './audit.ts';
import { BULKY_DIRS, SENSITIVE_NAMES, gatherCompose, gatherContext, type Reader } from './context.ts';
import type { AuditConfig, ImageConfig } from './config.ts';
import type { DockerImages } from './docker.ts';
import { parseDockerfile } from './dockerfile.ts';
import { scanSavedImage } from './layers.ts';
import { collector } from './memory.ts';

export async function readRemote(conn: SshConnection, path: string): Promise<string | null> {
  const r = await conn.exec(`cat -- ${shQuote(path)}`, { maxBuffer: 16 * 1024 * 1024 });
  if (r.code === 0) return r.stdout;
  if (/No such file/.test(r.stderr)) return null;
  throw new UserError(`cannot read ${path} on the host: ${r.stderr.trim().split('\n')[0] || `cat exited ${r.code}`}`);
}

const SENSITIVE_FIND = [
  '(',
  ...BULKY_DIRS.flatMap((n, i) => [...(i ? ['-o'] : []), '-name', n]),
  ')',
  '-prune',
  '-print',
  '-o',
  '(',
  ...SENSITIVE_NAMES.flatMap((n, i) => [...(i ? ['-o'] : []), '-name', n]),
  ')',
  '-print',
];

/** The host's files, over SSH. */
export function remoteReader(conn: SshConnection): Reader {
  return {
    where: 'on the host',
    read: (path) => readRemote(conn, path),
    async sensitive(dir) {
      const find = `find . -mindepth 1 ${SENSITIVE_FIND.map(shQuote).join(' ')} | head -n 5000`;
      const r = await conn.exec(`cd ${shQuote(dir)} && ${find}`);
      if (r.code !== 0) throw new Error(r.stderr.trim().split('\n')[0]);
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((p) => p.replace(/^\.\//, ''));
    },
  };
}

export async function gatherImage(
  conn: SshConnection,
  docker: DockerImages,
  cfg: AuditConfig,
  img: ImageConfig,
  index: number,
): Promise<ImageFacts> {
  const field = `images[${index}]`;
  let inspect: ImageInspect;
  try {
    inspect = (await docker.getImage(img.name).inspect()) as unknown as ImageInspect;
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    if (status === 404)
      throw new UserError(
        `image ${img.name} is not on the host: build it there (docker build -t ${img.name} …) or fix \`${field}.name\``,
      );
    throw e;
  }
  let dockerfile: ImageFacts['dockerfile'];
  if (img.dockerfile) {
    const text = await readRemote(conn, img.dockerfile);
    if (text === null)
      throw new UserError(`Dockerfile ${img.dockerfile} does not exist on the host: fix \`${field}.dockerfile\``);
    dockerfile = parseDockerfile(img.dockerfile, text);
    if (!dockerfile.stages.length)
      throw new UserError(`${img.dockerfile} has no FROM: is it a Dockerfile? fix \`${field}.dockerfile\``);
  }
  const ctxDir = img.context ?? (img.dockerfile ? dirname(img.dockerfile) : undefined);
  const reader = remoteReader(conn);
  const ctxField = img.context ? `${field}.context` : `${field}.dockerfile`;
  const context = ctxDir ? await gatherContext(reader, ctxDir, ctxField) : undefined;
  const compose = img.compose ? await gatherCompose(reader, img.compose, `${field}.compose.file`) : undefined;

  const saved = (await docker.getImage(img.name).get()) as unknown as Readable;
  const collect = collector();
  let read = 0;
  let last = 0;
  // counted in the pipeline (a side 'data' listener would start the flow before the parser is attached)
  const counted = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      read += chunk.length;
      if (collect && read - last >= 8 * 1024 * 1024) {
        last = read;
        collect();
      }
      cb(null, chunk);
    },
  });
  saved.on('error', (e) => counted.destroy(e));
  const fs = await scanSavedImage(saved.pipe(counted));
  collect?.();
  return {
    name: img.name,
    inspect,
    fs,
    ...(dockerfile ? { dockerfile } : {}),
    ...(context ? { context } : {}),
    ...(compose ? { compose } : {}),
    sizeBudget: img.sizeBudget ?? cfg.sizeBudget,
    ignoreSecretPaths: cfg.ignoreSecretPaths,
  };
}
