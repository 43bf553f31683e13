"""snapshot: a consistent copy of a live ChromaDB dir while the app writes (pausing it only if allowed)."""
import errno, json, os, shutil, signal, stat as S, subprocess, time

import core
from core import SKIP, SQLITE, Fail, complete, is_dir, partial, remove_any, say, show
from sqlite import Busy, sqlite_copy
from walk import Linker, identity, place, scan, tree_state, unchanged_since_read


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
                if not is_dir(out):
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
        if not is_dir(os.path.join(dst, rel)):  # else it became a directory this pass
            remove_any(os.path.join(dst, rel))
    for rel in sorted(dirs - now_dirs, reverse=True):
        if is_dir(os.path.join(dst, rel)):  # else it became a file or link this pass
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
        say("snapshot: the resume command failed (exit %d): the app may still be paused: run it by hand: %s"
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
    core.CTX.reads, core.CTX.source, core.CTX.done = (src,), src, 0
    core.CTX.progress = lambda: core.CTX.done
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
