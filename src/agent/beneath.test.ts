import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { AGENT, ENV, PY, tempDirs } from './testing.ts';

// Root reads the app's trees; the app's account can swap a directory for a symlink at any moment after it was
// listed. Below a root, the agent reaches nothing by its path (walk.py, "reading beneath a root").
describe('reading beneath a root never follows a link, even one put on the way after the listing', () => {
  const { fresh } = tempDirs('agent-beneath-');
  /** Python with the agent's modules importable, in DIR: a tree root/sub/file.txt and a "root-only" secret/. */
  const py = (dir: string, code: string) =>
    execFileSync(
      PY,
      [
        '-c',
        `import os, sys; sys.path.insert(0, ${JSON.stringify(AGENT)}); import walk
os.chdir(sys.argv[1]); os.makedirs("root/sub"); os.makedirs("secret")
open("root/sub/file.txt", "w").write("public"); open("secret/file.txt", "w").write("SECRET")
open("secret/only-there.txt", "w").write("SECRET")
def swap():  # what the app's account can do at any instant: its dir becomes a link to root's own
    os.rename("root/sub", "root/sub.old"); os.symlink(os.path.abspath("secret"), "root/sub")
${code}`,
        dir,
      ],
      { env: ENV },
    )
      .toString()
      .trim();

  it('a directory swapped for a link after its parent was listed is not entered: nothing of what the link points to is listed', () => {
    const out = py(
      fresh(),
      `
seen = []
for rel, p, e in walk.scan(os.path.abspath("root")):
    seen.append(rel)
    if rel == "sub":
        swap()
print(sorted(seen))`,
    );
    expect(out).toBe("['sub']");
  });

  it('a file listed, then its directory swapped for a link: hashing, copying or reading it reaches the file listed (its directory, renamed) or nothing, never the other file', () => {
    const out = py(
      fresh(),
      `
import hashlib
files = [p for rel, p in walk.walk(os.path.abspath("root"))]
assert [os.path.basename(p) for p in files] == ["file.txt"], files
swap()
print("sha256", {hashlib.sha256(b"public").hexdigest(): "public", hashlib.sha256(b"SECRET").hexdigest(): "SECRET"}[walk.sha256_file(files[0])])
walk.copy_file(files[0], "copy.txt")
print("copy", open("copy.txt").read())
print("open", os.read(walk.open_read(files[0]), 100).decode())
# a process that never listed the directory (a fresh one, as each agent command is) refuses the link on the way (ENOTDIR: O_NOFOLLOW on a directory's way)
import beneath; beneath._DIRS.clear()
try:
    walk.open_read(files[0])
    print("fresh READ IT")
except OSError as e:
    import errno
    print("fresh", errno.errorcode[e.errno], e.filename == files[0])`,
    );
    expect(out.split('\n')).toEqual(['sha256 public', 'copy public', 'open public', 'fresh ENOTDIR True']);
  });

  it('what is still a directory is read as before, through the descriptors', () => {
    const out = py(
      fresh(),
      `
files = dict(walk.walk(os.path.abspath("root")))
print(open(walk.open_read(files["sub/file.txt"])).read(), walk.lstat_at(files["sub/file.txt"]).st_size)`,
    );
    expect(out).toBe('public 6');
  });
});
