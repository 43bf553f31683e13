"""What ended a command, as (exit code, one line for the operator): an OSError explained with its path
and the fix, a cut connection, a signal."""
import errno, os, signal, stat as S, sys

import core
from core import Fail, Terminated, cleanup, mb, say, show
from walk import walk


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
    verb = "reading" if any(str(e.filename or "").startswith(r) for r in core.CTX.reads) else "writing"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        note = ""
        if core.CTX.progress and core.CTX.progress():
            note = " after %s" % mb(core.CTX.progress())
        if core.CTX.source:
            try:
                note += " (the source is %s)" % mb(_allocated(core.CTX.source))
            except OSError:
                pass
        return 28, "%s: host disk full writing %s%s: free space on the host, then retry" % (core.CTX.cmd, path, note)
    if e.errno in (errno.EACCES, errno.EPERM):
        return 13, "%s: permission denied %s %s: %s: run it as root, or fix the owner/mode of that path" % (
            core.CTX.cmd,
            verb,
            path,
            e.strerror,
        )
    if e.errno == errno.ENOENT:
        return 1, "%s: %s does not exist: check the path, or whether something else removed it" % (core.CTX.cmd, path)
    if e.errno == errno.EROFS:
        return 1, "%s: read-only file system writing %s: mount it read-write, or write elsewhere" % (core.CTX.cmd, path)
    if e.errno == errno.EIO:
        return 1, "%s: I/O error %s %s: the disk may be failing (see dmesg)" % (core.CTX.cmd, verb, path)
    return 1, "%s: %s %s: %s" % (core.CTX.cmd, verb, path, e.strerror or e)


def failure(e):
    """(exit code, one line) for what ended a command."""
    if isinstance(e, Fail):
        return e.code, str(e)
    if isinstance(e, BrokenPipeError):
        try:  # nothing more can reach the operator through stdout; keep the exit flush from raising
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except OSError:
            pass
        done = " after %s" % mb(core.CTX.progress()) if core.CTX.progress else ""
        return 9, "%s: the connection was cut (stdout closed)%s; nothing incomplete was left: rerun it" % (
            core.CTX.cmd,
            done,
        )
    if isinstance(e, OSError):
        return explain(e)
    if isinstance(e, Terminated):
        name = signal.Signals(e.signum).name
        return 128 + e.signum, "%s: stopped by %s; nothing incomplete was left" % (core.CTX.cmd, name)
    if isinstance(e, KeyboardInterrupt):
        return 130, "%s: interrupted; nothing incomplete was left" % core.CTX.cmd
    return 1, "%s: %s: %s (CUTOVER_DEBUG=1 shows the traceback)" % (core.CTX.cmd, type(e).__name__, e)


def run_reported(fn, args):
    """FN(*ARGS)'s exit code; if something ends it, what it half-wrote is removed and that is reported as
    any command's failure is (one line on stderr, the exit code)."""
    try:
        return fn(*args)
    except BaseException as e:
        if isinstance(e, SystemExit):
            raise
        cleanup()
        code, line = failure(e)
        if os.environ.get("CUTOVER_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        say(line)
        return code
