/**
 * An active writer for the write-freeze benchmark: a user of the chatbot who keeps ingesting
 * documents while the migration runs. It writes to the bare-metal backend (:8000) every INTERVAL ms;
 * when that refuses, it retries on both sides (a snapshot may pause bare metal for a moment) until
 * the containers take writes through the new front door (nginx, Host header), then writes a few more
 * there and exits.
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
      {
        host: '127.0.0.1',
        port,
        path: '/api/ingest',
        method: 'POST',
        agent: false,
        timeout: 5000,
        headers: { 'content-type': 'application/json', ...(hostHeader ? { Host: hostHeader } : {}) },
      },
      (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode ?? 0));
      },
    );
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Writes on a schedule (one every INTERVAL ms, whatever each took), so 100 means 10 writes a second. */
let next = Date.now();
const paced = () => {
  next = Math.max(next + interval, Date.now());
  return sleep(next - Date.now());
};
let bare = 0,
  container = 0,
  refused = 0,
  i = 0;
let lastBareAck = 0,
  firstContainerAck: number;
const deadline = Date.now() + 30 * 60_000;
// Phases 1 and 2: bare metal while it answers. When it refuses, the same document is retried on
// both sides: bare metal answering again means it was only paused (the backup's snapshot may pause
// the writer for a moment); the containers taking it (200, or 409: it had landed on bare metal after
// all and the delta carried it over) means the cutover happened.
for (;;) {
  const doc = JSON.stringify({ collection, id: `bench-${i}`, document: `bench writer document ${i}` });
  const bareCode = await post(8000, undefined, doc);
  if (bareCode === 200 || bareCode === 409) {
    bare++;
    lastBareAck = Date.now();
    i++;
    await paced();
    continue;
  }
  const code = await post(Number(nginxPort), host, doc);
  if (code === 200 || code === 409) {
    container++;
    firstContainerAck = Date.now();
    i++;
    break;
  }
  refused++;
  if (Date.now() > deadline) throw new Error('the containers never took a write');
  await sleep(100);
}
// Phase 3: a few more writes in the containers.
for (let k = 0; k < 3; k++) {
  await sleep(interval);
  if (
    (await post(
      Number(nginxPort),
      host,
      JSON.stringify({ collection, id: `bench-${i}`, document: `bench writer document ${i++}` }),
    )) === 200
  )
    container++;
}
console.log(
  JSON.stringify({
    acknowledged: bare + container,
    bare,
    container,
    refusedDuringFreeze: refused,
    freezeSeconds: (firstContainerAck - lastBareAck) / 1000,
  }),
);
