// AI Whisperers web stand-in (one service: pages + API routes). /api/health really uses
// DATABASE_URL (psql, the image's PostgreSQL client) and REDIS_URL (RESP over TCP).
const http = require('node:http');
const { execFile } = require('node:child_process');
const redis = require('./resp.js');

const { DATABASE_URL, REDIS_URL } = process.env;
for (const [k, v] of Object.entries({ DATABASE_URL, REDIS_URL })) if (!v) { console.error(`web: ${k} is not set`); process.exit(1); }
const mode = process.argv.includes('--dev') ? 'development server' : 'production server';
// Prisma's ?schema=public is not a libpq parameter
const pgUrl = DATABASE_URL.replace(/\?.*$/, '');

const sql = (q) => new Promise((resolve, reject) =>
  execFile('psql', [pgUrl, '-XtAq', '-v', 'ON_ERROR_STOP=1', '-c', q], { timeout: 5000 }, (e, out, err) => (e ? reject(new Error((err || e.message).trim())) : resolve(out.trim()))));

const json = (res, code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };

http.createServer(async (req, res) => {
  try {
    if (req.url === '/api/health') {
      const [db, cache] = await Promise.allSettled([
        sql('SELECT 1'),
        redis.command(new URL(REDIS_URL).hostname, Number(new URL(REDIS_URL).port || 6379), ['PING']),
      ]);
      const ok = db.status === 'fulfilled' && cache.status === 'fulfilled';
      if (!ok) console.error(`web: health: db ${db.reason?.message ?? 'ok'}, redis ${cache.reason?.message ?? 'ok'}`);
      return json(res, ok ? 200 : 503, {
        status: ok ? 'ok' : 'degraded', mode, env: process.env.NODE_ENV,
        database: db.status === 'fulfilled' ? 'ok' : db.reason.message, redis: cache.status === 'fulfilled' ? cache.value : cache.reason.message,
      });
    }
    if (req.url === '/api/visits') {
      const n = await redis.command(new URL(REDIS_URL).hostname, Number(new URL(REDIS_URL).port || 6379), ['INCR', 'web:visits']);
      return json(res, 200, { visits: n });
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>AI Whisperers</title><p>AI Whisperers (${mode})</p>`);
  } catch (e) {
    console.error(`web: ${req.url}: ${e.message}`);
    json(res, 500, { error: e.message });
  }
}).listen(3000, '0.0.0.0', () => console.log(`web (${mode}, NODE_ENV=${process.env.NODE_ENV}) listening on :3000`));
// As `next start` does: end on SIGTERM. Node as PID 1 ignores it otherwise, and every docker stop
// (compose restart, down, a recreate) waited its 10 s timeout for the kill.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
