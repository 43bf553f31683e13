import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { SSH_DIR } from './lab.ts';

/**
 * What a data dir holds, by the test's own reading (not the app's, not the agent's): every entry with
 * its name as bytes (hex), its kind, and its content (sha256), link target, or size and allocated
 * bytes, plus hard-link groups. Runs on the lab host (as root) or inside a volume.
 */
const LISTING = String.raw`
import hashlib, json, os, sys
root = os.fsencode(sys.argv[1])
skip = set(os.fsencode(x) for x in sys.argv[2:])
out, inodes = {}, {}
for d, dirs, files in os.walk(root):
    dirs.sort()
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        rel = os.path.relpath(p, root)
        if n in skip:
            continue
        s = os.lstat(p)
        key = rel.hex()
        if os.path.islink(p):
            out[key] = {"link": os.fsdecode(os.readlink(p))}
        elif os.path.isdir(p):
            out[key] = {"dir": True}
        else:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            out[key] = {"sha256": h.hexdigest(), "size": s.st_size, "allocated": s.st_blocks * 512, "nlink": s.st_nlink}
            inodes.setdefault(s.st_ino, []).append(key)
print(json.dumps({"entries": out, "hardlinks": sorted(sorted(v) for v in inodes.values() if len(v) > 1)}))
`;

export interface Listing {
  entries: Record<
    string,
    { link?: string; dir?: boolean; sha256?: string; size?: number; allocated?: number; nlink?: number }
  >;
  hardlinks: string[][];
}

const hex = (name: Buffer | string) => Buffer.from(name).toString('hex');
export const entry = (l: Listing, name: Buffer | string) => l.entries[hex(name)];

/** A dir on the lab host, read as root. */
export function hostListing(dir: string, skip: string[] = []): Listing {
  const out = execFileSync('ssh', ['-F', resolve(SSH_DIR, 'config'), 'chm-lab', 'sudo', 'python3', '-', dir, ...skip], {
    input: LISTING,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out);
}

/** A Docker volume, read in a throwaway container. */
export function volumeListing(volume: string, skip: string[] = []): Listing {
  const out = execFileSync(
    'docker',
    [
      'run',
      '-i',
      '--rm',
      '--pull',
      'never',
      '--network',
      'none',
      '-v',
      `${volume}:/v:ro`,
      'python:3.11-slim',
      'python3',
      '-',
      '/v',
      ...skip,
    ],
    { input: LISTING, encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  return JSON.parse(out);
}
