import { execFileSync } from 'node:child_process';
import { viaHost } from './lab.ts';

/**
 * The chatbot's users, writing 10 times a second through a whole run: each write goes to the
 * bare-metal backend (:8000) and, when that refuses, to the containers through nginx. A write counts
 * as acknowledged only on HTTP 200; every acknowledged id must end up in the containers.
 */
export function busyWriter(collection = 'busy') {
  const acked: string[] = [];
  const counts = { bare: 0, containers: 0 };
  let stop = false;
  const body = (id: string) => JSON.stringify({ collection, id, document: `busy writer ${id}` });
  const post = async (id: string) => {
    try {
      const r = await fetch('http://127.0.0.1:8000/api/ingest', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: body(id),
        signal: AbortSignal.timeout(3000),
      });
      return r.status;
    } catch {
      return 0;
    }
  };
  const loop = (async () => {
    for (let i = 0; !stop; i++) {
      const t0 = Date.now();
      const id = `${collection}-${i}`;
      if ((await post(id)) === 200) {
        acked.push(id);
        counts.bare++;
      } else if (
        (
          await viaHost('chatbot.chmedia.com', '/api/ingest', { method: 'POST', body: body(id) }).catch(() => ({
            status: 0,
          }))
        ).status === 200
      ) {
        acked.push(id);
        counts.containers++;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
    }
  })();
  return {
    /** Stop writing; what was acknowledged, and where. */
    async stop() {
      stop = true;
      await loop;
      return { acked, ...counts };
    },
  };
}

/** Embedding ids in the backend container's chroma.sqlite3, read with sqlite3 itself (not the app). */
export const idsInContainer = (): Set<string> =>
  new Set(
    execFileSync('docker', [
      'exec',
      'chatbot-backend',
      'python3',
      '-c',
      'import sqlite3; print("\\n".join(r[0] for r in sqlite3.connect("file:/data/chroma_db/chroma.sqlite3?mode=ro", uri=True).execute("select embedding_id from embeddings")))',
    ])
      .toString()
      .split('\n')
      .filter(Boolean),
  );

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
