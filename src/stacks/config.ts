import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';

const name = z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/, 'a compose service or project name');

/** A stack's validation checklist (seeds 000-002), as data: what verify-stack checks and how. */
export const stackSchema = z.object({
  ssh: sshSchema,
  stack: z.object({
    /** Where the compose files live on the host; relative `files` and `envFile` are relative to it. */
    dir: z.string().startsWith('/'),
    /** The compose project name (`docker compose -p`). */
    project: name,
    files: z.array(z.string().min(1)).min(1),
    envFile: z.string().optional(),
  }),
  /** Every service running and healthy within this many seconds (from up, restart, down+up). */
  deadlineSeconds: z.number().int().min(1).max(3600).default(60),
  checks: z
    .object({
      config: z.boolean().default(true),
      ports: z.boolean().default(true),
      healthy: z.boolean().default(true),
      /** URLs on the host that must answer 2xx once the stack is up (a published port). */
      answers: z.array(z.string().url()).default([]),
      /** Reachability by service name, from inside the `from` container; `path`: an HTTP GET that must answer 2xx. */
      reach: z
        .array(
          z.object({
            from: name,
            to: name,
            port: z.number().int().min(1).max(65535),
            path: z.string().startsWith('/').optional(),
          }),
        )
        .default([]),
      /** Env variables allowed to name localhost (browser-side URLs: the browser runs on the host). */
      allowLocalhost: z.array(z.string()).default([]),
      logs: z.boolean().default(true),
      restart: z.boolean().default(true),
      /** Markers written before `down` and read back after `up`: a row in postgres, a key in redis. */
      persist: z
        .array(
          z.discriminatedUnion('kind', [
            z.object({ kind: z.literal('postgres'), service: name, user: z.string(), db: z.string() }),
            z.object({ kind: z.literal('redis'), service: name }),
          ]),
        )
        .default([]),
      /** Other overlay sets that must come up too (seed 002: prod), each checked at `url` once up. */
      overlays: z
        .array(z.object({ name, files: z.array(z.string().min(1)).min(1), url: z.string().url().optional() }))
        .default([]),
    })
    .prefault({}),
  /**
   * Start from empty volumes (`down -v` before `up`): destroys the stack's data, so it is refused
   * unless confirmVolumes names every volume it would delete.
   */
  freshVolumes: z.boolean().default(false),
  confirmVolumes: z.array(z.string()).default([]),
});

export type StackConfig = z.infer<typeof stackSchema>;

export const stackExamples: Record<string, string> = {
  ...sshExamples,
  stack: 'stack: { dir: /home/ubuntu/stacks/dimini, project: dimini, files: [docker-compose.local-prod.yml] }',
  'stack.dir': 'dir: /home/ubuntu/stacks/dimini',
  'stack.files': 'files: [docker/docker-compose.yml, docker/docker-compose.dev.yml]',
  'checks.reach':
    'reach: [{ from: rtserver, to: backendai, port: 8000, path: /health }, { from: rtserver, to: redis, port: 6379 }]',
  'checks.persist':
    'persist: [{ kind: postgres, service: postgres, user: dimini_user, db: dimini_db }, { kind: redis, service: redis }]',
  'checks.overlays':
    'overlays: [{ name: prod, files: [docker/docker-compose.yml, docker/docker-compose.prod.yml], url: http://127.0.0.1:3001/api/health }]',
  confirmVolumes: 'confirmVolumes: [dimini_postgres_data_local]',
};
