import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';

const service = z.object({
  manager: z.enum(['supervisor', 'pm2', 'systemd']),
  name: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /** pm2: the ecosystem file that starts it again on rollback. */
  ecosystem: z.string().optional(),
});

export const chmSchema = z.object({
  ssh: sshSchema,
  chatbot: z.object({
    dir: z.string().startsWith('/'),
    frontendDir: z.string().default('chm-chatbot-frontend'),
    data: z.object({ chroma: z.string().default('chroma_db'), pdfs: z.string().default('pdfs'), transcripts: z.string().default('transcripts') }).default({ chroma: 'chroma_db', pdfs: 'pdfs', transcripts: 'transcripts' }),
    owner: z.string().regex(/^[a-z_][a-z0-9_-]*$/).default('ubuntu'),
    backend: service,
    frontend: service,
    /** Names of variables taken from the operator's environment and given to the backend container as secrets. */
    secretEnv: z.array(z.string().regex(/^[A-Z_][A-Z0-9_]*$/)).default([]),
    /**
     * App endpoints, optional extra checks (most apps have no stats endpoint): probed in preflight,
     * refused there when they do not answer. Without them every step relies on the tool's own checks
     * (the backend answers HTTP at all; data parity by the agent, file by file).
     */
    healthPath: z.string().startsWith('/').optional(),
    statsPath: z.string().startsWith('/').optional(),
    /** The backup's ChromaDB snapshot under a busy writer: copy passes, then (if allowed) a short pause of the writer. */
    snapshot: z.object({
      attempts: z.number().int().min(1).default(5),
      pauseWriter: z.boolean().default(true),
    }).default({ attempts: 5, pauseWriter: true }),
  }),
  mediahub: z.object({
    project: z.string().default('mediahub'),
    network: z.string().default('mediahub'),
    /** Paths checked through nginx with MediaHub's Host header after the deploy (each must answer 2xx). */
    checkPaths: z.array(z.string().startsWith('/')).default(['/']),
    postgres: z.object({ container: z.string(), user: z.string(), db: z.string() }),
  }),
  hostnames: z.object({ chatbot: z.string().min(1), mediahub: z.string().min(1) }),
  nginx: z.object({ bind: z.string().default('0.0.0.0'), port: z.number().int().min(1).max(65535).default(80) }).default({ bind: '0.0.0.0', port: 80 }),
  deployDir: z.string().startsWith('/'),
  containerUid: z.number().int().default(10001),
  helperImage: z.string().default('python:3.11-slim'),
  images: z.array(z.string()).default(['python:3.11-slim', 'node:20-alpine', 'nginx:alpine']),
  /** What `runbooks/cleanup-chm.ts` archives (moves into a dated dir; never deletes). */
  cleanup: z.object({
    paths: z.array(z.string().startsWith('/')).default([]),
    archiveDir: z.string().startsWith('/').default('/home/ubuntu/cutover-archive'),
  }).default({ paths: [], archiveDir: '/home/ubuntu/cutover-archive' }),
  /** Bytes of free space to keep on top of what the migration needs. */
  diskMargin: z.number().int().default(512 * 1024 * 1024),
});

export type ChmConfig = z.infer<typeof chmSchema>;

export const chmExamples: Record<string, string> = {
  ...sshExamples,
  'chatbot.dir': 'dir: /home/ubuntu/chm-chatbot',
  'chatbot.backend': 'backend: { manager: supervisor, name: chatbot-backend, port: 8000 }',
  'chatbot.backend.manager': 'manager: supervisor   # or pm2, systemd',
  'chatbot.frontend': 'frontend: { manager: pm2, name: chatbot-frontend, port: 3000 }',
  'chatbot.frontend.manager': 'manager: pm2   # or supervisor, systemd',
  'mediahub.postgres': 'postgres: { container: mediahub-postgres, user: mediahub, db: mediahub }',
  hostnames: 'hostnames: { chatbot: chatbot.chmedia.com, mediahub: mediahub.chmedia.com }',
  deployDir: 'deployDir: /home/ubuntu/chm-deploy',
  'nginx.port': 'port: 80',
};
