// Dimini frontend stand-in: serves a page; /api/backend-health asks the backend by service name.
const http = require('node:http');
const BACKEND = process.env.BACKEND_INTERNAL_URL || 'http://backend:8000';
http.createServer(async (req, res) => {
  if (req.url === '/health') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end('{"status":"ok"}'); }
  if (req.url === '/api/backend-health') {
    try {
      const r = await fetch(`${BACKEND}/health`, { signal: AbortSignal.timeout(3000) });
      res.writeHead(r.status, { 'content-type': 'application/json' });
      return res.end(await r.text());
    } catch (e) {
      console.error(`frontend: backend ${BACKEND}: ${e.message}`);
      res.writeHead(502); return res.end(e.message);
    }
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(`<!doctype html><title>Dimini</title><p>Dimini (lab). API: ${process.env.NEXT_PUBLIC_API_URL}</p>`);
  console.log(`${req.method} ${req.url}`);
}).listen(3000, '0.0.0.0', () => console.log(`dimini frontend on :3000 (NODE_ENV=${process.env.NODE_ENV}, backend ${BACKEND})`));
// As `next start` does: end on SIGTERM. Node as PID 1 ignores it otherwise, and every docker stop
// (compose restart, down, a recreate) waited its 10 s timeout for the kill.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
