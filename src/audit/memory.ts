/**
 * Keeps the audit's resident memory flat while a whole `docker save` (gigabytes) streams through.
 * Imported first by runbooks/audit-images.ts, so this runs before the other modules load.
 *
 * V8's young generation starts at 1 MB per semi-space and doubles up to 16 MB as a streaming
 * process keeps allocating (socket buffers, decrypted SSH packets, tar chunks): 32 MB of heap
 * that a few chunks in flight never need. Not letting it grow keeps it at a few MB; a
 * scavenge of it is cheap, and it frees the socket buffers' wrappers as they go. (The flag must
 * be set after tsx's loader has started, i.e. from a module, not from a preloaded script: it does
 * not survive that worker's start-up.)
 */
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--semi-space-growth-factor=1');

/**
 * Node frees socket buffers only when V8 collects, and V8 waits for ~64 MB of them before a full
 * collection. Most of the stream's buffers outlive a scavenge of the small young generation (the
 * SSH window holds 2 MB in flight), so gather.ts asks for a full collection every 8 MB read.
 * Measured on a 1 GB layer: peak RSS 122-127 MB with it, 136-138 MB without, for ~5 s of CPU.
 */
let gc: (() => void) | undefined | null = null;
export function collector(): (() => void) | undefined {
  if (gc !== null) return gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  } catch {
    gc = undefined;
  }
  return gc;
}
