import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/** A Python package as one file for the host: `python3 tool.pyz ARGS` runs its __main__.py. */
export interface HostTool {
  bundle: Buffer;
  /** sha256 (hex) of the bundle. */
  sha256: string;
}

/** 1980-01-01 00:00:00, the earliest DOS date: every entry's timestamp, so the bytes depend on the sources only. */
const DOS_TIME = 0;
const DOS_DATE = (1 << 5) | 1; // (year - 1980) << 9 | month << 5 | day
/** Version 2.0 (needed for nothing newer than stored entries); "made by" Unix, so the mode below counts. */
const VERSION = 20;
const MADE_BY = (3 << 8) | VERSION;
/** Regular file, 0644, in the high half of the external attributes. */
const MODE = (0o100644 << 16) >>> 0;

/**
 * Every `*.py` directly in DIR (which must hold a __main__.py), as a zip Python runs: stored entries (no
 * compression), sorted by name, fixed timestamps and modes, no extra fields or comments. The same sources
 * always give the same bytes, so the plan's byte count and the bundle's sha256 are stable.
 */
export function buildHostTool(dir: string): HostTool {
  const names = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.py'))
    .map((e) => e.name)
    .sort();
  if (!names.includes('__main__.py')) throw new Error(`${dir} has no __main__.py: python3 could not run it`);
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const data = readFileSync(join(dir, name));
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0); // local file header
    head.writeUInt16LE(VERSION, 4);
    head.writeUInt16LE(0, 6); // flags
    head.writeUInt16LE(0, 8); // stored
    head.writeUInt16LE(DOS_TIME, 10);
    head.writeUInt16LE(DOS_DATE, 12);
    head.writeUInt32LE(crc, 14);
    head.writeUInt32LE(data.length, 18); // compressed size
    head.writeUInt32LE(data.length, 22); // uncompressed size
    head.writeUInt16LE(nameBytes.length, 26);
    head.writeUInt16LE(0, 28); // extra length
    local.push(head, nameBytes, data);

    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0); // central directory header
    entry.writeUInt16LE(MADE_BY, 4);
    entry.writeUInt16LE(VERSION, 6);
    entry.writeUInt16LE(0, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt16LE(DOS_TIME, 12);
    entry.writeUInt16LE(DOS_DATE, 14);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.length, 20);
    entry.writeUInt32LE(data.length, 24);
    entry.writeUInt16LE(nameBytes.length, 28);
    entry.writeUInt16LE(0, 30); // extra length
    entry.writeUInt16LE(0, 32); // comment length
    entry.writeUInt16LE(0, 34); // disk number
    entry.writeUInt16LE(0, 36); // internal attributes
    entry.writeUInt32LE(MODE, 38);
    entry.writeUInt32LE(offset, 42);
    central.push(entry, nameBytes);

    offset += head.length + nameBytes.length + data.length;
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); // end of central directory
  end.writeUInt16LE(0, 4); // this disk
  end.writeUInt16LE(0, 6); // the disk the directory starts on
  end.writeUInt16LE(names.length, 8);
  end.writeUInt16LE(names.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20); // comment length
  const bundle = Buffer.concat([...local, dirBytes, end]);
  return { bundle, sha256: createHash('sha256').update(bundle).digest('hex') };
}

/**
 * A host script kept in parts (no source file over 400 lines) but run as ONE text (`python3 -c TEXT`, over
 * stdin, or uploaded as one file): PARTS, files beside BASE (a module's import.meta.url), in the order given
 * here, never a directory listing's. Each part's first line is its header, `# part N/M of ...` with N its
 * place in PARTS and M their count (checked: a part missing, extra or out of order throws), dropped here, so
 * the text is exactly the script the parts were cut from.
 */
export function joinScript(base: string | URL, parts: readonly string[]): string {
  return parts
    .map((name, i) => {
      const text = readFileSync(new URL(name, base), 'utf8');
      const nl = text.indexOf('\n');
      const head = `# part ${i + 1}/${parts.length} of `;
      if (nl < 0 || !text.startsWith(head))
        throw new Error(`${name}: a script part's first line is its header, "${head}..."`);
      return text.slice(nl + 1);
    })
    .join('');
}
