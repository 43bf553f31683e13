// Production server: the built bundle, the page shell from todo-chatkit, /api/health, and /api/* proxied to the backend.
const http = require('node:http');
const fs = require('node:fs');
const { renderPage } = require('todo-chatkit');
const backend = process.env.BACKEND_URL || 'http://backend:8000';
http.createServer(async (req, res) => {
  if (req.url === '/api/health') return res.end('{"status":"ok"}');
  if (req.url === '/static/app.js') return res.end(fs.readFileSync(`${__dirname}/.next/static/app.js`));
  if (req.url.startsWith('/api/')) {
    try {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const r = await fetch(backend + req.url, { method: req.method, headers: { 'content-type': 'application/json' }, body: req.method === 'GET' ? undefined : Buffer.concat(chunks) });
      res.writeHead(r.status, { 'content-type': 'application/json' });
      return res.end(await r.text());
    } catch {
      res.writeHead(502);
      return res.end('{"error":"backend unavailable"}');
    }
  }
  res.end(renderPage('Todo AI chatbot'));
}).listen(Number(process.env.PORT || 3000), process.env.HOST || '0.0.0.0');
