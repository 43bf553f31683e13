import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';

/**
 * A compose PostgreSQL that pg.ts backs up, restores and resets. The clients (pg_dump, pg_restore,
 * psql) run inside its container over the local socket, so nothing is published or installed.
 */
export const pgSchema = z.object({
  ssh: sshSchema,
  postgres: z
    .object({
      /** The compose project and service of the database container (found by their labels), or `container`. */
      project: z.string().min(1).optional(),
      service: z.string().min(1).default('postgres'),
      container: z.string().min(1).optional(),
      user: z.string().min(1),
      db: z.string().min(1).max(63),
      /** Where psql connects to create, rename and drop databases (never the one being renamed). */
      maintenanceDb: z.string().min(1).default('postgres'),
      /** A variable in the operator's environment that holds the password, if the local socket asks for one. */
      passwordEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .optional(),
      /**
       * How long a swap's renames wait for a lock another session holds on the databases (an open
       * transaction that altered or commented one) before the swap fails, connections allowed again.
       */
      lockTimeoutSeconds: z.number().int().min(1).max(600).default(10),
    })
    .refine((p) => Boolean(p.project) !== Boolean(p.container), {
      message: 'give either postgres.project (with postgres.service) or postgres.container',
    }),
  backup: z
    .object({
      /**
       * How a backup is verified beyond sha256 on both ends: `restore` loads it into a scratch database,
       * compares every table's row count with the dump's snapshot and records each table's content sum
       * for later restores to match (needs room for a second copy); `list` only reads the whole dump
       * with pg_restore --list (restores are then checked by row counts only).
       */
      verify: z.enum(['restore', 'list']).default('restore'),
    })
    .prefault({}),
});

export type PgConfig = z.infer<typeof pgSchema>;

export const pgExamples: Record<string, string> = {
  ...sshExamples,
  postgres: 'postgres: { project: dimini, service: postgres, user: dimini_user, db: dimini_db }',
  'postgres.project': 'project: dimini',
  'postgres.user': 'user: dimini_user',
  'postgres.db': 'db: dimini_db',
  'backup.verify': 'verify: restore',
  'postgres.lockTimeoutSeconds': 'lockTimeoutSeconds: 10',
};
