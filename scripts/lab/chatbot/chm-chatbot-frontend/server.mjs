// CHM chatbot frontend server: serves dist/, proxies /api/* to the backend.
// Env: PORT (3000), HOST (127.0.0.1), BACKEND_URL (http://127.0.0.1:8000).
import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const BACKEND = new URL(process.env.BACKEND_URL || 'http://127.0.0.1:8000');

const TYPES = { '.html': 'text/html; charset=utf-8', '.json': 'application/json', '.txt': 'text/plain; charset=utf-8' };
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te',
  'trailer', 'transfer-encoding', 'upgrade']);

function send(res, status, body, type = 'text/plain; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function proxy(req, res) {
  const target = new URL(req.url, BACKEND);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
  headers.host = target.host;
  headers['x-forwarded-for'] = req.socket.remoteAddress || '';
  const lib = target.protocol === 'https:' ? https : http;
  const upstream = lib.request(target, { method: req.method, headers }, (up) => {
    const out = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
    res.writeHead(up.statusCode || 502, out);
    up.pipe(res);
  });
  upstream.on('error', (err) => {
    if (!res.headersSent) send(res, 502, JSON.stringify({ status: 'error', error: `backend unreachable: ${err.message}` }), 'application/json');
    else res.destroy(err);
  });
  req.pipe(upstream);
}

async function serveFile(res, file) {
  const ext = file.slice(file.lastIndexOf('.'));
  const body = await readFile(file);
  res.writeHead(200, { 'content-type': TYPES[ext] || 'application/octet-stream', 'content-length': body.length });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  try {
    if (path === '/health') return send(res, 200, JSON.stringify({ status: 'ok' }), 'application/json');
    if (path === '/api' || path.startsWith('/api/')) return proxy(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    if (path === '/' || path === '/index.html') {
      try {
        return await serveFile(res, join(dist, 'index.html'));
      } catch (err) {
        if (err.code === 'ENOENT') return send(res, 500, `dist/index.html is missing: run npm run build\n`);
        throw err;
      }
    }
    const file = normalize(join(dist, decodeURIComponent(path)));
    if (!file.startsWith(dist + sep)) return send(res, 404, 'not found\n');
    try {
      return await serveFile(res, file);
    } catch (err) {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') return send(res, 404, 'not found\n');
      throw err;
    }
  } catch (err) {
    if (!res.headersSent) send(res, 500, `internal error: ${err.message}\n`);
    else res.destroy(err);
  }
});

server.listen(PORT, HOST, () => {
  console.log(`chm-chatbot-frontend listening on http://${HOST}:${PORT} (backend ${BACKEND.href})`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
