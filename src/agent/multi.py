"""The commands of one helper container per step: restore, and verify, delta, parity, sync-back for several
data sets at once; keep-volume."""
import json, os, signal, subprocess, sys

import core
from core import Fail, parse_owner, remove_any, show
from delta import cmd_delta
from failure import run_reported
from syncback import cmd_sync_back
from verify import cmd_parity, cmd_verify, manifest_archive


def _pairs(specs, parts):
    out = []
    for spec in specs:
        bits = spec.split("=", parts - 1)
        if len(bits) != parts:
            raise Fail(2, "%s: %s is not %s" % (core.CTX.cmd, show(spec), "=".join(["X"] * parts)))
        out.append(bits)
    return out


def cmd_restore(tar, dest, owner, manifest_path, name, stat_out=None):
    """Empty DEST (a volume this run created), unpack TAR (GNU tar: PAX names as bytes, sparse members,
    hard links), own everything by UID:GID, then verify every file against the manifest."""
    uid, gid = parse_owner(owner) or (None, None)
    if uid is None:
        raise Fail(2, "restore: UID:GID is required")
    core.CTX.reads = (tar,)
    for e in os.scandir(dest):
        remove_any(e.path)
    r = subprocess.run(["tar", "-xf", tar, "--warning=no-unknown-keyword", "-C", dest], stderr=subprocess.PIPE)
    if r.returncode != 0:
        last = [line for line in r.stderr.decode(errors="backslashreplace").splitlines() if line.strip()][-1:] or [
            "exit %d" % r.returncode
        ]
        raise Fail(1, "restore: unpacking %s into %s failed: %s" % (show(tar), show(dest), last[0]))
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(dest, uid, gid)
    return cmd_verify(manifest_path, name, dest, stat_out)


def _exit_code(status):
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _parallel(cmd, manifest_path, jobs):
    """Each (NAME, FN, ARGS) of JOBS run as CMD FN(*ARGS) in a child process of its own, all at once. The
    children are forked once the manifest is read (one read of it, not one per data set, nor one python
    start each); each reports its own failure as a command does. The first non-zero exit code once all
    have ended; if this process is stopped, so are they."""
    for name, _, _ in jobs:
        manifest_archive(manifest_path, name)  # a missing data set fails here, before anything starts
    sys.stdout.flush()
    sys.stderr.flush()
    left, codes = [], []
    try:
        for _, fn, args in jobs:
            pid = os.fork()
            if pid == 0:  # the child: it ends here, never back in the caller
                code = 1
                try:
                    core.CTX.cmd = cmd
                    code = run_reported(fn, args)
                finally:
                    try:
                        sys.stdout.flush()
                        sys.stderr.flush()
                    except BaseException:
                        pass
                    os._exit(code)
            left.append(pid)
        while left:
            codes.append(_exit_code(os.waitpid(left[0], 0)[1]))
            left.pop(0)
    except BaseException:
        for pid in left:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in left:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        raise
    bad = [c for c in codes if c != 0]
    return bad[0] if bad else 0


def cmd_restore_all(manifest_path, stat_dir, *specs):
    """restore, for every data set at once, each from NAME.tar beside MANIFEST: fails if any fails, once
    all ended."""
    base = os.path.dirname(manifest_path)
    return _parallel(
        "restore",
        manifest_path,
        [
            (
                name,
                cmd_restore,
                (
                    os.path.join(base, name + ".tar"),
                    dest,
                    owner,
                    manifest_path,
                    name,
                    os.path.join(stat_dir, name + ".stat.json"),
                ),
            )
            for name, dest, owner in _pairs(specs, 3)
        ],
    )


def cmd_verify_all(manifest_path, *specs):
    for name, root in _pairs(specs, 2):
        cmd_verify(manifest_path, name, root)
    return 0


def cmd_delta_all(manifest_path, owner, *specs):
    """delta, for every data set at once (this runs inside the write freeze): fails if any fails."""
    return _parallel(
        "delta",
        manifest_path,
        [(name, cmd_delta, (manifest_path, name, live, dest, owner)) for name, live, dest in _pairs(specs, 3)],
    )


def cmd_parity_all(manifest_path, stat_dir, *specs):
    """parity, for every data set at once (this runs inside the write freeze): fails if any fails."""
    return _parallel(
        "parity",
        manifest_path,
        [
            (name, cmd_parity, (manifest_path, name, live, vol, os.path.join(stat_dir, name + ".stat.json")))
            for name, live, vol in _pairs(specs, 3)
        ],
    )


def cmd_sync_back_all(run_id, *specs):
    for src, live in _pairs(specs, 2):
        # The data's own owner (the app's account), else its parent's: never root's by accident
        st = (
            os.lstat(live)
            if os.path.isdir(live) and not os.path.islink(live)
            else os.stat(os.path.dirname(live.rstrip("/")) or "/")
        )
        cmd_sync_back(src, live, live.rstrip("/") + ".pre-rollback-" + run_id, "%d:%d" % (st.st_uid, st.st_gid))
    return 0


def cmd_keep_volume(kept_dir, name, run_id):
    os.makedirs(kept_dir, exist_ok=True)
    path = os.path.join(kept_dir, name)
    core.write_text(path + ".part", run_id + "\n")
    os.replace(path + ".part", path)
    print(json.dumps({"kept": name, "run": run_id}))
    return 0
