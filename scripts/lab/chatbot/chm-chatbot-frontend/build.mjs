// Build step: writes dist/index.html and dist/build.json. No dependencies.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync, copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>CHM Chatbot</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <style>
    body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 48rem; }
    pre { background: #f4f4f4; padding: 1rem; overflow-x: auto; }
  </style>
</head>
<body>
  <h1>CHM Chatbot</h1>
  <p>Backend statistics:</p>
  <pre id="stats">loading /api/stats ...</pre>
  <script>
    fetch('/api/stats')
      .then((r) => r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)))
      .then((s) => { document.getElementById('stats').textContent = JSON.stringify(s, null, 2); })
      .catch((e) => { document.getElementById('stats').textContent = 'backend unavailable: ' + e.message; });
  </script>
</body>
</html>
`;

const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
const buildId = createHash('sha256').update(html).update(pkg.version).digest('hex').slice(0, 16);

mkdirSync(dist, { recursive: true });
writeFileSync(join(dist, 'index.html'), html);
if (existsSync(join(here, 'public', 'favicon.txt'))) {
  copyFileSync(join(here, 'public', 'favicon.txt'), join(dist, 'favicon.txt'));
}
writeFileSync(
  join(dist, 'build.json'),
  JSON.stringify({ name: pkg.name, version: pkg.version, buildId, builtAt: new Date().toISOString() }, null, 2) + '\n',
);
console.log(`built ${pkg.name}@${pkg.version} buildId=${buildId} -> ${dist}`);
