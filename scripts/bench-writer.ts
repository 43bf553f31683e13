/**
 * An active writer for the write-freeze benchmark: a user of the chatbot who keeps ingesting
 * documents while the migration runs. It writes to the bare-metal backend (:8000) every INTERVAL ms;
 * once that refuses (the writer was stopped: the freeze starts), it retries through the new front
 * door (nginx, Host header) until the containers take writes, then writes a few more there and exits.
 *   tsx scripts/bench-writer.ts HOSTNAME NGINX_PORT INTERVAL_MS COLLECTION
 * Prints one JSON line: writes acknowledged on each side and the freeze as the writer saw it
 * (last acknowledged bare-metal write -> first acknowledged container write).
 */
import { request } from 'node:http';

const [host, nginxPort, intervalMs, collection] = process.argv.slice(2);
const interval = Number(intervalMs);

function post(port: number, hostHeader: string | undefined, body: string): Promise<number> {
  return new Promise((res) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/api/ingest', method: 'POST', agent: false, timeout: 5000,
        headers: { 'content-type': 'application/json', ...(hostHeader ? { Host: hostHeader } : {}) } },
      (r) => { r.resume(); r.on('end', () => res(r.statusCode ?? 0)); },
    );
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let bare = 0, container = 0, refused = 0, i = 0;
let lastBareAck = 0, firstContainerAck = 0;
const deadline = Date.now() + 30 * 60_000;
// Phase 1: bare metal, until it stops answering.
for (;;) {
  const doc = JSON.stringify({ collection, id: `bench-${i}`, document: `bench writer document ${i++}` });
  if ((await post(8000, undefined, doc)) === 200) { bare++; lastBareAck = Date.now(); }
  else break;
  if (Date.now() > deadline) throw new Error('bare metal never stopped');
  await sleep(interval);
}
// Phase 2: the freeze. The unacknowledged document is retried, same id, through nginx until the
// containers take it (409: it had landed on bare metal after all, and the delta carried it over).
const pending = JSON.stringify({ collection, id: `bench-${i - 1}`, document: `bench writer document ${i - 1}` });
for (;;) {
  const code = await post(Number(nginxPort), host, pending);
  if (code === 200 || code === 409) { container++; firstContainerAck = Date.now(); break; }
  refused++;
  if (Date.now() > deadline) throw new Error('the containers never took a write');
  await sleep(100);
}
// Phase 3: a few more writes in the containers.
for (let k = 0; k < 3; k++) {
  await sleep(interval);
  if ((await post(Number(nginxPort), host, JSON.stringify({ collection, id: `bench-${i}`, document: `bench writer document ${i++}` }))) === 200) container++;
}
console.log(JSON.stringify({ acknowledged: bare + container, bare, container, refusedDuringFreeze: refused, freezeSeconds: (firstContainerAck - lastBareAck) / 1000 }));
