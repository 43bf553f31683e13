#!/usr/bin/env python3
"""cutover host agent: the data work of the CHM runbook, run on the host (or in a helper container)
by argv the plan prints. Python 3 stdlib only. Every command is safe to run twice.

  snapshot SRC_CHROMA DEST_CHROMA [--pause SH_CMD --resume SH_CMD] [--attempts N]
                                                     consistent copy of a live ChromaDB dir; DEST.live-stat.json
  tar-stream DIR OUT [LIVE_STAT]                     tar DIR to stdout and to OUT (host copy) in one pass;
                                                     OUT.sha256, OUT.manifest.json
  merge-manifest BACKUP_DIR NAME ...                 BACKUP_DIR/manifest.json from the per-archive manifests
  verify MANIFEST NAME DIR [STAT_OUT]                every entry of NAME in DIR matches the manifest, nothing extra
  delta MANIFEST NAME LIVE_DIR DEST_DIR [UID:GID]    bring DEST (restored from NAME) up to the live dir
  parity MANIFEST NAME LIVE VOL VOL_STAT [SAMPLE_MB] LIVE and VOL hold the same content (stat proofs, hashes, a sample)
  sync-back SRC_DIR LIVE_DIR KEEP_AS UID:GID         if SRC differs from LIVE: keep LIVE as KEEP_AS, copy SRC over it
  settle RUN_ID [SECONDS]                            stop what a lost session of RUN_ID left running (helpers, agents)
  restore TAR DEST UID:GID MANIFEST NAME [STAT_OUT]  empty DEST, unpack TAR into it, own it by UID:GID, then verify
  verify-all MANIFEST NAME=DIR ...                   verify, for each data set
  delta-all MANIFEST UID:GID NAME=LIVE=DEST ...      delta, for each data set
  parity-all MANIFEST STAT_DIR NAME=LIVE=VOL ...     parity, for all data sets at once (STAT_DIR/NAME.stat.json)
  sync-back-all RUN_ID SRC=LIVE ...                  sync-back, for each data set: owner of LIVE's parent,
                                                     LIVE kept as LIVE.pre-rollback-RUN_ID
  keep-volume DIR NAME RUN_ID                        record DIR/NAME: volume NAME kept on purpose by run RUN_ID

What is data: regular files and symlinks. Names are bytes (anything but '/' and NUL); in JSON they are
the UTF-8 str Python gives them, undecodable bytes as lone surrogates \\udcNN (PEP 383), which round-trips.
Symlinks are compared as links and never followed, sparse files stay sparse, hard links stay hard links.

Exit codes: 0 ok; 1 other error; 2 usage; 3 snapshot: the dir kept changing (retry with --pause);
4 snapshot: the resume command failed (the app may still be paused); 5 verify failed; 7 parity failed;
8 sync-back refused an unsound source; 9 the connection was cut (stdout closed); 10 tar-stream: DIR is not a
directory; 13 permission denied; 28 disk full; 128+N stopped by signal N. Errors are one line on stderr
(the Python traceback only with CUTOVER_DEBUG=1); whatever a failed command half-wrote is removed.
"""
import errno, hashlib, json, os, shutil, signal, sqlite3, stat as S, subprocess, sys, time, urllib.parse

SQLITE = "chroma.sqlite3"
SKIP = {SQLITE + "-wal", SQLITE + "-shm", SQLITE + "-journal"}
BUF = 1 << 20
ZEROS = bytes(BUF)
NAMES = "utf-8; undecodable bytes as \\udcNN (PEP 383)"
REGTYPE, LNKTYPE, SYMTYPE, DIRTYPE = b"0", b"1", b"2", b"5"


# ---- names are bytes

def fsb(name):
    """The bytes of NAME as the file system has them. Names from os.scandir and argv carry undecodable
    bytes as lone surrogates (PEP 383): a bare .encode() raises on them."""
    return name.encode("utf-8", "surrogateescape")


def show(name):
    """NAME for humans, on one line: undecodable bytes and control characters (a newline) as \\xNN."""
    s = fsb(name).decode("utf-8", "backslashreplace")
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() or ord(c) > 0xff else "\\x%02x" % ord(c) for c in s)


def _is_utf8(name):
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# ---- failures: one line, partial outputs removed

class Fail(Exception):
    """An expected failure: exit CODE with one line for the operator."""

    def __init__(self, code, line):
        super().__init__(line)
        self.code = code


class Terminated(BaseException):
    """SIGTERM or SIGHUP (the SSH session went away): unwinds like an exception, so finally blocks run
    (a paused app is resumed, partial outputs removed)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


class _Ctx:
    """What the top-level error message needs to know about the running command."""
    cmd = "agent"
    reads = ()       # paths this command reads from: an error under them is "reading", else "writing"
    source = None    # the tree being copied: its size goes into a disk-full message
    progress = None  # () -> bytes written so far
    done = 0         # bytes copied so far, for commands that copy file by file


CTX = _Ctx()
_PARTIAL = []


def partial(path):
    """PATH is being written: removed if the command fails (it would hold disk space and look like data)."""
    _PARTIAL.append(path)
    return path


def complete(path):
    if path in _PARTIAL:
        _PARTIAL.remove(path)


def remove_any(path):
    """Remove PATH whatever it is; a symlink is removed, never followed."""
    if _is_dir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _is_dir(path):
    """A real directory, not a symlink to one."""
    return os.path.isdir(path) and not os.path.islink(path)


def _named(e, path):
    """E with PATH as its file name when it has none (errors of os.write and friends name no file)."""
    return e if e.filename else OSError(e.errno, e.strerror, path)


def _mb(n):
    return "%.1f MB" % (n / 1e6)


def _allocated(root):
    """Bytes the regular files under ROOT take (holes not counted), for a disk-full message."""
    n = 0
    for _, p in walk(root):
        try:
            s = os.lstat(p)
            n += min(s.st_size, s.st_blocks * 512) if S.S_ISREG(s.st_mode) else 0
        except OSError:
            pass
    return n


def explain(e):
    """(exit code, one line) for an OSError: what happened, on which path, and the fix."""
    path = show(str(e.filename)) if e.filename is not None else "(unnamed)"
    if e.filename2 is not None:  # a rename or a link: both ends
        path += " -> " + show(str(e.filename2))
    verb = "reading" if any(str(e.filename or "").startswith(r) for r in CTX.reads) else "writing"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        note = ""
        if CTX.progress and CTX.progress():
            note = " after %s" % _mb(CTX.progress())
        if CTX.source:
            try:
                note += " (the source is %s)" % _mb(_allocated(CTX.source))
            except OSError:
                pass
        return 28, "%s: host disk full writing %s%s: free space on the host, then retry" % (CTX.cmd, path, note)
    if e.errno in (errno.EACCES, errno.EPERM):
        return 13, "%s: permission denied %s %s: %s: run it as root, or fix the owner/mode of that path" % (
            CTX.cmd, verb, path, e.strerror)
    if e.errno == errno.ENOENT:
        return 1, "%s: %s does not exist: check the path, or whether something else removed it" % (CTX.cmd, path)
    if e.errno == errno.EROFS:
        return 1, "%s: read-only file system writing %s: mount it read-write, or write elsewhere" % (CTX.cmd, path)
    if e.errno == errno.EIO:
        return 1, "%s: I/O error %s %s: the disk may be failing (see dmesg)" % (CTX.cmd, verb, path)
    return 1, "%s: %s %s: %s" % (CTX.cmd, verb, path, e.strerror or e)


# ---- walking: regular files and symlinks are data

def scan(root):
    """(rel, path, DirEntry) of everything under ROOT, each directory's entries sorted and listed before
    what is under them. A subdirectory that vanishes while listed is skipped (the app deletes); any other
    error raises: an unreadable directory must not pass for an empty one, nor a missing ROOT."""
    todo = [("", root)]
    while todo:
        rel, d = todo.pop()
        try:
            with os.scandir(d) as it:
                ents = sorted(it, key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            if not rel:
                raise
            continue
        sub = []
        for e in ents:
            r = rel + "/" + e.name if rel else e.name
            yield r, e.path, e
            if e.is_dir(follow_symlinks=False):
                sub.append((r, e.path))
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


def tree_state(root):
    """{rel: lstat} of every file and link but the SQLite database; what vanishes meanwhile is left out."""
    out = {}
    for rel, p in walk(root):
        if rel != SQLITE:
            try:
                out[rel] = os.lstat(p)
            except FileNotFoundError:
                pass
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


def _hash_zeros(h, n):
    while n > 0:
        h.update(ZEROS[:min(n, BUF)])
        n -= BUF


def _pread(fd, n, off, path):
    try:
        return os.pread(fd, n, off)
    except OSError as e:
        raise _named(e, path) from None


def sha256_file(path):
    """sha256 of the logical content (holes hashed as zeros, without reading them)."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        s, pos = os.fstat(fd), 0
        for off, n in regions(fd, s):
            _hash_zeros(h, off - pos)
            end = off + n
            while off < end:
                b = _pread(fd, min(BUF, end - off), off, path)
                if not b:
                    break
                h.update(b)
                off += len(b)
            _hash_zeros(h, end - off)
            pos = end
        _hash_zeros(h, s.st_size - pos)
    return h.hexdigest()


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
    # O_NOFOLLOW: the file listed, not a symlink the app put in its place since
    with open(os.open(src, os.O_RDONLY | os.O_NOFOLLOW), "rb", buffering=0) as fi:
        fd = fi.fileno()
        read_at = time.time_ns()
        s = os.fstat(fd)
        with open(dst, "xb", buffering=0) as fo:
            out = fo.fileno()
            try:
                for off, n in regions(fd, s):
                    end = off + n
                    while off < end:
                        b = _pread(fd, min(BUF, end - off), off, src)
                        if not b:
                            break  # shrank while copied: ftruncate fills with zeros, and it counts as changed
                        wrote = os.pwrite(out, b, off)
                        off += wrote
                        CTX.done += wrote
                os.ftruncate(out, s.st_size)
                os.fchmod(out, S.S_IMODE(s.st_mode))
                _copy_xattrs(fd, out)
                os.utime(out, ns=(s.st_atime_ns, s.st_mtime_ns))
            except OSError as e:
                raise _named(e, dst) from None
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
        os.symlink(os.readlink(src), dst)
        return read_at, identity(os.lstat(src)) != identity(s)
    if not S.S_ISREG(s.st_mode):
        return None
    first = linker.earlier(s)
    if first:
        os.link(first, dst)
        return time.time_ns(), False
    s2, read_at, changed = copy_file(src, dst)
    linker.remember(s2, dst)
    return read_at, changed or identity(s2) != identity(s)


# ---- SQLite

def _uri(path, mode):
    return "file:%s?%s" % (urllib.parse.quote(fsb(path)), mode)


def open_ro(path):
    """Read-only open that also works on a read-only mount: a WAL database normally needs its -shm
    file; when no -wal file exists (writer stopped and checkpointed) immutable=1 is exact."""
    if not os.path.isfile(path):
        raise OSError(errno.ENOENT, "No such file", path)
    try:
        c = sqlite3.connect(_uri(path, "mode=ro"), uri=True, timeout=60)
        c.execute("select count(*) from sqlite_master").fetchone()
        return c
    except sqlite3.OperationalError:
        if os.path.exists(path + "-wal") and os.path.getsize(path + "-wal") > 0:
            raise
        return sqlite3.connect(_uri(path, "mode=ro&immutable=1"), uri=True, timeout=60)


class Busy(Exception):
    """The SQLite writer kept restarting a stepped backup."""


def _yield_to_writer(deadline):
    """Progress callback of a stepped backup: a pause between steps (no lock held then) lets the writer
    commit. Every commit restarts a stepped backup: with a DEADLINE (a snapshot attempt, which can pause
    the app later), a few restarts or the deadline give up the attempt."""
    last, restarts = [None], [0]

    def progress(status, remaining, total):
        if last[0] is not None and remaining > last[0]:
            restarts[0] += 1
        last[0] = remaining
        if deadline and (restarts[0] > 3 or time.monotonic() > deadline):
            raise Busy()
        time.sleep(0.001)
    return progress


def sqlite_copy(src, dst, deadline=None):
    """SQLite's online backup API: a consistent copy of a live database, WAL included. A WAL database is
    copied in one step (one read transaction, which does not block the writer); a rollback-journal one
    in steps of 256 pages, so the writer is never blocked long. The old dst stays in place until the
    new copy is complete (atomic rename)."""
    tmp = partial(dst + ".part")
    remove_any(tmp)
    s = open_ro(src)
    try:
        d = sqlite3.connect(_uri(tmp, "mode=rwc"), uri=True)
        try:
            if s.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                s.backup(d)
            else:
                s.backup(d, pages=256, progress=_yield_to_writer(deadline))
            d.execute("PRAGMA journal_mode=DELETE")
            ok = d.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.Error as e:
            if getattr(e, "sqlite_errorcode", 0) & 0xff == 13:  # SQLITE_FULL
                raise OSError(errno.ENOSPC, "No space left on device", tmp) from None
            raise
        finally:
            d.close()
    finally:
        s.close()
    if ok != "ok":
        raise Fail(1, "%s: integrity_check of the copy of %s failed: %s" % (CTX.cmd, show(src), ok))
    os.replace(tmp, dst)
    complete(tmp)


def sqlite_logical(path):
    h = hashlib.sha256()
    c = open_ro(path)
    c.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # any bytes a TEXT value holds
    try:
        tables = [r[0] for r in c.execute(
            "select name from sqlite_master where type='table' and name not like 'sqlite_%' order by name")]
        for t in tables:
            h.update(fsb(t))
            cols = [r[1] for r in c.execute('pragma table_info("%s")' % t)]
            order = ",".join('"%s"' % x for x in cols)
            for row in c.execute('select * from "%s" order by %s' % (t, order)):
                h.update(fsb(repr(row)))
    finally:
        c.close()
    return h.hexdigest()


# ---- snapshot

def _run_sh(cmd):
    """Run the operator's SH_CMD; its output goes to stderr (stdout carries this command's JSON)."""
    return subprocess.run(["sh", "-c", cmd], stdout=2).returncode


def _snapshot_pass(src, dst, state, dirs):
    """One copy pass over the index files (everything but the SQLite database): copy what appeared or
    changed since STATE recorded it (identity + read time, or None: changed while copied), delete from
    DST what vanished. Tolerates anything appearing, vanishing or being renamed meanwhile."""
    seen, now_dirs, linker = set(), set(), Linker()
    for rel, p, e in scan(src):
        if rel == SQLITE or e.name in SKIP:
            continue
        out = os.path.join(dst, rel)
        try:
            s = os.lstat(p)
            if S.S_ISDIR(s.st_mode):
                now_dirs.add(rel)
                if not _is_dir(out):
                    remove_any(out)
                    os.mkdir(out)
                os.chmod(out, S.S_IMODE(s.st_mode))
                continue
            if not (S.S_ISREG(s.st_mode) or S.S_ISLNK(s.st_mode)):
                continue
            seen.add(rel)
            if unchanged_since_read(state.get(rel), s) and linker.earlier(s) is None:
                continue
            remove_any(out)
            got = place(p, out, s, linker)
        except OSError as err:
            if err.filename != p or err.errno not in (errno.ENOENT, errno.ELOOP):
                raise  # a path in DST is gone, or worse: not the app's doing
            seen.discard(rel)  # vanished (renamed away) or replaced by a link while copied: the next pass sees it
            continue
        state[rel] = None if got[1] else identity(s) + [got[0]]
    for rel in sorted(set(state) - seen, reverse=True):
        del state[rel]
        if not _is_dir(os.path.join(dst, rel)):  # else it became a directory this pass
            remove_any(os.path.join(dst, rel))
    for rel in sorted(dirs - now_dirs, reverse=True):
        if _is_dir(os.path.join(dst, rel)):  # else it became a file or link this pass
            shutil.rmtree(os.path.join(dst, rel))
    dirs.clear()
    dirs.update(now_dirs)


def _settled(src, state):
    """No index file changed, appeared or vanished since it was copied (nor in the clock tick it was read)."""
    now = tree_state(src)
    return set(now) == set(state) and all(unchanged_since_read(state[r], now[r]) for r in now)


def _moved_while_paused(src, state):
    """An index file that changed, appeared or vanished since the paused pass copied it, or None: then
    the pause command did not stop every writer."""
    now = tree_state(src)
    for rel in sorted(set(now) | set(state)):
        if rel not in now or not state.get(rel) or state[rel][:3] != identity(now[rel]):
            return rel
    return None


def _snapshot_attempt(src, dst, state, dirs):
    _snapshot_pass(src, dst, state, dirs)
    try:
        sqlite_copy(os.path.join(src, SQLITE), os.path.join(dst, SQLITE), time.monotonic() + 60)
    except Busy:
        return False
    return _settled(src, state)


def _paused(src, dst, state, dirs, pause, resume):
    """Pause the app (SH_CMD), make the final pass and SQLite copy, and resume it whatever happens
    (exception, SIGTERM, SIGHUP: signals are held while the resume command runs). Returns the pause in ms."""
    t0 = time.monotonic()
    try:
        rc = _run_sh(pause)
        if rc:
            raise Fail(1, "snapshot: the pause command failed (exit %d): %s" % (rc, pause))
        _snapshot_pass(src, dst, state, dirs)
        sqlite_copy(os.path.join(src, SQLITE), os.path.join(dst, SQLITE))
        moved = _moved_while_paused(src, state)
        if moved is not None:
            raise Fail(3, "snapshot: %s changed while the app was paused (%s): check that the pause command "
                          "stops every writer, then retry" % (show(src), show(moved)))
    except BaseException:
        _resume(resume)  # the first failure is the one reported; a failed resume says so itself
        raise
    if not _resume(resume):
        raise Fail(4, "snapshot: the copy is complete, but the resume command failed: the app may still be "
                      "paused: run it by hand: %s" % resume)
    return int((time.monotonic() - t0) * 1000)


def _resume(cmd):
    """Run the resume command with SIGTERM, SIGHUP and SIGINT held (delivered after it ran: it must run
    to the end). False, said on stderr, when it failed."""
    held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        rc = _run_sh(cmd)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
    if rc:
        _say("snapshot: the resume command failed (exit %d): the app may still be paused: run it by hand: %s"
             % (rc, cmd))
    return rc == 0


def _snapshot_options(args):
    """SRC DEST [--pause SH_CMD --resume SH_CMD] [--attempts N]."""
    pos, opt = [], {"--pause": None, "--resume": None, "--attempts": "5"}
    it = iter(args)
    for a in it:
        if a in opt:
            opt[a] = next(it, None)
            if opt[a] is None:
                raise Fail(2, "snapshot: %s needs a value" % a)
        else:
            pos.append(a)
    if len(pos) != 2 or bool(opt["--pause"]) != bool(opt["--resume"]) or not opt["--attempts"].isdigit():
        raise Fail(2, "usage: snapshot SRC_CHROMA DEST_CHROMA [--pause SH_CMD --resume SH_CMD] [--attempts N]"
                      " (a pause needs its resume)")
    return pos[0], pos[1], opt["--pause"], opt["--resume"], int(opt["--attempts"])  # 0: pause at once


def cmd_snapshot(*args):
    """A consistent copy of a live ChromaDB dir while the app writes: a first pass copies every index
    file, later passes re-copy only what changed or appeared and delete what vanished, each followed by
    the SQLite copy (backup API) and a check that no index file changed since it was copied: then index
    files and database are of one moment. After N attempts without that, --pause stops the app for one
    final pass (resumed whatever happens); without it, exit 3. DEST.live-stat.json records each live
    file's identity when it was copied, so the cutover delta can skip what has not changed since."""
    src, dst, pause, resume, attempts = _snapshot_options(args)
    CTX.reads, CTX.source, CTX.done = (src,), src, 0
    CTX.progress = lambda: CTX.done
    if not os.path.isfile(os.path.join(src, SQLITE)):
        raise Fail(1, "snapshot: %s has no %s: is it the ChromaDB dir?" % (show(src), SQLITE))
    stat_file = dst.rstrip("/") + ".live-stat.json"
    partial(dst)
    partial(stat_file)
    remove_any(dst)
    remove_any(stat_file)
    os.makedirs(dst)
    state, dirs, paused_ms, n = {}, set(), None, 0
    while n < attempts:
        n += 1
        if _snapshot_attempt(src, dst, state, dirs):
            break
        if n < attempts:
            time.sleep(0.2 * n)
    else:
        if not pause:
            raise Fail(3, "snapshot: %s kept changing during %d copy attempts: retry with --pause "
                          "(e.g. --pause 'supervisorctl stop chatbot-backend' --resume "
                          "'supervisorctl start chatbot-backend')" % (show(src), attempts))
        n += 1
        paused_ms = _paused(src, dst, state, dirs, pause, resume)
    with open(partial(stat_file + ".part"), "w") as f:  # lets the cutover delta skip unchanged index files
        f.write(json.dumps({rel: v for rel, v in state.items() if v}))
    os.replace(stat_file + ".part", stat_file)
    complete(stat_file + ".part")
    complete(dst)
    complete(stat_file)
    print(json.dumps({"snapshot": dst, "attempts": n, "paused_ms": paused_ms, "files": len(state) + 1}))
    return 0


# ---- tar-stream

class _Fanout:
    """Writes the archive to stdout (the operator's machine) and to the host copy, hashing it as
    written, on a second thread (hashlib and writes release the GIL): reading and per-file hashing
    go on meanwhile. Small pieces (headers, small files) are gathered into 1 MiB writes; the queue
    holds at most 16 MiB."""

    def __init__(self, f, path):
        import queue, threading
        self.f, self.path, self.so = f, path, sys.stdout.buffer
        self.h, self.n, self.buf = hashlib.sha256(), 0, bytearray()
        self.q, self.error = queue.Queue(maxsize=16), None
        self.t = threading.Thread(target=self._drain, daemon=True)
        self.t.start()

    def write(self, b):
        if self.error:
            raise self.error
        if len(b) >= BUF // 4:
            self.flush()
            self._put(b)
        else:
            self.buf += b
            if len(self.buf) >= BUF:
                self.flush()

    def flush(self):
        if self.buf:
            self._put(bytes(self.buf))
            self.buf.clear()

    def _put(self, b):
        self.n += len(b)
        self.q.put(b)

    def _sync(self):
        try:
            os.fdatasync(self.f.fileno())
        except OSError as e:
            self.error = self.error or _named(e, self.path)

    def _drain(self):
        import threading
        unsynced, syncer = 0, None
        while True:
            b = self.q.get()
            if b is None:
                if syncer:
                    syncer.join()
                return
            if self.error:
                continue
            try:
                self.so.write(b)
            except BrokenPipeError as e:  # a cut connection
                self.error = e
                continue
            except OSError as e:
                self.error = _named(e, "stdout")
                continue
            try:
                mv = memoryview(b)
                while mv:  # a raw write may write less than asked
                    mv = mv[self.f.write(mv):]
                self.h.update(b)
                # Flush the host copy to disk as it grows (on a third thread), so the final fsync
                # only waits for the tail.
                unsynced += len(b)
                if unsynced >= 64 * BUF and not (syncer and syncer.is_alive()):
                    unsynced = 0
                    syncer = threading.Thread(target=self._sync, daemon=True)
                    syncer.start()
            except OSError as e:  # a full disk
                self.error = _named(e, self.path)
            except BaseException as e:
                self.error = e

    def abort(self):
        """The command failed: drop what is queued and stop the writer thread (a daemon thread still
        writing to stdout at interpreter exit can abort the process, which would not be one line)."""
        self.error = self.error or RuntimeError("aborted")
        try:
            while True:
                self.q.get_nowait()
        except Exception:
            pass
        self.q.put(None)
        self.t.join(timeout=5)

    def close(self):
        """Everything written and flushed; raises what the writer thread met."""
        self.flush()
        self.q.put(None)
        self.t.join()
        if self.error:
            raise self.error
        self.so.flush()


def _header(nb, mode, uid, gid, size, mtime, kind, lb=b""):
    h = bytearray(512)
    h[0:len(nb)] = nb
    h[100:148] = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode, uid, gid, size, mtime)
    h[148:156] = b"        "
    h[156] = kind[0]
    h[157:157 + len(lb)] = lb
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _pax_record(key, value):
    body = b" %s=%s\n" % (key, value)
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d%s" % (n, body)


def _ascii(nb):
    """A stand-in for the ustar name field when the real name is in a pax record."""
    return nb.decode("ascii", "replace").encode("ascii", "replace")[:100]


def _ustar(name, mode, uid, gid, size, mtime, kind, link="", recs=b"", binary=False):
    """A POSIX tar header built directly (tarfile's is 5x slower): plain ustar when every field fits,
    else a pax extended header first, as GNU tar reads it: the path or link when not short ASCII,
    numbers too big for their field. A name that is not UTF-8 gets hdrcharset=BINARY before it, so
    GNU tar extracts its raw bytes. RECS: records of the caller (sparse files), BINARY: they hold a
    name that is not UTF-8."""
    nb, lb = fsb(name), fsb(link)
    if not name.isascii() or len(nb) > 100:
        recs += _pax_record(b"path", nb)
        binary = binary or not _is_utf8(name)
        nb = _ascii(nb)
    if not link.isascii() or len(lb) > 100:
        recs += _pax_record(b"linkpath", lb)
        binary = binary or not _is_utf8(link)
        lb = _ascii(lb)
    if uid > 0o7777777:
        recs, uid = recs + _pax_record(b"uid", b"%d" % uid), 0
    if gid > 0o7777777:
        recs, gid = recs + _pax_record(b"gid", b"%d" % gid), 0
    if size > 0o77777777777:
        recs, size = recs + _pax_record(b"size", b"%d" % size), 0
    if not 0 <= mtime <= 0o77777777777:
        recs, mtime = recs + _pax_record(b"mtime", b"%d" % mtime), 0
    if not recs:
        return _header(nb, mode, uid, gid, size, mtime, kind, lb)
    if binary:
        recs = _pax_record(b"hdrcharset", b"BINARY") + recs
    return (_header(b"././@PaxHeader", 0o644, 0, 0, len(recs), mtime, b"x") + recs + bytes(-len(recs) % 512)
            + _header(nb, mode, uid, gid, size, mtime, kind, lb))


class _Archive:
    """The entries of one tar-stream as they are written, and the manifest they make: {"size", "mtime",
    "sha256", "live"} for a file, {"link": target} for a symlink, {"hardlink": first rel, ...} for the
    second and later paths of a hard-linked inode."""

    def __init__(self, w, live):
        self.w, self.live, self.files, self.changed, self.inodes = w, live, {}, [], {}

    def flag(self, arc):
        if arc not in self.changed:
            self.changed.append(arc)

    def add(self, arc, p, top=False):
        try:
            s = os.stat(p) if top else os.lstat(p)
            if S.S_ISDIR(s.st_mode):
                self.w.write(_ustar(arc + "/", S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), DIRTYPE))
            elif S.S_ISLNK(s.st_mode):
                target = os.readlink(p)
                self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), SYMTYPE, target))
                self.files[arc[2:]] = {"link": target}
            elif S.S_ISREG(s.st_mode):
                self.regular(arc, p)
            else:
                self.flag(arc)  # sockets, fifos, devices: not data, not archived
        except FileNotFoundError as e:
            if e.filename != p:
                raise
            self.flag(arc)  # removed between listing and reading

    def regular(self, arc, p):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)  # the file listed, not a link put in its place since
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            self.flag(arc)
            return
        with os.fdopen(fd, "rb", buffering=0) as src:
            read_at = time.time_ns()
            s = os.fstat(fd)
            rel, key = arc[2:], (s.st_dev, s.st_ino)
            first = self.inodes.get(key) if s.st_nlink > 1 else None
            if first is not None:
                self.hardlink(arc, s, first, read_at)
                return
            if s.st_nlink > 1:
                self.inodes[key] = rel
            reg = regions(fd, s)
            if s.st_size and reg != [(0, s.st_size)]:
                h = self.sparse(arc, fd, s, reg, p)
            else:
                h = self.plain(arc, src, s)
            if identity(os.fstat(fd)) != identity(s):
                self.flag(arc)
        self.files[rel] = {"size": s.st_size, "mtime": int(s.st_mtime), "sha256": h.hexdigest(),
                           "live": self.live.get(rel, identity(s) + [read_at])}
        if arc in self.changed:
            self.files[rel]["changed_while_read"] = True

    def hardlink(self, arc, s, first, read_at):
        """A later path of an inode already archived: a link entry, no data (GNU tar links it on extraction)."""
        self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), LNKTYPE, "./" + first))
        m, rel = self.files[first], arc[2:]
        self.files[rel] = {"hardlink": first, "size": m["size"], "mtime": m["mtime"], "sha256": m["sha256"],
                           "live": self.live.get(rel, identity(s) + [read_at])}

    def plain(self, arc, src, s):
        self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, s.st_size, int(s.st_mtime), REGTYPE))
        h, left = hashlib.sha256(), s.st_size
        while left:
            b = src.read(min(BUF, left))
            if not b:  # shrank while read: pad like GNU tar, flag it
                b = bytes(min(BUF, left))
                self.flag(arc)
            h.update(b)
            self.w.write(b)
            left -= len(b)
        if s.st_size % 512:
            self.w.write(ZEROS[: 512 - s.st_size % 512])
        return h

    def sparse(self, arc, fd, s, reg, p):
        """A PAX "GNU sparse 1.0" member, as tar --format=pax --sparse writes it: the real name and size in
        pax records, then a map (count, then offset and length of each data region, in decimal lines,
        padded to 512) and the data regions only, ending, like GNU tar's, with a zero-length region at the
        real size. The sha256 is of the logical content, holes as zeros."""
        size = s.st_size
        reg = reg + [(size, 0)]
        m = b"%d\n" % len(reg) + b"".join(b"%d\n%d\n" % r for r in reg)
        m += bytes(-len(m) % 512)
        data = sum(n for _, n in reg)
        recs = (_pax_record(b"GNU.sparse.major", b"1") + _pax_record(b"GNU.sparse.minor", b"0")
                + _pax_record(b"GNU.sparse.name", fsb(arc)) + _pax_record(b"GNU.sparse.realsize", b"%d" % size))
        stand_in = "./GNUSparseFile.0/" + _ascii(fsb(os.path.basename(arc))).decode()
        self.w.write(_ustar(stand_in[:100], S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, len(m) + data,
                            int(s.st_mtime), REGTYPE, recs=recs, binary=not _is_utf8(arc)))
        self.w.write(m)
        h, pos = hashlib.sha256(), 0
        for off, n in reg:
            _hash_zeros(h, off - pos)
            end = off + n
            while off < end:
                b = _pread(fd, min(BUF, end - off), off, p)
                if not b:  # shrank while read: pad, flag it
                    b = bytes(min(BUF, end - off))
                    self.flag(arc)
                h.update(b)
                self.w.write(b)
                off += len(b)
            pos = end
        if (len(m) + data) % 512:
            self.w.write(ZEROS[: 512 - (len(m) + data) % 512])
        return h


def cmd_tar_stream(root, out, live_stat=None):
    """One pass over ROOT: a POSIX (pax) tar goes to stdout (the operator's machine) and to
    OUT.part (the host-side copy), hashed as written; each file's sha256 is computed from the very
    bytes put in the archive, into OUT.manifest.json with the size, mtime and ctime it was read
    at (or, with LIVE_STAT, those of the live files a snapshot was copied from), so the cutover
    delta can tell unchanged files by metadata alone. Symlinks are archived as symlinks, hard links
    as links to the first path, sparse files as GNU sparse 1.0 members (holes not stored). OUT and
    OUT.sha256 appear only when complete; on any failure OUT.part is removed. A file that changes
    while read is flagged in the manifest (the cutover delta carries its final version)."""
    if not os.path.isdir(root):
        raise Fail(10, "tar-stream: %s is not a directory" % show(root))
    CTX.reads, CTX.source = (root,) + ((live_stat,) if live_stat else ()), root
    live = json.load(open(live_stat)) if live_stat else {}
    part = partial(out + ".part")
    with open(part, "wb", buffering=0) as f:
        w = _Fanout(f, part)
        CTX.progress = lambda: w.n
        a = _Archive(w, live)
        try:
            a.add(".", root, top=True)
            for rel, p, _ in scan(root):
                a.add("./" + rel, p)
            w.write(bytes(1024))  # end of archive, padded to a whole 10 KiB record like GNU tar
            if w.n % 10240:
                w.write(bytes(10240 - w.n % 10240))
            w.close()
        except BaseException:
            w.abort()
            raise
        try:
            os.fsync(f.fileno())
        except OSError as e:
            raise _named(e, part) from None
    if a.changed:
        _say("tar-stream: %d entries changed, vanished or were not regular while read (first: %s); "
             "the cutover delta carries their final state" % (len(a.changed), ", ".join(map(show, a.changed[:3]))))
    manifest = {"names": NAMES, "files": a.files, "sha256": w.h.hexdigest(), "bytes": w.n}
    outputs = [(out + ".manifest.json", json.dumps(manifest)),  # C encoder: json.dump is pure Python
               (out + ".sha256", "%s  %s\n" % (w.h.hexdigest(), os.path.basename(out)))]
    for path, text in outputs:
        with open(partial(path + ".part"), "w") as f:
            f.write(text)
    for path, _ in outputs:
        os.replace(path + ".part", path)
        complete(path + ".part")
    os.replace(part, out)  # last: OUT exists only with its manifest and checksum
    complete(part)
    return 0


def cmd_merge_manifest(backup_dir, *names):
    """BACKUP_DIR/manifest.json from each NAME.tar.manifest.json."""
    archives = {n: json.load(open(os.path.join(backup_dir, n + ".tar.manifest.json"))) for n in names}
    tmp = partial(os.path.join(backup_dir, "manifest.json.part"))
    with open(tmp, "w") as f:
        f.write(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "names": NAMES,
                            "archives": archives}, sort_keys=True))
    os.replace(tmp, os.path.join(backup_dir, "manifest.json"))
    complete(tmp)
    print(json.dumps({n: {"files": len(a["files"]), "bytes": a["bytes"], "sha256": a["sha256"]}
                      for n, a in archives.items()}))
    return 0


# ---- verify, parity: name what differs

def _failed(head, problems):
    """One line: HEAD, how many differ, the first five readable."""
    more = "; and %d more" % (len(problems) - 5) if len(problems) > 5 else ""
    return "%s: %d differ: %s%s" % (head, len(problems), "; ".join(problems[:5]), more)


def _kind(s):
    return "link" if S.S_ISLNK(s.st_mode) else "file" if S.S_ISREG(s.st_mode) else "other"


def _manifest(path, name):
    return json.load(open(path))["archives"][name]["files"]


def _verify_one(r, m, p, got):
    """What is wrong with the entry R of DIR at P against its manifest entry M, or None."""
    s = os.lstat(p)
    if "link" in m:
        if not S.S_ISLNK(s.st_mode):
            return "%s: %s where the manifest has a link" % (show(r), _kind(s))
        t = os.readlink(p)
        return None if t == m["link"] else "link %s: -> %s (manifest) vs -> %s (found)" % (
            show(r), show(m["link"]), show(t))
    if not S.S_ISREG(s.st_mode):
        return "%s: %s where the manifest has a file" % (show(r), _kind(s))
    if "hardlink" in m:
        f = got.get(m["hardlink"])
        fs = os.lstat(f) if f else None
        if not fs or (fs.st_dev, fs.st_ino) != (s.st_dev, s.st_ino):
            return "%s: not a hard link of %s" % (show(r), show(m["hardlink"]))
    if s.st_size != m["size"]:
        return "%s: size %d (found) vs %d (manifest)" % (show(r), s.st_size, m["size"])
    if "hardlink" not in m and sha256_file(p) != m["sha256"]:  # a hard link's content is its first path's
        return "%s: content differs" % show(r)
    return None


def cmd_verify(manifest_path, name, root, stat_out=None):
    """Every entry of NAME in ROOT matches the manifest (files by sha256, symlinks by target, hard links
    by inode), nothing extra. With STAT_OUT, the verified files' stat is recorded there, so cutover
    parity can later prove them untouched by stat."""
    CTX.reads = (manifest_path, root)
    want = _manifest(manifest_path, name)
    got = dict(walk(root))
    stats, bad = {}, []
    for r in sorted(want):
        if r not in got:
            bad.append("%s: missing" % show(r))
            continue
        before = stat_record(got[r])
        problem = _verify_one(r, want[r], got[r], got)
        if not problem and stat_record(got[r])[:3] != before[:3]:
            problem = "%s: changed while verified" % show(r)
        if problem:
            bad.append(problem)
        elif "link" not in want[r]:
            stats[r] = before
    bad += ["only in %s: %s" % (show(root), show(r)) for r in sorted(got) if r not in want]
    if bad:
        raise Fail(5, _failed("verify FAILED for %s in %s" % (name, show(root)), bad))
    if stat_out:
        os.makedirs(os.path.dirname(stat_out) or ".", exist_ok=True)
        with open(partial(stat_out + ".part"), "w") as f:
            f.write(json.dumps(stats))
        os.replace(stat_out + ".part", stat_out)
        complete(stat_out + ".part")
    print(json.dumps({"verified": name, "files": len(want)}))
    return 0


def _parity_kinds(rel, sl, sv, pl, pv, ll, lv):
    """What differs between REL's live and volume entries in kind, link target or hard-link group."""
    if _kind(sl) != _kind(sv):
        return "%s: %s (live) vs %s (volume)" % (show(rel), _kind(sl), _kind(sv))
    if S.S_ISLNK(sl.st_mode):
        tl, tv = os.readlink(pl), os.readlink(pv)
        return None if tl == tv else "link %s: -> %s (live) vs -> %s (volume)" % (show(rel), show(tl), show(tv))
    if ll.get(rel, rel) != lv.get(rel, rel):
        side = lambda lead: "a hard link of %s" % show(lead) if lead != rel else "its own file"
        return "%s: %s (live) vs %s (volume)" % (show(rel), side(ll.get(rel, rel)), side(lv.get(rel, rel)))
    return None


def cmd_parity(manifest_path, name, live, vol, vol_stat, sample_mb="64"):
    """LIVE and VOL hold the same files with the same content. A file is proven equal without
    reading it when stat shows the live file untouched since the backup read it (manifest) and the
    volume's file untouched since the restore verified it (VOL_STAT); both then equal the manifest's
    sha256. Every other file is hashed on both sides, the SQLite database is compared logically,
    and a deterministic sample of SAMPLE_MB of proven files is hashed anyway, so a wrong proof
    would still be caught. Symlinks are compared by target, never followed; hard-link groups must match."""
    CTX.reads = (manifest_path, live, vol, vol_stat)
    want = _manifest(manifest_path, name)
    vstat = json.load(open(vol_stat)) if os.path.exists(vol_stat) else {}
    lf, vf = dict(walk(live)), dict(walk(vol))
    both = sorted(set(lf) & set(vf))
    lst, vst = {r: os.lstat(lf[r]) for r in both}, {r: os.lstat(vf[r]) for r in both}
    ll, lv = leaders(lst), leaders(vst)
    proven, hashed, diff = [], 0, []
    for rel in both:
        sl, sv = lst[rel], vst[rel]
        problem = _parity_kinds(rel, sl, sv, lf[rel], vf[rel], ll, lv)
        if problem or not S.S_ISREG(sl.st_mode):
            diff += [problem] if problem else []
            continue
        if rel == SQLITE:
            if sqlite_logical(lf[rel]) != sqlite_logical(vf[rel]):
                diff.append("%s: database content differs" % rel)
            continue
        m = want.get(rel)
        if m and "sha256" in m and unchanged_since_read(m.get("live"), sl) and unchanged_since_read(vstat.get(rel), sv):
            proven.append(rel)
            continue
        hashed += 1
        if sl.st_size != sv.st_size:
            diff.append("%s: size %d (live) vs %d (volume)" % (show(rel), sl.st_size, sv.st_size))
        elif sha256_file(lf[rel]) != sha256_file(vf[rel]):
            diff.append("%s: content differs" % show(rel))
    budget, sampled = int(sample_mb) << 20, 0
    for rel in sorted(proven, key=lambda r: hashlib.sha256(fsb(r)).digest()):
        if budget <= 0:
            break
        if not sha256_file(lf[rel]) == sha256_file(vf[rel]) == want[rel]["sha256"]:
            diff.append("%s: content differs (caught by the sample: its stat proof was wrong)" % show(rel))
        budget -= want[rel]["size"]
        sampled += 1
    diff += ["only in live: %s" % show(r) for r in sorted(set(lf) - set(vf))]
    diff += ["only in volume: %s" % show(r) for r in sorted(set(vf) - set(lf))]
    if diff:
        raise Fail(7, _failed("parity FAILED for %s" % name, diff))
    print(json.dumps({"parity": name, "files": len(lf), "proven_by_stat": len(proven), "hashed": hashed,
                      "sampled": sampled}))
    return 0


# ---- delta

def _owner(owner):
    """(uid, gid) of "UID:GID", or None."""
    if not owner:
        return None
    try:
        uid, gid = (int(x) for x in owner.split(":"))
        return uid, gid
    except ValueError:
        raise Fail(2, "%s: owner must be UID:GID, got %s" % (CTX.cmd, owner)) from None


class _Delta:
    """Brings DEST (restored from the archive the manifest describes) up to LIVE, entry by entry.
    Everything is written beside its target (*.cutover-part) and renamed over it; only what is
    written is chowned (the rest keeps the ctime cutover parity relies on)."""

    def __init__(self, want, dest, owner):
        self.want, self.dest, self.owner = want, dest, owner
        self.inodes = {}  # (st_dev, st_ino) of a live hard-linked file -> its first rel this pass
        self.counts = {"changed": 0, "added": 0, "deleted": 0, "bytes": 0, "rehashed": 0}

    def own(self, path):
        if self.owner:
            os.lchown(path, *self.owner)

    def parent(self, rel):
        """Make REL's parent directories in DEST, replacing anything there that is not a real directory
        (never write through a symlink)."""
        cur = self.dest
        for part in rel.split("/")[:-1]:
            cur = os.path.join(cur, part)
            if os.path.lexists(cur) and not _is_dir(cur):
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
        if _is_dir(out):
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

    def deleted(self, live_files):
        """Remove from DEST what is gone from LIVE (first: a path that became a directory must be free)."""
        for rel in sorted(self.want, reverse=True):
            out = os.path.join(self.dest, rel)
            if rel not in live_files and os.path.lexists(out) and not _is_dir(out):
                os.remove(out)
                self.counts["deleted"] += 1


def cmd_delta(manifest_path, name, live, dest, owner=None):
    """Bring DEST (restored from NAME) up to LIVE: changed, new and deleted files and symlinks, hard
    links kept (a changed inode is copied once, its other paths linked), holes kept, and a fresh SQLite
    copy. Only what it writes is chowned to OWNER (UID:GID): the rest keeps the ctime cutover parity
    relies on."""
    own = _owner(owner)
    CTX.reads, CTX.source = (manifest_path, live), live
    want = _manifest(manifest_path, name)
    live_files = dict(walk(live))
    d = _Delta(want, dest, own)
    d.deleted(live_files)
    for rel, p in live_files.items():
        if rel != SQLITE:
            d.entry(rel, p)
    if SQLITE in live_files:
        db = os.path.join(dest, SQLITE)
        sqlite_copy(live_files[SQLITE], db)
        d.own(db)
        for s in SKIP:
            if os.path.lexists(os.path.join(dest, s)):
                os.remove(os.path.join(dest, s))
        d.counts["bytes"] += os.path.getsize(db)
    print(json.dumps({"delta": name, **d.counts}))
    return 0


# ---- sync-back

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
    Refuses a source that is not a complete data set (nothing is better than a broken copy). Safe to
    run again after it failed part-way: a stale LIVE.cutover-part is removed first. LIVE is kept as
    KEEP_AS (or KEEP_AS.1, .2 ... when that exists): never deleted."""
    if not _owner(owner):
        raise Fail(2, "sync-back: UID:GID is required")
    uid, gid = _owner(owner)
    CTX.reads, CTX.source, CTX.done = (src,), src, 0
    CTX.progress = lambda: CTX.done
    if os.path.basename(live.rstrip("/")).startswith("chroma") or os.path.exists(os.path.join(live, SQLITE)):
        db = os.path.join(src, SQLITE)
        check = _quick_check(db) if os.path.isfile(db) else "missing"
        if check != "ok":
            raise Fail(8, "refusing to sync %s back to %s: it has no sound %s (%s); bare metal left untouched"
                       % (show(src), show(live), SQLITE, check))
    if os.path.isdir(live) and digest(src) == digest(live):
        print(json.dumps({"sync_back": "unchanged", "live": live}))
        return 0
    tmp = live.rstrip("/") + ".cutover-part"
    try:
        remove_any(tmp)
    except OSError as e:
        raise Fail(1, "sync-back: cannot remove %s left by an earlier attempt (%s): remove it by hand, then retry"
                   % (show(tmp), e.strerror)) from None
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


def _quick_check(db):
    """"ok", or what is wrong with the database DB."""
    try:
        c = open_ro(db)
    except sqlite3.Error as e:
        return str(e)
    try:
        return c.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as e:
        return str(e)
    finally:
        c.close()


# ---- settle

def _ancestors():
    """This process and its ancestors: they carry the run id in their argv too, and must live."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _agents(run_id):
    """{pid: argv} of the other processes whose argv names agent.py and RUN_ID."""
    mine, out = _ancestors(), {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in mine:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"agent.py" in cmd and fsb(run_id) in cmd:
            out[int(d)] = cmd.replace(b"\0", b" ").strip().decode("utf-8", "backslashreplace")
    return out


def _docker(*args):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, errors="backslashreplace")
    if r.returncode:
        why = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise Fail(1, "settle: docker %s failed (exit %d): %s" % (args[0], r.returncode, why))
    return r.stdout.split()


def _helpers(run_id):
    return _docker("ps", "-q", "--filter", "label=io.cutover.run=%s" % run_id,
                   "--filter", "label=io.cutover.role=helper")


def _settle_containers(run_id, seconds, report):
    """Wait up to SECONDS for the run's helper containers to end on their own, then remove them."""
    if not shutil.which("docker"):
        report["docker"] = "missing: no helper containers looked for"
        return
    left = set(_helpers(run_id))
    deadline = time.monotonic() + seconds
    pending = set(left)
    while pending and time.monotonic() < deadline:
        time.sleep(1)
        pending &= set(_helpers(run_id))
    report["waited"] += ["container %s" % c for c in sorted(left - pending)]
    if pending:
        subprocess.run(["docker", "rm", "-f", *sorted(pending)], capture_output=True)  # some may have just ended
        report["stopped"] += ["container %s" % c for c in sorted(pending)]
        if set(_helpers(run_id)) & pending:
            raise Fail(1, "settle: helper containers of %s still running after docker rm -f: %s"
                       % (run_id, " ".join(sorted(pending))))
    # Ended but not removed (created and never started, or --rm still pending): a re-run reuses the name.
    def ended():
        return set(_docker("ps", "-aq", "--filter", "label=io.cutover.run=%s" % run_id,
                           "--filter", "label=io.cutover.role=helper"))
    gone_by = time.monotonic() + 10
    left = ended()
    if left:
        subprocess.run(["docker", "rm", "-f", *sorted(left)], capture_output=True)
        report["stopped"] += ["ended container %s" % c for c in sorted(left)]
    while left and time.monotonic() < gone_by:  # a removal in progress (--rm) still holds its volumes
        time.sleep(0.2)
        left = ended()


def _signal_and_wait(procs, sig, seconds):
    """Send SIG to every process still running, then wait up to SECONDS for them all to end."""
    for pid in filter(_running, procs):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + seconds
    while any(map(_running, procs)) and time.monotonic() < deadline:
        time.sleep(0.05)


def _settle_processes(run_id, report):
    """SIGTERM the run's agent processes, SIGKILL what is left after 10 s."""
    procs = _agents(run_id)
    _signal_and_wait(procs, signal.SIGTERM, 10)
    _signal_and_wait(procs, signal.SIGKILL, 2)
    report["stopped"] += ["pid %d: %s" % (pid, procs[pid]) for pid in sorted(procs)]
    left = sorted(filter(_running, procs))
    if left:
        raise Fail(1, "settle: still running after SIGKILL: %s" % ", ".join("pid %d" % p for p in left))


def cmd_settle(run_id, seconds="30"):
    """What a lost SSH session of RUN_ID left running is stopped, before a resume or a rollback touches
    the same resources: the run's helper containers (waited for up to SECONDS, then removed), then
    any other agent.py process of the run (SIGTERM, SIGKILL after 10 s). Exit 0: nothing is left."""
    if not run_id.strip():
        raise Fail(2, "settle: RUN_ID is empty")
    report = {"settled": run_id, "waited": [], "stopped": []}
    _settle_containers(run_id, float(seconds), report)
    _settle_processes(run_id, report)
    print(json.dumps(report))
    return 0


# ---- main

# ---- several data sets in one command (one helper container per step)

def _pairs(specs, parts):
    out = []
    for spec in specs:
        bits = spec.split("=", parts - 1)
        if len(bits) != parts:
            raise Fail(2, "%s: %s is not %s" % (CTX.cmd, show(spec), "=".join(["X"] * parts)))
        out.append(bits)
    return out


def cmd_restore(tar, dest, owner, manifest_path, name, stat_out=None):
    """Empty DEST (a volume this run created), unpack TAR (GNU tar: PAX names as bytes, sparse members,
    hard links), own everything by UID:GID, then verify every file against the manifest."""
    uid, gid = _owner(owner) or (None, None)
    if uid is None:
        raise Fail(2, "restore: UID:GID is required")
    CTX.reads = (tar,)
    for e in os.scandir(dest):
        remove_any(e.path)
    r = subprocess.run(["tar", "-xf", tar, "--warning=no-unknown-keyword", "-C", dest], stderr=subprocess.PIPE)
    if r.returncode != 0:
        last = [l for l in r.stderr.decode(errors="backslashreplace").splitlines() if l.strip()][-1:] or ["exit %d" % r.returncode]
        raise Fail(1, "restore: unpacking %s into %s failed: %s" % (show(tar), show(dest), last[0]))
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(dest, uid, gid)
    return cmd_verify(manifest_path, name, dest, stat_out)


def cmd_verify_all(manifest_path, *specs):
    for name, root in _pairs(specs, 2):
        cmd_verify(manifest_path, name, root)
    return 0


def cmd_delta_all(manifest_path, owner, *specs):
    for name, live, dest in _pairs(specs, 3):
        cmd_delta(manifest_path, name, live, dest, owner)
    return 0


def cmd_parity_all(manifest_path, stat_dir, *specs):
    """The data sets in parallel (this runs inside the write freeze); fails if any fails."""
    procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "parity", manifest_path, name, live, vol,
                               os.path.join(stat_dir, name + ".stat.json")]) for name, live, vol in _pairs(specs, 3)]
    codes = [p.wait() for p in procs]
    bad = [c for c in codes if c != 0]
    return bad[0] if bad else 0


def cmd_sync_back_all(run_id, *specs):
    for src, live in _pairs(specs, 2):
        st = os.stat(os.path.dirname(live.rstrip("/")) or "/")
        cmd_sync_back(src, live, live.rstrip("/") + ".pre-rollback-" + run_id, "%d:%d" % (st.st_uid, st.st_gid))
    return 0


def cmd_keep_volume(kept_dir, name, run_id):
    os.makedirs(kept_dir, exist_ok=True)
    path = os.path.join(kept_dir, name)
    with open(path + ".part", "w") as f:
        f.write(run_id + "\n")
    os.replace(path + ".part", path)
    print(json.dumps({"kept": name, "run": run_id}))
    return 0


CMDS = {"snapshot": cmd_snapshot, "tar-stream": cmd_tar_stream, "merge-manifest": cmd_merge_manifest,
        "verify": cmd_verify, "delta": cmd_delta, "parity": cmd_parity, "sync-back": cmd_sync_back,
        "settle": cmd_settle, "restore": cmd_restore, "verify-all": cmd_verify_all, "delta-all": cmd_delta_all,
        "parity-all": cmd_parity_all, "sync-back-all": cmd_sync_back_all, "keep-volume": cmd_keep_volume}


def _say(line):
    """One line on stderr, which must never raise (a closed terminal)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _raise_signal(signum, frame):
    raise Terminated(signum)


def _cleanup():
    """Remove what the failed command half-wrote; say what could not be."""
    while _PARTIAL:
        p = _PARTIAL.pop()
        try:
            remove_any(p)
        except OSError as e:
            _say("%s: could not remove the partial %s: %s" % (CTX.cmd, show(p), e.strerror))


def _failure(e):
    """(exit code, one line) for what ended a command."""
    if isinstance(e, Fail):
        return e.code, str(e)
    if isinstance(e, BrokenPipeError):
        try:  # nothing more can reach the operator through stdout; keep the exit flush from raising
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        done = " after %s" % _mb(CTX.progress()) if CTX.progress else ""
        return 9, "%s: the connection was cut (stdout closed)%s; nothing incomplete was left: rerun it" % (
            CTX.cmd, done)
    if isinstance(e, OSError):
        return explain(e)
    if isinstance(e, Terminated):
        name = signal.Signals(e.signum).name
        return 128 + e.signum, "%s: stopped by %s; nothing incomplete was left" % (CTX.cmd, name)
    if isinstance(e, KeyboardInterrupt):
        return 130, "%s: interrupted; nothing incomplete was left" % CTX.cmd
    return 1, "%s: %s: %s (CUTOVER_DEBUG=1 shows the traceback)" % (CTX.cmd, type(e).__name__, e)


def main(argv):
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    if len(argv) < 2 or argv[1] not in CMDS:
        _say(__doc__)
        return 2
    CTX.cmd, fn, args = argv[1], CMDS[argv[1]], argv[2:]
    if fn is not cmd_snapshot:
        import inspect
        try:
            inspect.signature(fn).bind(*args)
        except TypeError:
            _say("usage:" + next(x for x in __doc__.splitlines() if x.startswith("  " + argv[1] + " ")))
            return 2
    signal.signal(signal.SIGTERM, _raise_signal)
    signal.signal(signal.SIGHUP, _raise_signal)
    if fn in (cmd_snapshot, cmd_tar_stream, cmd_merge_manifest, cmd_keep_volume):
        os.umask(0o077)  # what it keeps on the host (backups, manifests, records) is root's only
    try:
        return fn(*args)
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        _cleanup()
        code, line = _failure(e)
        if os.environ.get("CUTOVER_DEBUG") == "1":
            import traceback
            traceback.print_exc()
        _say(line)
        return code


if __name__ == "__main__":
    if sys.getfilesystemencoding().lower().replace("-", "") != "utf8":
        # Names in manifests are UTF-8 with surrogates for other bytes (PEP 383) whatever the host's
        # locale: a Latin-1 locale would decode the same bytes to other keys.
        os.execv(sys.executable, [sys.executable, "-X", "utf8"] + sys.argv)
    sys.exit(main(sys.argv))
