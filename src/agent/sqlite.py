"""SQLite: a read-only open that works on a read-only mount, a consistent copy of a live database
(backup API), its logical content hash, its quick_check."""
import errno, hashlib, os, shutil, sqlite3, tempfile, time, urllib.parse

import core
from core import Fail, complete, fsb, partial, remove_any, show
from walk import same_bytes


def _uri(path, mode):
    return "file:%s?%s" % (urllib.parse.quote(fsb(path)), mode)


def _nonempty(path):
    try:
        return os.path.getsize(path) > 0
    except FileNotFoundError:
        return False


class _Recovered(sqlite3.Connection):
    """A connection to a private copy of a database and its hot journal, rolled back by SQLite itself; the
    copy goes with the connection."""

    tmpdir = None

    def close(self):
        try:
            super().close()
        finally:
            if self.tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None


def _open_recovered(path):
    """The committed state of PATH, whose -journal is hot (its writer died inside a transaction: the main
    file may hold pages no transaction committed). The file and its journal are copied into a private dir
    (TMPDIR) under names SQLite pairs, and the copy opened read-write: SQLite rolls the journal back into
    it. The live files are only read, as a read-only mount requires."""
    tmpdir = tempfile.mkdtemp(prefix="cutover-sqlite-")
    try:
        db = os.path.join(tmpdir, "db")
        for src, dst in ((path, db), (path + "-journal", db + "-journal")):
            shutil.copyfile(src, dst)
        c = sqlite3.connect(_uri(db, "mode=rw"), uri=True, timeout=60, factory=_Recovered)
        c.tmpdir = tmpdir
        c.execute("select count(*) from sqlite_master").fetchone()  # the first read rolls the journal back
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    if _nonempty(db + "-journal"):
        c.close()
        raise Fail(
            1,
            "%s: %s has a hot journal that SQLite did not roll back on a copy: open it with sqlite3 as its "
            "owner (that rolls it back), then run again" % (core.CTX.cmd, show(path)),
        )
    return c


def open_ro(path):
    """Read-only open that also works on a read-only mount, and always reads a committed state: a WAL
    database normally needs its -shm file, and when no -wal file exists (writer stopped and checkpointed)
    immutable=1 is exact. A database whose -journal is hot (DELETE mode, its writer killed inside a
    transaction) is read from a private copy SQLite rolled back (_open_recovered): immutable=1 would
    ignore the journal and read pages no transaction committed."""
    if not os.path.isfile(path):
        raise OSError(errno.ENOENT, "No such file", path)
    try:
        c = sqlite3.connect(_uri(path, "mode=ro"), uri=True, timeout=60)
        c.execute("select count(*) from sqlite_master").fetchone()
        return c
    except sqlite3.OperationalError:
        if _nonempty(path + "-wal"):
            raise
        if _nonempty(path + "-journal"):
            return _open_recovered(path)
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


def sqlite_copy(src, dst, deadline=None, check=True):
    """SQLite's online backup API: a consistent copy of a live database, WAL included. A WAL database is
    copied in one step (one read transaction, which does not block the writer); a rollback-journal one
    in steps of 256 pages, so the writer is never blocked long. The old dst stays in place until the
    new copy is complete (atomic rename). CHECK: the copy's integrity_check must pass (the delta's copy
    goes without it: parity compares it with the live database right after)."""
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
            ok = d.execute("PRAGMA integrity_check").fetchone()[0] if check else "ok"
        except sqlite3.Error as e:
            if getattr(e, "sqlite_errorcode", 0) & 0xFF == 13:  # SQLITE_FULL
                raise OSError(errno.ENOSPC, "No space left on device", tmp) from None
            raise
        finally:
            d.close()
    finally:
        s.close()
    if ok != "ok":
        raise Fail(1, "%s: integrity_check of the copy of %s failed: %s" % (core.CTX.cmd, show(src), ok))
    os.replace(tmp, dst)
    complete(tmp)


def sqlite_logical(path):
    h = hashlib.sha256()
    c = open_ro(path)
    c.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # any bytes a TEXT value holds
    try:
        tables = [
            r[0]
            for r in c.execute(
                "select name from sqlite_master where type='table' and name not like 'sqlite_%' order by name"
            )
        ]
        for t in tables:
            h.update(fsb(t))
            cols = [r[1] for r in c.execute('pragma table_info("%s")' % t)]
            order = ",".join('"%s"' % x for x in cols)
            for row in c.execute('select * from "%s" order by %s' % (t, order)):
                h.update(fsb(repr(row)))
    finally:
        c.close()
    return h.hexdigest()


# Header bytes a copy changes without changing content: the file format versions (18-19: WAL or not), the
# change counter (24-27), the schema cookie (40-43: the copy's journal mode change bumps it), the
# version-valid-for number and the version of SQLite that wrote the file (92-99). Every page after the
# header's 100 bytes is compared as it is.
_COPY_CHANGES = ((18, 20), (24, 28), (40, 44), (92, 100))


def alone(db):
    """True when the file DB alone is the database: no -wal or -journal beside it with anything in it."""
    for side in ("-wal", "-journal"):
        try:
            if os.path.getsize(db + side) > 0:
                return False
        except FileNotFoundError:
            pass
    return True


def _blank_copy_changes(head):
    head = bytearray(head)
    for a, b in _COPY_CHANGES:
        head[a:b] = bytes(len(head[a:b]))
    return bytes(head)


def same_database(a, b):
    """(equal, how): the SQLite databases A and B hold the same content. Byte for byte (the delta's copy
    has the same pages; the header fields a copy changes left out) when each file alone is its database;
    else, or when the bytes differ, by their logical content (sqlite_logical)."""
    # alone before and after the compare: a -wal that gained content meanwhile would make the bytes not the database
    if alone(a) and alone(b) and same_bytes(a, b, _blank_copy_changes) and alone(a) and alone(b):
        return True, "pages"
    return sqlite_logical(a) == sqlite_logical(b), "logical"


def quick_check(db):
    """ "ok", or what is wrong with the database DB."""
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
