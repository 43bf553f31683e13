"""Shared by every command: names as bytes, the expected failure (Fail) and the signal one (Terminated),
the running command's context (CTX) and what it half-wrote (removed when it fails), one line on stderr."""
import os, shutil, sys, time

SQLITE = "chroma.sqlite3"  # ChromaDB's database: the one a snapshot copies when told of none (dbs.py)
SIDES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside a database: part of it, never data on their own
SKIP = {SQLITE + s for s in SIDES}  # chroma's, skipped by name everywhere (walk), as always
BUF = 1 << 20
ZEROS = bytes(BUF)
NAMES = "utf-8; undecodable bytes as \\udcNN (PEP 383)"


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
    return "".join(c if c.isprintable() or ord(c) > 0xFF else "\\x%02x" % ord(c) for c in s)


def side_of(rel):
    """The database REL would be a side file of (REL without its -wal, -shm or -journal), or None."""
    for s in SIDES:
        if rel.endswith(s) and len(rel) > len(s):
            return rel[: -len(s)]
    return None


def is_utf8(name):
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
    reads = ()  # paths this command reads from: an error under them is "reading", else "writing"
    source = None  # the tree being copied: its size goes into a disk-full message
    progress = None  # () -> bytes written so far
    done = 0  # bytes copied so far, for commands that copy file by file


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
    if is_dir(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def is_dir(path):
    """A real directory, not a symlink to one."""
    return os.path.isdir(path) and not os.path.islink(path)


def named(e, path):
    """E with PATH as its file name when it has none (errors of os.write and friends name no file)."""
    return e if e.filename else OSError(e.errno, e.strerror, path)


def write_text(path, text):
    """Write TEXT to PATH; a full disk at the write or the close names PATH (they name no file)."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise named(e, path) from None


def mb(n):
    return "%.1f MB" % (n / 1e6)


def say(line):
    """One line on stderr, which must never raise (a closed terminal)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def cleanup():
    """Remove what the failed command half-wrote; say what could not be."""
    while _PARTIAL:
        p = _PARTIAL.pop()
        try:
            remove_any(p)
        except OSError as e:
            say("%s: could not remove the partial %s: %s" % (CTX.cmd, show(p), e.strerror))


def parse_owner(owner):
    """(uid, gid) of "UID:GID", or None."""
    if not owner:
        return None
    try:
        uid, gid = (int(x) for x in owner.split(":"))
        return uid, gid
    except ValueError:
        raise Fail(2, "%s: owner must be UID:GID, got %s" % (CTX.cmd, owner)) from None


class Laps:
    """Where a command's time went: lap(K) adds the time since the previous lap to K (ms), so the step's
    output in the journal says which part was slow."""

    def __init__(self):
        self.ms, self._last = {}, time.monotonic()

    def lap(self, k):
        now = time.monotonic()
        self.ms[k] = self.ms.get(k, 0) + round((now - self._last) * 1000)
        self._last = now
