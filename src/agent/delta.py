"""delta: bring a volume restored from the backup up to the live dir (what changed since, and each SQLite
database: its changed blocks, or a fresh copy)."""
import json, os, shutil, stat as S

import core
from core import Laps, complete, is_dir, parse_owner, partial, remove_any
from dbs import Databases, sides
from sqlite import alone, sqlite_copy
from verify import manifest_archive
from walk import copy_file, patch_bytes, sha256_file, unchanged_since_read, walk


class _Delta:
    """Brings DEST (restored from the archive the manifest describes) up to LIVE, entry by entry.
    Everything is written beside its target (*.cutover-part) and renamed over it; only what is
    written is chowned (the rest keeps the ctime cutover parity relies on)."""

    def __init__(self, want, dest, owner):
        self.want, self.dest, self.owner = want, dest, owner
        self.inodes = {}  # (st_dev, st_ino) of a live hard-linked file -> its first rel this pass
        self.counts = {"changed": 0, "added": 0, "deleted": 0, "bytes": 0, "rehashed": 0, "databases": 0, "patched": 0}

    def own(self, path):
        if self.owner:
            os.lchown(path, *self.owner)

    def parent(self, rel):
        """Make REL's parent directories in DEST, replacing anything there that is not a real directory
        (never write through a symlink)."""
        cur = self.dest
        for part in rel.split("/")[:-1]:
            cur = os.path.join(cur, part)
            if os.path.lexists(cur) and not is_dir(cur):
                os.remove(cur)
            if not os.path.isdir(cur):
                os.mkdir(cur)
                self.own(cur)

    def put(self, rel, make, nbytes):
        """Write REL with MAKE(tmp) beside it, then rename it into place."""
        out = os.path.join(self.dest, rel)
        self.parent(rel)
        tmp = partial(out + ".cutover-part")
        remove_any(tmp)
        make(tmp)
        self.own(tmp)
        if is_dir(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
        complete(tmp)
        self.counts["changed" if rel in self.want else "added"] += 1
        self.counts["bytes"] += nbytes

    def entry(self, rel, p):
        s = os.lstat(p)
        m = self.want.get(rel) or {}
        if S.S_ISLNK(s.st_mode):
            target = os.readlink(p)
            if m.get("link") != target:
                self.put(rel, lambda tmp: os.symlink(target, tmp), 0)
            return
        if not S.S_ISREG(s.st_mode):
            return
        first = self.inodes.get((s.st_dev, s.st_ino)) if s.st_nlink > 1 else None
        if first is not None:  # a later path of an inode seen this pass: a link to its first path's copy
            self.link(rel, first)
            return
        if s.st_nlink > 1:
            self.inodes[(s.st_dev, s.st_ino)] = rel
        if m and "link" not in m and "hardlink" not in m and self.same(m, s, p):
            return
        self.put(rel, lambda tmp: copy_file(p, tmp), s.st_size)

    def same(self, m, s, p):
        """The live file still has the manifest's content: by stat alone when untouched since the backup
        read it, else by size, mtime and sha256."""
        if unchanged_since_read(m.get("live"), s):
            return True
        self.counts["rehashed"] += 1
        return m["size"] == s.st_size and m["mtime"] == int(s.st_mtime) and m["sha256"] == sha256_file(p)

    def link(self, rel, first):
        a, b = os.path.join(self.dest, first), os.path.join(self.dest, rel)
        if os.path.lexists(b):
            sa, sb = os.lstat(a), os.lstat(b)
            if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
                return
        self.put(rel, lambda tmp: os.link(a, tmp), 0)

    def database(self, rel, p):
        """The live database REL in DEST, its -wal/-shm/-journal there removed first. When the live file alone
        is the database (its writer stopped and closed it) and DEST has a copy (the restored one), that copy
        gets the live file's bytes by writing only the blocks that differ: nothing has it open (the
        containers are stopped), and a rerun after a cut does it again. Else a fresh copy (backup API)."""
        db = os.path.join(self.dest, rel)
        self.parent(rel)
        for s in sides([rel]):
            side = os.path.join(self.dest, s)
            if os.path.lexists(side) and not is_dir(side):
                os.remove(side)
        if alone(p) and os.path.isfile(db) and not os.path.islink(db) and os.lstat(db).st_nlink == 1:
            self.counts["bytes"] += patch_bytes(p, db)
            self.counts["patched"] += 1
        else:
            if is_dir(db):
                shutil.rmtree(db)
            sqlite_copy(p, db, check=False)  # parity compares it with the live database next
            self.counts["bytes"] += os.path.getsize(db)
        self.own(db)
        self.counts["databases"] += 1

    def deleted(self, live_files):
        """Remove from DEST what is gone from LIVE (first: a path that became a directory must be free)."""
        for rel in sorted(self.want, reverse=True):
            out = os.path.join(self.dest, rel)
            if rel not in live_files and os.path.lexists(out) and not is_dir(out):
                os.remove(out)
                self.counts["deleted"] += 1


def cmd_delta(manifest_path, name, live, dest, owner=None):
    """Bring DEST (restored from NAME) up to LIVE: changed, new and deleted files and symlinks, hard
    links kept (a changed inode is copied once, its other paths linked), holes kept, and each SQLite
    database (dbs.Databases: the rule parity uses) brought to the live one (_Delta.database), never
    through its -wal/-shm/-journal. Only what it writes is chowned to OWNER (UID:GID): the rest keeps the ctime cutover parity
    relies on."""
    own = parse_owner(owner)
    core.CTX.reads, core.CTX.source = (manifest_path, live), live
    laps = Laps()
    archive = manifest_archive(manifest_path, name)
    live_files = dict(walk(live))
    laps.lap("walk")
    dbs = Databases(archive).among(live_files)
    side = sides(dbs)
    d = _Delta(archive["files"], dest, own)
    d.deleted(live_files)
    for rel, p in live_files.items():
        if rel not in dbs and rel not in side:
            d.entry(rel, p)
    laps.lap("files")
    for rel in sorted(dbs):
        d.database(rel, live_files[rel])
    laps.lap("databases")
    print(json.dumps({"delta": name, **d.counts, "ms": laps.ms}))
    return 0
