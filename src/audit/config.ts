import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';
import { CHECK_IDS, type CheckId } from './checks.ts';

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1e3,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1e6,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1e9,
  GIB: 1024 ** 3,
};

/** "700MB", "1.5GiB", 734003200 -> bytes. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return v >= 0 ? v : undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  const unit = m ? UNITS[m[2].toUpperCase()] : undefined;
  return m && unit ? Math.round(Number(m[1]) * unit) : undefined;
}

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `not a size: ${v}` });
    return z.NEVER;
  }
  return n;
});

const checkId = z.string().refine((v): v is CheckId => (CHECK_IDS as string[]).includes(v), {
  message: `unknown check (checks: ${CHECK_IDS.join(', ')})`,
});

export const imageSchema = z
  .object({
    /** image name on the host, e.g. todo-backend:good */
    name: z.string().min(1),
    /** the Dockerfile on the host that builds it (optional: without it, Dockerfile checks are –) */
    dockerfile: z.string().min(1).optional(),
    /** the build context on the host (default: the Dockerfile's directory) */
    context: z.string().min(1).optional(),
    /** the compose file on the host that runs it, and the service */
    compose: z
      .object({ file: z.string().min(1), service: z.string().min(1) })
      .strict()
      .optional(),
    sizeBudget: size.optional(),
    fatal: z.array(checkId).optional(),
  })
  .strict();

export const auditSchema = z
  .object({
    ssh: sshSchema,
    /** default budget for images that set none */
    sizeBudget: size.default(1024 ** 3),
    /** checks whose failure makes the run exit 1 (per image: `fatal` there replaces this) */
    fatal: z.array(checkId).default(['non-root', 'secrets']),
    /** image paths never reported as secrets (e.g. a test fixture key you ship on purpose) */
    ignoreSecretPaths: z.array(z.string()).default([]),
    images: z.array(imageSchema).default([]),
  })
  .strict();

export type AuditConfig = z.infer<typeof auditSchema>;
export type ImageConfig = z.infer<typeof imageSchema>;

export const auditExamples: Record<string, string> = {
  ...sshExamples,
  images: 'images: [{ name: todo-backend:good, dockerfile: /srv/todo/backend/Dockerfile }]',
  'images.name': 'name: todo-backend:1.4.2',
  'images.dockerfile': 'dockerfile: /srv/todo/backend/Dockerfile',
  'images.context': 'context: /srv/todo/backend',
  'images.compose': 'compose: { file: /srv/todo/compose.yaml, service: backend }',
  'images.sizeBudget': 'sizeBudget: 700MB',
  'images.fatal': 'fatal: [non-root, secrets]',
  sizeBudget: 'sizeBudget: 1GB',
  fatal: `fatal: [non-root, secrets, healthcheck]  (checks: ${CHECK_IDS.join(', ')})`,
};
