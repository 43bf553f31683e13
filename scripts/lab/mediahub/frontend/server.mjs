// MediaHub frontend (lab replica). No dependencies.
import http from 'node:http';

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '0.0.0.0';

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>MediaHub</title>
</head>
<body>
  <h1>MediaHub</h1>
  <ul id="items"><li>loading /api/items ...</li></ul>
  <script>
    fetch('/api/items')
      .then((r) => r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)))
      .then((d) => {
        document.getElementById('items').innerHTML = d.items
          .map((i) => '<li>' + i.title + ' (' + i.kind + ')</li>').join('') + '<li>hits: ' + d.hits + '</li>';
      })
      .catch((e) => { document.getElementById('items').textContent = 'backend unavailable: ' + e.message; });
  </script>
</body>
</html>
`;

function send(req, res, status, body, type) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/health') return send(req, res, 200, JSON.stringify({ status: 'ok' }), 'application/json');
  if (path === '/' || path === '/index.html') return send(req, res, 200, page, 'text/html; charset=utf-8');
  return send(req, res, 404, 'not found\n', 'text/plain; charset=utf-8');
});

server.listen(PORT, HOST, () => console.log(`mediahub-frontend listening on http://${HOST}:${PORT}`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections?.();
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
