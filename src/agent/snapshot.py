"""snapshot: a consistent copy of a live dir holding SQLite databases (a ChromaDB dir, an app's app.db)
while the app writes (pausing it only if allowed)."""
import errno, json, os, shutil, signal, stat as S, subprocess, time

import core
from core import SKIP, SQLITE, Fail, complete, is_dir, partial, remove_any, say, show, side_of, write_text
from dbs import STAT_KEY, has_header, is_candidate, named_dbs, stat_entry
from sqlite import Busy, sqlite_copy
from walk import Linker, identity, place, scan, tree_state, unchanged_since_read


class _Dbs:
    """The databases of one snapshot: NAMED (--db, or chroma.sqlite3), and with FIND (--find-dbs) those
    found by header, pass by pass (a database may appear or vanish while the app runs). ORDER: the copy
    order, those seen changing while the others were copied last."""

    def __init__(self, named, find):
        self.named, self.find, self.found, self.busy, self.sig = set(named), find, set(), set(), {}

    def all(self):
        return self.named | self.found

    def order(self):
        return sorted(self.all(), key=lambda r: (r in self.busy, r))

    def skips(self, rel, name):
        """REL is not an ordinary file of the copy: a database (copied by the backup API) or a side file of one."""
        return name in SKIP or rel in self.all() or side_of(rel) in self.all()


def _lstat_data(p):
    """lstat of P, or None when it is missing or empty (an empty -wal holds no commit: a reader may create
    one, as SQLite's read-only open does for root)."""
    try:
        s = os.lstat(p)
    except FileNotFoundError:
        return None
    return s if s.st_size else None


def _db_sig(path):
    """What tells a database changed: size and mtime of the file and of its -wal (None: none), and when
    read. A commit changes one of them: it appends to the -wal, or (rollback journal, checkpoint) writes
    the file. Not ctime: SQLite run as root chowns the -wal to the database's owner whenever it opens it,
    a reader too (this copy)."""

    def one(p):
        s = _lstat_data(p)
        return [s.st_size, s.st_mtime_ns, time.time_ns()] if s else None

    return [one(path), one(path + "-wal")]


def _db_unchanged(sig, path, exact=False):
    """The database at PATH is still as SIG recorded it; unless EXACT, its last write older than the
    read by more than the timestamp granularity (a write in the same tick keeps mtime equal)."""
    for old, p in zip(sig, (path, path + "-wal")):
        s = _lstat_data(p)
        if old is None or s is None:
            if (old is None) != (s is None):
                return False
            continue
        if [s.st_size, s.st_mtime_ns] != old[:2]:
            return False
        margin = 1_000_000_000 if s.st_mtime_ns % 1_000_000_000 == 0 else 50_000_000
        if not exact and s.st_mtime_ns >= old[2] - margin:
            return False
    return True


def _run_sh(cmd):
    """Run the operator's SH_CMD; its output goes to stderr (stdout carries this command's JSON)."""
    return subprocess.run(["sh", "-c", cmd], stdout=2).returncode


def _snapshot_pass(src, dst, state, dirs, dbs):
    """One copy pass over the other files (everything but the SQLite databases DBS and their side files):
    copy what appeared or changed since STATE recorded it (identity + read time, or None: changed while
    copied), delete from DST what vanished. Tolerates anything appearing, vanishing or being renamed
    meanwhile. With --find-dbs, a new or changed file with SQLite's header is a database from now on,
    and one of DBS that vanished or lost its header is no longer one."""
    seen, now_dirs, linker = set(), set(), Linker()
    if dbs.find:
        dbs.found = {r for r in dbs.found if has_header(os.path.join(src, r))}
    for rel, p, e in scan(src):
        if dbs.skips(rel, e.name):
            continue
        out = os.path.join(dst, rel)
        try:
            s = os.lstat(p)
            if S.S_ISDIR(s.st_mode):
                now_dirs.add(rel)
                if not is_dir(out):
                    remove_any(out)
                    os.mkdir(out)
                os.chmod(out, S.S_IMODE(s.st_mode))
                continue
            if not (S.S_ISREG(s.st_mode) or S.S_ISLNK(s.st_mode)):
                continue
            unchanged = unchanged_since_read(state.get(rel), s)
            if dbs.find and not unchanged and is_candidate(rel, s) and has_header(p):
                dbs.found.add(rel)  # its old copy as a file, if any, is deleted below: not seen
                continue
            seen.add(rel)
            if unchanged and linker.earlier(s) is None:
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
        if not is_dir(os.path.join(dst, rel)):  # else it became a directory this pass
            remove_any(os.path.join(dst, rel))
    for rel in sorted(dirs - now_dirs, reverse=True):
        if is_dir(os.path.join(dst, rel)):  # else it became a file or link this pass
            shutil.rmtree(os.path.join(dst, rel))
    dirs.clear()
    dirs.update(now_dirs)


def _copy_dbs(src, dst, dbs, state, deadline=None):
    """Each database by the backup API, in DBS's order, its stat recorded just before (DBS.sig); the
    copy of one that is no longer a database is removed (unless the pass copied it as a file)."""
    for rel in sorted(set(dbs.sig) - dbs.all()):
        del dbs.sig[rel]
        if rel not in state and not is_dir(os.path.join(dst, rel)):
            remove_any(os.path.join(dst, rel))
    for rel in dbs.order():
        out = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)  # made by the pass, unless it came meanwhile
        dbs.sig[rel] = _db_sig(os.path.join(src, rel))
        sqlite_copy(os.path.join(src, rel), out, deadline)


def _settled(src, state, dbs):
    """No other file changed, appeared or vanished since it was copied (nor in the clock tick it was read),
    and no database but the last one copied changed since its copy began: then each database's copy, the
    last one's moment included, holds what it held at that moment. What changed is copied last next time."""
    now = tree_state(src, dbs.all())
    files = set(now) == set(state) and all(unchanged_since_read(state[r], now[r]) for r in now)
    order = dbs.order()
    dbs.busy = {r for r in order if not _db_unchanged(dbs.sig[r], os.path.join(src, r))}
    return files and not dbs.busy - set(order[-1:])


def _moved_while_paused(src, state, dbs):
    """A file or database that changed, appeared or vanished since the paused pass copied it, or None:
    then the pause command did not stop every writer."""
    now = tree_state(src, dbs.all())
    for rel in sorted(set(now) | set(state)):
        if rel not in now or not state.get(rel) or state[rel][:3] != identity(now[rel]):
            return rel
    for rel in dbs.order():
        if not _db_unchanged(dbs.sig[rel], os.path.join(src, rel), exact=True):
            return rel
    return None


def _snapshot_attempt(src, dst, state, dirs, dbs):
    _snapshot_pass(src, dst, state, dirs, dbs)
    try:
        _copy_dbs(src, dst, dbs, state, time.monotonic() + 60)
    except Busy:
        return False
    return _settled(src, state, dbs)


def _paused(src, dst, state, dirs, dbs, pause, resume):
    """Pause the app (SH_CMD), make the final pass and SQLite copies, and resume it whatever happens
    (exception, SIGTERM, SIGHUP: signals are held while the resume command runs). Returns the pause in ms."""
    t0 = time.monotonic()
    try:
        rc = _run_sh(pause)
        if rc:
            raise Fail(1, "snapshot: the pause command failed (exit %d): %s" % (rc, pause))
        _snapshot_pass(src, dst, state, dirs, dbs)
        _copy_dbs(src, dst, dbs, state)
        moved = _moved_while_paused(src, state, dbs)
        if moved is not None:
            raise Fail(
                3,
                "snapshot: %s changed while the app was paused (%s): check that the pause command "
                "stops every writer, then retry" % (show(src), show(moved)),
            )
    except BaseException:
        _resume(resume)  # the first failure is the one reported; a failed resume says so itself
        raise
    if not _resume(resume):
        raise Fail(
            4,
            "snapshot: the copy is complete, but the resume command failed: the app may still be "
            "paused: run it by hand: %s" % resume,
        )
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
        say(
            "snapshot: the resume command failed (exit %d): the app may still be paused: run it by hand: %s" % (rc, cmd)
        )
    return rc == 0


def _snapshot_options(args):
    """SRC DEST [--db REL]... [--find-dbs] [--pause SH_CMD --resume SH_CMD] [--attempts N]."""
    pos, opt, named, find = [], {"--pause": None, "--resume": None, "--attempts": "5"}, [], False
    it = iter(args)
    for a in it:
        if a == "--find-dbs":
            find = True
        elif a == "--db":
            named.append(next(it, None))
            if named[-1] is None:
                raise Fail(2, "snapshot: --db needs a value")
        elif a in opt:
            opt[a] = next(it, None)
            if opt[a] is None:
                raise Fail(2, "snapshot: %s needs a value" % a)
        else:
            pos.append(a)
    if len(pos) != 2 or bool(opt["--pause"]) != bool(opt["--resume"]) or not opt["--attempts"].isdigit():
        raise Fail(
            2,
            "usage: snapshot SRC_CHROMA DEST_CHROMA [--pause SH_CMD --resume SH_CMD] [--attempts N]"
            " [--db REL]... [--find-dbs] (a pause needs its resume; without --db or --find-dbs, SRC is"
            " a ChromaDB dir)",
        )
    # 0 attempts: pause at once
    return pos[0], pos[1], opt["--pause"], opt["--resume"], int(opt["--attempts"]), named, find


def _databases(src, named, find):
    """The databases the options name: --db RELs (checked), --find-dbs, or else ChromaDB's."""
    if not named and not find:
        if not os.path.isfile(os.path.join(src, SQLITE)):
            raise Fail(1, "snapshot: %s has no %s: is it the ChromaDB dir?" % (show(src), SQLITE))
        named = [SQLITE]
    if not os.path.isdir(src):
        raise Fail(1, "snapshot: %s is not a directory" % show(src))
    return _Dbs(named_dbs("snapshot", src, named), find)  # with --find-dbs, the passes find the rest


def cmd_snapshot(*args):
    """A consistent copy of a live dir and its SQLite databases while the app writes: a first pass copies
    every other file, later passes re-copy only what changed or appeared and delete what vanished, each
    followed by the copy of each database (backup API; never its -wal/-shm/-journal) and a check that no
    other file changed since it was copied and no database but the last one copied changed since its
    copy: then files and databases are of one moment. After N attempts without that, --pause stops the
    app for one final pass (resumed whatever happens); without it, exit 3. DEST.live-stat.json records
    each live file's identity when it was copied, so the cutover delta can skip what has not changed
    since, and (under "/sqlite") which files are databases, for tar-stream's manifest."""
    src, dst, pause, resume, attempts, named, find = _snapshot_options(args)
    core.CTX.reads, core.CTX.source, core.CTX.done = (src,), src, 0
    core.CTX.progress = lambda: core.CTX.done
    dbs = _databases(src, named, find)
    stat_file = dst.rstrip("/") + ".live-stat.json"
    partial(dst)
    partial(stat_file)
    remove_any(dst)
    remove_any(stat_file)
    os.makedirs(dst)
    state, dirs, paused_ms, n = {}, set(), None, 0
    while n < attempts:
        n += 1
        if _snapshot_attempt(src, dst, state, dirs, dbs):
            break
        if n < attempts:
            time.sleep(0.2 * n)
    else:
        if not pause:
            raise Fail(
                3,
                "snapshot: %s kept changing during %d copy attempts: retry with --pause "
                "(e.g. --pause 'supervisorctl stop chatbot-backend' --resume "
                "'supervisorctl start chatbot-backend')" % (show(src), attempts),
            )
        n += 1
        paused_ms = _paused(src, dst, state, dirs, dbs, pause, resume)
    record = {rel: v for rel, v in state.items() if v}  # lets the cutover delta skip unchanged files
    record[STAT_KEY] = stat_entry(dbs.all(), find)
    write_text(partial(stat_file + ".part"), json.dumps(record))
    os.replace(stat_file + ".part", stat_file)
    complete(stat_file + ".part")
    complete(dst)
    complete(stat_file)
    print(
        json.dumps(
            {
                "snapshot": dst,
                "attempts": n,
                "paused_ms": paused_ms,
                "files": len(state) + len(dbs.all()),
                "databases": sorted(dbs.all()),
            }
        )
    )
    return 0
