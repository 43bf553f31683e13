import { z } from 'zod';
import { sshExamples, sshSchema } from '../engine/ssh-config.ts';
import { dockerName, hostPath, hostname, imageRef, ipv4, limits, RELATIVE_DIR, port, restartPolicy, serviceName, size, userName } from '../engine/values.ts';

/** A dir under chatbot.dir: relative, no `..`, nothing a docker -v mount would split (`:` `,`). */
const relDir = z.string().regex(RELATIVE_DIR, 'a dir under chatbot.dir, relative, without .., : or ,');

const service = z.object({
  manager: z.enum(['supervisor', 'pm2', 'systemd']),
  name: serviceName,
  port,
  /** pm2: the ecosystem file that starts it again on rollback. */
  ecosystem: z.string().optional(),
});

/**
 * How the containers run (seed 004's "resource limits" and "docker logs"): applied in the compose
 * file through the .env beside it (src/chm/deploy-files.ts). The defaults suit a small host; check
 * them against what the bare-metal processes use (`ps -o rss`) before a real run.
 */
const deploySchema = z.object({
  backend: limits('1g', 1),
  frontend: limits('512m', 0.5),
  nginx: limits('128m', 0.5),
  /** docker's json-file log driver, rotated: `docker logs` shows the newest maxFile × maxSize at most. */
  logs: z.object({ maxSize: size.default('10m'), maxFile: z.number().int().min(1).max(100).default(5) }).prefault({}),
  restart: restartPolicy.default('unless-stopped'),
}).prefault({});


export const chmSchema = z.object({
  ssh: sshSchema,
  chatbot: z.object({
    dir: hostPath,
    frontendDir: relDir.default('chm-chatbot-frontend'),
    data: z.object({ chroma: relDir.default('chroma_db'), pdfs: relDir.default('pdfs'), transcripts: relDir.default('transcripts') })
      .default({ chroma: 'chroma_db', pdfs: 'pdfs', transcripts: 'transcripts' }),
    owner: userName.default('ubuntu'),
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
    /**
     * How nginx passes /api/… to the backend. strip (the seed's `proxy_pass http://chatbot_backend/;`,
     * and what the real CHM backend needs: it serves its routes at the root, /api/health reaches
     * /health); keep: the backend gets /api/… as is (a backend that serves under /api/ itself).
     * healthPath and statsPath are the backend's own paths (as on bare metal); the checks through
     * nginx add /api in front of them with strip, and need them under /api/ with keep.
     */
    apiPrefix: z.enum(['strip', 'keep']).default('strip'),
    /** The backup's ChromaDB snapshot under a busy writer: copy passes, then (if allowed) a short pause of the writer. */
    snapshot: z.object({
      attempts: z.number().int().min(1).default(5),
      pauseWriter: z.boolean().default(true),
    }).default({ attempts: 5, pauseWriter: true }),
  }).superRefine((ch, ctx) => {
    if (ch.apiPrefix !== 'keep') return;
    for (const key of ['healthPath', 'statsPath'] as const) {
      const p = ch[key];
      if (p !== undefined && !p.startsWith('/api/'))
        ctx.addIssue({ code: 'custom', path: [key], message: `${p} cannot be reached through nginx with apiPrefix keep (nginx sends only /api/… to the backend, unchanged): use a path under /api/, or apiPrefix strip` });
    }
  }),
  mediahub: z.object({
    project: dockerName.default('mediahub'),
    network: dockerName.default('mediahub'),
    /** Paths checked through nginx with MediaHub's Host header after the deploy (each must answer 2xx). */
    checkPaths: z.array(z.string().startsWith('/')).default(['/']),
    postgres: z.object({ container: dockerName, user: z.string().min(1), db: z.string().min(1) }),
  }),
  hostnames: z.object({ chatbot: hostname, mediahub: hostname }),
  nginx: z.object({
    bind: ipv4.default('0.0.0.0'),
    port: z.number().int().min(1).max(65535).default(80),
    /**
     * Optional: a certificate (full chain) and its key, as paths on the host (preflight checks them).
     * Given, nginx serves both hostnames on tlsPort with them and redirects http to https.
     */
    tls: z.object({ cert: hostPath, key: hostPath }).optional(),
    tlsPort: z.number().int().min(1).max(65535).default(443),
  }).refine((n) => !n.tls || n.tlsPort !== n.port, { path: ['tlsPort'], message: 'must differ from nginx.port (http is redirected to it)' }).prefault({}),
  deploy: deploySchema,
  deployDir: hostPath,
  containerUid: z.number().int().default(10001),
  helperImage: imageRef.default('python:3.11-slim'),
  images: z.array(imageRef).default(['python:3.11-slim', 'node:20-alpine', 'nginx:alpine']),
  /** What `runbooks/cleanup-chm.ts` archives (moves into a dated dir; never deletes). */
  cleanup: z.object({
    paths: z.array(z.string().startsWith('/')).default([]),
    archiveDir: hostPath.default('/home/ubuntu/cutover-archive'),
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
  'nginx.tls': 'tls: { cert: /etc/letsencrypt/live/chatbot.chmedia.com/fullchain.pem, key: /etc/letsencrypt/live/chatbot.chmedia.com/privkey.pem }',
  'nginx.tls.cert': 'cert: /etc/letsencrypt/live/chatbot.chmedia.com/fullchain.pem',
  'nginx.tls.key': 'key: /etc/letsencrypt/live/chatbot.chmedia.com/privkey.pem',
  'nginx.tlsPort': 'tlsPort: 443',
  'chatbot.apiPrefix': 'apiPrefix: strip   # or keep',
  ...Object.fromEntries(['backend', 'frontend', 'nginx'].flatMap((s) => [[`deploy.${s}.memory`, 'memory: 512m   # or 1g'], [`deploy.${s}.cpus`, 'cpus: 0.5']])),
  'deploy.logs.maxSize': 'maxSize: 10m',
  'deploy.logs.maxFile': 'maxFile: 5',
  'deploy.restart': 'restart: unless-stopped   # or always, on-failure, no',
};
