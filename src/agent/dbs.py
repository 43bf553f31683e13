"""Which files of a data set are SQLite databases: named (--db) or found by SQLite's 16-byte header
(--find-dbs) when a snapshot copies them, recorded in its live-stat, marked in the archive's manifest by
tar-stream, and known from that manifest to verify, delta and parity (Databases: the one rule delta and
parity share). A data set streamed without a snapshot has none: its files are bytes."""
import errno, os, stat as S

from core import SIDES, SQLITE, Fail, side_of, show
from sqlite import sqlite_logical
from walk import scan

HEADER = b"SQLite format 3\x00"
# The key of the databases in a snapshot's live-stat file, beside the files' rels: no rel starts with "/",
# so a reader that looks files up by rel (an older tar-stream) never sees it.
STAT_KEY = "/sqlite"


def has_header(path):
    """PATH (a regular file, never followed) starts with SQLite's header. False when it vanished."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ELOOP):
            return False
        raise
    try:
        return os.read(fd, 16) == HEADER
    finally:
        os.close(fd)


def is_candidate(rel, s):
    """A file found by header may be a database: a regular file whose name is not a -wal/-shm/-journal."""
    return S.S_ISREG(s.st_mode) and side_of(rel) is None


def find_dbs(root):
    """The rels of every regular file under ROOT with SQLite's header (-wal, -shm, -journal names never)."""
    out = []
    for rel, p, e in scan(root):
        if e.is_file(follow_symlinks=False) and side_of(rel) is None and has_header(p):
            out.append(rel)
    return out


def named_dbs(cmd, root, rels):
    """The --db RELs, normalized, each a regular file under ROOT with SQLite's header, else a one-line Fail."""
    out = []
    for rel in rels:
        norm = os.path.normpath(rel)
        if os.path.isabs(norm) or norm == "." or norm.split("/")[0] == "..":
            raise Fail(1, "%s: --db %s: not a path under %s" % (cmd, show(rel), show(root)))
        p = os.path.join(root, norm)
        try:
            s = os.lstat(p)
        except FileNotFoundError:
            s = None
        if s is None or not S.S_ISREG(s.st_mode):
            raise Fail(1, "%s: --db %s: no such file in %s" % (cmd, show(rel), show(root)))
        if not has_header(p):
            raise Fail(
                1, '%s: --db %s: %s is not a SQLite database (no "SQLite format 3" header)' % (cmd, show(rel), show(p))
            )
        out.append(norm)
    return out


def sides(dbs):
    """The -wal, -shm and -journal rels of the databases DBS: part of them, never data of their own."""
    return {rel + s for rel in dbs for s in SIDES}


# ---- the live-stat record (snapshot -> tar-stream)


def stat_entry(dbs, find):
    return {"dbs": sorted(dbs), "find": bool(find)}


def read_live_stat(path):
    """({rel: live stat}, {"dbs": [rel], "find": bool}) of a snapshot's live-stat file. One written before
    databases were recorded is ChromaDB's: chroma.sqlite3, if the dir has it. No file: no databases."""
    if not path:
        return {}, {"dbs": [], "find": False}
    import json

    with open(path) as f:
        live = json.load(f)
    info = live.pop(STAT_KEY, None)
    if info is None:
        return live, {"dbs": [SQLITE], "find": False, "legacy": True}
    return live, info


def mark(cmd, files, root, info):
    """Flag each database INFO lists in the manifest's FILES ("sqlite": true) with its logical content hash
    ("logical", what verify checks a restore against). Returns the archive-level find_dbs flag."""
    for rel in info["dbs"]:
        m = files.get(rel)
        if info.get("legacy") and (not m or "sha256" not in m or "hardlink" in m):
            continue  # an old live-stat of a dir without chroma.sqlite3
        if not m or "sha256" not in m or "hardlink" in m:
            raise Fail(1, "%s: %s is a database of the snapshot but not a file of %s" % (cmd, show(rel), show(root)))
        m["sqlite"] = True
        m["logical"] = sqlite_logical(os.path.join(root, rel))
    return bool(info.get("find"))


# ---- the rule delta and parity share


class Databases:
    """Which files of a data set are SQLite databases, by its archive in the manifest: those it marks
    ("sqlite": true), and, when its snapshot found them by header (find_dbs), any file the manifest does
    not know (it appeared since the backup) that has SQLite's header. A manifest from before databases
    were marked: chroma.sqlite3, by its name, as then. Always a regular file (a link is a link)."""

    def __init__(self, archive):
        self.files = archive["files"]
        if "find_dbs" in archive:
            self.marked = {r for r, m in self.files.items() if m.get("sqlite")}
            self.find = bool(archive["find_dbs"])
        else:
            self.marked, self.find = {SQLITE}, False

    def among(self, files):
        """The rels of FILES ({rel: path}, a live dir's walk) that are databases."""
        out = set()
        for rel, p in files.items():
            known = rel in self.marked
            if not known and not (self.find and rel not in self.files and side_of(rel) is None):
                continue
            try:
                s = os.lstat(p)
            except FileNotFoundError:
                continue
            if S.S_ISREG(s.st_mode) and (known or has_header(p)):
                out.add(rel)
        return out
