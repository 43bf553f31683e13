"""Walking a tree (regular files and symlinks are data; names are bytes) and its content: data regions
(holes read as zeros and kept as holes), sha256, a faithful copy of one file or link."""
import errno, hashlib, os, stat as S, time

import core
from core import BUF, SKIP, ZEROS, named, side_of
from beneath import GONE, listing_fd, lstat_at, open_read, readlink_at, register_root


# ---- walking: regular files and symlinks are data


def scan(root):
    """(rel, path, DirEntry) of everything under ROOT, each directory's entries sorted and listed before
    what is under them; each directory listed through its descriptor, reached beneath ROOT without following
    a link (beneath.py). A subdirectory that vanishes, or becomes something else, while listed is skipped (the
    app deletes and renames); any other error raises: an unreadable directory must not pass for an empty
    one, nor a missing ROOT."""
    register_root(root)
    todo = [("", root)]
    while todo:
        rel, d = todo.pop()
        try:
            lfd = listing_fd(d)
            try:
                with os.scandir(lfd) as it:
                    ents = sorted(it, key=lambda e: e.name)
            finally:
                os.close(lfd)
        except OSError as e:
            if not rel or e.errno not in GONE:
                raise
            continue
        sub = []
        for e in ents:
            r = rel + "/" + e.name if rel else e.name
            p = os.path.join(d, e.name)
            yield r, p, e
            if e.is_dir(follow_symlinks=False):
                sub.append((r, p))
        todo.extend(reversed(sub))


def walk(root):
    """(rel, path) of each regular file and symlink under ROOT (symlinks are yielded, never followed),
    but SQLite's -wal/-shm/-journal files."""
    for rel, p, e in scan(root):
        if e.name not in SKIP and (e.is_symlink() or e.is_file(follow_symlinks=False)):
            yield rel, p


def identity(s):
    """[size, mtime_ns, ctime_ns] of a stat result: what tells a file changed (ctime cannot be set back)."""
    return [s.st_size, s.st_mtime_ns, s.st_ctime_ns]


def tree_state(root, dbs):
    """{rel: lstat} of every file and link but the SQLite databases DBS (rels) and their -wal/-shm/-journal;
    what vanishes meanwhile is left out."""
    out = {}
    for rel, p in walk(root):
        if rel not in dbs and side_of(rel) not in dbs:
            try:
                out[rel] = lstat_at(p)
            except OSError as e:
                if e.errno not in GONE:
                    raise
    return out


def unchanged_since_read(live, s):
    """True when the stat S proves the file is still what was read: same size, mtime and ctime
    (no process can set ctime back), and ctime older than the read by more than the timestamp
    granularity ("racy git": a write in the same clock tick as the read keeps ctime equal; inode
    times come from a coarse clock, a few ms; whole-second file systems get a whole second)."""
    if not live or len(live) != 4 or live[:3] != identity(s):
        return False
    margin = 1_000_000_000 if s.st_ctime_ns % 1_000_000_000 == 0 else 50_000_000
    return s.st_ctime_ns < live[3] - margin


def settle_past_ctimes(paths):
    """Wait until the clock is past every path's ctime by unchanged_since_read's margin (at most about a
    second, for a whole-second file system), so a stat recorded now can prove the file later: files just
    unpacked and chowned (a restore verified at once) would otherwise all be too new to prove."""
    newest = 0
    for p in paths:
        try:
            c = os.lstat(p).st_ctime_ns
        except FileNotFoundError:
            continue
        newest = max(newest, c + (1_000_000_000 if c % 1_000_000_000 == 0 else 50_000_000))
    # the inode clock is coarse (a few ms behind time_ns): 10 ms more
    wait = (newest + 10_000_000 - time.time_ns()) / 1e9
    if 0 < wait <= 2:
        time.sleep(wait)


def stat_record(p):
    """identity + [now_ns]: what unchanged_since_read compares against later."""
    now = time.time_ns()
    return identity(os.lstat(p)) + [now]


def leaders(stats):
    """{rel: first rel of its inode} for the hard-linked regular files of {rel: lstat}, in sorted order."""
    first, out = {}, {}
    for rel in sorted(stats):
        s = stats[rel]
        if S.S_ISREG(s.st_mode) and s.st_nlink > 1:
            out[rel] = first.setdefault((s.st_dev, s.st_ino), rel)
    return out


# ---- content: holes read as zeros, and are kept as holes


def _regions(fd, size):
    """(offset, length) of each data region of FD below SIZE (SEEK_DATA/SEEK_HOLE); the rest are holes."""
    out, off = [], 0
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:  # nothing but a hole up to the end
                break
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP):  # no SEEK_DATA here: all data
                return out + [(off, size - off)]
            raise
        if start >= size:
            break
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        out.append((start, end - start))
        off = end
    return out


def regions(fd, s):
    """The data regions of the open file FD with stat S; one region, with no seeking, unless the file
    has fewer blocks than its size (sparse, or compressed by the file system)."""
    if s.st_blocks * 512 >= s.st_size:
        return [(0, s.st_size)] if s.st_size else []
    return _regions(fd, s.st_size)


def hash_zeros(h, n):
    while n > 0:
        h.update(ZEROS[: min(n, BUF)])
        n -= BUF


def pread(fd, n, off, path):
    try:
        return os.pread(fd, n, off)
    except OSError as e:
        raise named(e, path) from None


def sha256_file(path):
    """sha256 of the logical content (holes hashed as zeros, without reading them)."""
    h = hashlib.sha256()
    with os.fdopen(open_read(path), "rb", buffering=0) as f:
        fd = f.fileno()
        s, pos = os.fstat(fd), 0
        for off, n in regions(fd, s):
            hash_zeros(h, off - pos)
            end = off + n
            while off < end:
                b = pread(fd, min(BUF, end - off), off, path)
                if not b:
                    break
                h.update(b)
                off += len(b)
            hash_zeros(h, end - off)
            pos = end
        hash_zeros(h, s.st_size - pos)
    return h.hexdigest()


def pread_full(fd, n, off, path):
    """N bytes of FD at OFF, fewer only at its end."""
    out = pread(fd, n, off, path)
    while out and len(out) < n:
        more = pread(fd, n - len(out), off + len(out), path)
        if not more:
            break
        out += more
    return out


def _sparse(s):
    return s.st_blocks * 512 < s.st_size


def same_bytes(a, b, first=None):
    """True when the regular files A and B hold the same bytes: read side by side and compared (no hash).
    FIRST(block) may blank what may differ in each file's first block. Sparse files (without FIRST) are
    compared by sha256_file, which never reads a hole."""
    with os.fdopen(open_read(a), "rb", buffering=0) as fa, os.fdopen(open_read(b), "rb", buffering=0) as fb:
        sa, sb = os.fstat(fa.fileno()), os.fstat(fb.fileno())
        if sa.st_size != sb.st_size:
            return False
        if first is None and (_sparse(sa) or _sparse(sb)):
            return sha256_file(a) == sha256_file(b)
        off = 0
        while off < sa.st_size:
            x, y = pread_full(fa.fileno(), BUF, off, a), pread_full(fb.fileno(), BUF, off, b)
            if off == 0 and first:
                x, y = first(x), first(y)
            if x != y:
                return False
            if not x:
                break
            off += len(x)
    return True


def patch_bytes(src, dst, block=4096):
    """Make the existing file DST hold SRC's bytes, in place, writing only the BLOCKs that differ (and the
    size), then fsync it. Only for a file nothing has open meanwhile. Returns the bytes written."""
    wrote, off = 0, 0
    with os.fdopen(open_read(src), "rb", buffering=0) as fi, open(dst, "r+b", buffering=0) as fo:
        i, o = fi.fileno(), fo.fileno()
        size = os.fstat(i).st_size
        while off < size:
            x = pread_full(i, BUF, off, src)
            if not x:
                break
            y = pread_full(o, len(x), off, dst)
            if x != y:
                for k in range(0, len(x), block):
                    if x[k : k + block] != y[k : k + block]:
                        try:
                            os.pwrite(o, x[k : k + block], off + k)
                        except OSError as e:
                            raise named(e, dst) from None
                        wrote += len(x[k : k + block])
            off += len(x)
        os.ftruncate(o, off)
        os.fsync(o)
    return wrote


def _copy_xattrs(fi, fo):
    try:
        names = os.listxattr(fi)
    except OSError:
        return
    for k in names:
        try:
            os.setxattr(fo, k, os.getxattr(fi, k))
        except OSError:
            pass  # e.g. security.* as non-root, or a file system without xattrs: the data is what matters


def copy_file(src, dst):
    """Copy the regular file SRC to a new file DST keeping holes: only data regions are written, the
    size set by ftruncate; mode, times and xattrs copied from the version read. Returns (stat, read_ns,
    changed): SRC's stat before the copy, when it was taken, and whether SRC changed while copied."""
    # the file listed, not a symlink the app put in its place (or on its way) since: open_read
    with os.fdopen(open_read(src), "rb", buffering=0) as fi:
        fd = fi.fileno()
        read_at = time.time_ns()
        s = os.fstat(fd)
        with open(dst, "xb", buffering=0) as fo:
            out = fo.fileno()
            try:
                for off, n in regions(fd, s):
                    end = off + n
                    while off < end:
                        b = pread(fd, min(BUF, end - off), off, src)
                        if not b:
                            break  # shrank while copied: ftruncate fills with zeros, and it counts as changed
                        wrote = os.pwrite(out, b, off)
                        off += wrote
                        core.CTX.done += wrote
                os.ftruncate(out, s.st_size)
                os.fchmod(out, S.S_IMODE(s.st_mode))
                _copy_xattrs(fd, out)
                os.utime(out, ns=(s.st_atime_ns, s.st_mtime_ns))
            except OSError as e:
                raise named(e, dst) from None
        changed = identity(os.fstat(fd)) != identity(s)
    return s, read_at, changed


class Linker:
    """Keeps hard links hard links in a copy: the first path of an inode with st_nlink > 1 is copied, the
    later ones are linked to that copy."""

    def __init__(self):
        self.first = {}

    def earlier(self, s):
        """The copy an earlier path of the same inode got, or None."""
        return self.first.get((s.st_dev, s.st_ino)) if s.st_nlink > 1 else None

    def remember(self, s, dst):
        if s.st_nlink > 1:
            self.first.setdefault((s.st_dev, s.st_ino), dst)


def place(src, dst, s, linker):
    """Put a copy of the file or symlink SRC (lstat S) at the new path DST: a symlink as a symlink with
    the same target, a hard link as a link to the copy of its inode made earlier, a file by copy_file.
    Returns (read_ns, changed) or None when SRC is neither."""
    if S.S_ISLNK(s.st_mode):
        read_at = time.time_ns()
        os.symlink(readlink_at(src), dst)
        return read_at, identity(lstat_at(src)) != identity(s)
    if not S.S_ISREG(s.st_mode):
        return None
    first = linker.earlier(s)
    if first:
        os.link(first, dst)
        return time.time_ns(), False
    s2, read_at, changed = copy_file(src, dst)
    linker.remember(s2, dst)
    return read_at, changed or identity(s2) != identity(s)
