// rtserver stand-in: real HTTP to backendai by service name, a real key round trip through Redis.
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const redis = require('./resp.js');

const BACKENDAI_URL = process.env.BACKENDAI_URL;
const REDIS_HOST = process.env.REDIS_HOST;
const REDIS_PORT = Number(process.env.REDIS_PORT || 6379);
for (const [k, v] of Object.entries({ BACKENDAI_URL, REDIS_HOST })) if (!v) { console.error(`rtserver: ${k} is not set (see .env.dev)`); process.exit(1); }

const json = (res, code, body) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };

http.createServer(async (req, res) => {
  const t0 = Date.now();
  try {
    if (req.url === '/health') return json(res, 200, { status: 'ok', service: 'rtserver' });
    if (req.url === '/api/ai') {
      // rtserver -> backendai by service name
      const r = await fetch(`${BACKENDAI_URL}/api/answer?q=ping`, { signal: AbortSignal.timeout(3000) });
      return json(res, r.ok ? 200 : 502, { backendai: await r.json() });
    }
    if (req.url === '/api/cache') {
      // a key written and read back through Redis
      const key = `rtserver:roundtrip:${randomUUID()}`;
      await redis.command(REDIS_HOST, REDIS_PORT, ['SET', key, 'ok', 'EX', '60']);
      const v = await redis.command(REDIS_HOST, REDIS_PORT, ['GET', key]);
      await redis.command(REDIS_HOST, REDIS_PORT, ['DEL', key]);
      return json(res, v === 'ok' ? 200 : 500, { redis: v === 'ok' ? 'round trip ok' : `read back ${v}` });
    }
    json(res, 404, { error: 'not found' });
  } catch (e) {
    console.error(`rtserver: ${req.url}: ${e.message}`);
    json(res, 502, { error: e.message });
  } finally {
    console.log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms`);
  }
}).listen(3000, '0.0.0.0', () => console.log(`rtserver listening on :3000 (NODE_ENV=${process.env.NODE_ENV}, backendai ${BACKENDAI_URL}, redis ${REDIS_HOST}:${REDIS_PORT})`));
