import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RemoteCommand } from './command.ts';
import { httpCheck, waitAnswers, waitHealthy } from './waits.ts';

/** Runs a remote command's argv here, as the host would. */
function run(cmd: RemoteCommand): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd.argv[0], cmd.argv.slice(1), (err, _out, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

let server: Server;
let base: string;
const seen: { host?: string; token?: string }[] = [];
let health = 503;

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ host: req.headers.host, token: req.headers['x-cutover-verify'] as string | undefined });
    if (req.url === '/health') {
      res.statusCode = health;
      health = 200; // down on the first request, up after
    } else res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe('host waits and checks', () => {
  it('waitAnswers (strict) waits through a 503 until 2xx, sending the Host and gate headers', async () => {
    const r = await run(
      waitAnswers(`${base}/health`, 'the app', { strict: true, host: 'chat.example', token: 'RUN1', seconds: 5 }),
    );
    expect(r.code).toBe(0);
    expect(seen.at(-1)).toEqual({ host: 'chat.example', token: 'RUN1' });
  });

  it('waitAnswers (strict) fails on a 404 with one line naming the service, URL and last status; any-answer mode accepts it', async () => {
    const strict = await run(waitAnswers(`${base}/nope`, 'the chatbot backend', { strict: true, seconds: 1 }));
    expect(strict.code).toBe(1);
    expect(strict.stderr.trim()).toBe(
      `the chatbot backend does not answer at ${base}/nope after 1 s (last HTTP status: 404)`,
    );
    expect((await run(waitAnswers(`${base}/nope`, 'x', { strict: false, seconds: 1 }))).code).toBe(0);
  });

  it("waitAnswers without a Host sends the URL's own (never an empty Host: a host nginx answers that 400) and no gate header", async () => {
    health = 200;
    const r = await run(waitAnswers(`${base}/health`, 'the app', { strict: true, seconds: 2 }));
    expect(r.code, r.stderr).toBe(0);
    expect(seen.at(-1)).toEqual({ host: base.replace('http://', ''), token: undefined });
  });

  it('says what it does in words, and marks itself read-only', () => {
    const w = waitAnswers('http://127.0.0.1:8000/health', 'the bare-metal backend', { strict: true, seconds: 60 });
    expect(w).toMatchObject({
      reads: true,
      says: 'wait until the bare-metal backend answers at http://127.0.0.1:8000/health with 2xx (up to 60 s)',
    });
    expect(httpCheck('http://127.0.0.1/api/x', { host: 'h', token: 't' }).says).toBe(
      'GET http://127.0.0.1/api/x with Host h (through the closed gate): must answer 2xx',
    );
  });

  it('waitHealthy names a container that does not exist', async () => {
    const r = await run(waitHealthy('cutover-no-such-container', 1));
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'cutover-no-such-container not healthy after 1 s (last: no such container); see docker logs cutover-no-such-container',
    );
  });
});
