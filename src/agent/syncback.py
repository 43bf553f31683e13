"""sync-back: after a cutover, bring what the containers wrote back to bare metal (the old dir kept)."""
import hashlib, json, os, stat as S

import core
from core import SQLITE, Fail, complete, fsb, parse_owner, partial, remove_any, show
from dbs import find_dbs
from sqlite import quick_check, sqlite_logical
from walk import Linker, leaders, place, scan, sha256_file, walk


def digest(root):
    """sha256 over every entry's path and content: files by content (SQLite compared logically),
    symlinks by target, hard links by their group."""
    h = hashlib.sha256()
    files = dict(walk(root))
    stats = {rel: os.lstat(p) for rel, p in files.items()}
    lead = leaders(stats)
    for rel, p in files.items():
        h.update(fsb(rel) + b"\0")
        if S.S_ISLNK(stats[rel].st_mode):
            h.update(b"-> " + fsb(os.readlink(p)))
        else:
            h.update((sqlite_logical(p) if rel == SQLITE else sha256_file(p)).encode())
            h.update(b"\0" + fsb(lead.get(rel, rel)))
    return h.hexdigest()


def copy_tree(src, dst, uid, gid):
    """A faithful copy of SRC at the new DST, everything owned by UID:GID: symlinks as symlinks, hard
    links as hard links, holes as holes, modes and times kept (directories' after their content)."""
    s = os.stat(src)
    os.mkdir(dst)
    dirs, linker = [(dst, s)], Linker()
    for rel, p, _ in scan(src):
        out, s = os.path.join(dst, rel), os.lstat(p)
        if S.S_ISDIR(s.st_mode):
            os.mkdir(out)
            dirs.append((out, s))
        elif place(p, out, s, linker) is None:
            continue  # sockets, fifos, devices: not data
        os.lchown(out, uid, gid)
    for out, s in reversed(dirs):
        os.chmod(out, S.S_IMODE(s.st_mode))
        os.utime(out, ns=(s.st_atime_ns, s.st_mtime_ns))
    os.chown(dst, uid, gid)


def _free_name(path):
    """PATH, or PATH.1, PATH.2 ... whichever does not exist yet."""
    n, cand = 0, path
    while os.path.lexists(cand):
        n += 1
        cand = "%s.%d" % (path, n)
    return cand


def cmd_sync_back(src, live, keep_as, owner):
    """Rollback after cutover: if the containers changed the data, bring it back to bare metal.
    Refuses a source that is not a complete data set (nothing is better than a broken copy): a ChromaDB
    dir without a sound chroma.sqlite3, or any SQLite database (by header) failing quick_check. Safe to
    run again after it failed part-way: a stale LIVE.cutover-part is removed first. LIVE is kept as
    KEEP_AS (or KEEP_AS.1, .2 ... when that exists): never deleted."""
    if not parse_owner(owner):
        raise Fail(2, "sync-back: UID:GID is required")
    uid, gid = parse_owner(owner)
    core.CTX.reads, core.CTX.source, core.CTX.done = (src,), src, 0
    core.CTX.progress = lambda: core.CTX.done
    if os.path.basename(live.rstrip("/")).startswith("chroma") or os.path.exists(os.path.join(live, SQLITE)):
        db = os.path.join(src, SQLITE)
        check = quick_check(db) if os.path.isfile(db) else "missing"
        if check != "ok":
            raise Fail(
                8,
                "refusing to sync %s back to %s: it has no sound %s (%s); bare metal left untouched"
                % (show(src), show(live), SQLITE, check),
            )
    for rel in find_dbs(src):
        check = quick_check(os.path.join(src, rel))
        if check != "ok":
            raise Fail(
                8,
                "refusing to sync %s back to %s: its SQLite database %s is not sound (%s); bare metal "
                "left untouched" % (show(src), show(live), show(rel), check),
            )
    if os.path.isdir(live) and digest(src) == digest(live):
        print(json.dumps({"sync_back": "unchanged", "live": live}))
        return 0
    tmp = live.rstrip("/") + ".cutover-part"
    try:
        remove_any(tmp)
    except OSError as e:
        raise Fail(
            1,
            "sync-back: cannot remove %s left by an earlier attempt (%s): remove it by hand, then retry"
            % (show(tmp), e.strerror),
        ) from None
    partial(tmp)
    copy_tree(src, tmp, uid, gid)
    kept = None
    if os.path.lexists(live):
        kept = _free_name(keep_as)
        os.rename(live, kept)
    os.rename(tmp, live)
    complete(tmp)
    print(json.dumps({"sync_back": "copied", "live": live, "kept": kept}))
    return 0
