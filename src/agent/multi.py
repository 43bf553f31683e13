"""The commands of one helper container per step: restore, and verify, delta, parity, sync-back for several
data sets at once; keep-volume."""
import json, os, subprocess, sys

import core
from core import Fail, parse_owner, remove_any, show
from delta import cmd_delta
from syncback import cmd_sync_back
from verify import cmd_verify

# The agent itself, for the parallel parity processes: the directory or zip (agent.pyz) this module
# was imported from; python3 runs either.
AGENT = os.path.dirname(os.path.abspath(__file__))


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
        last = [l for l in r.stderr.decode(errors="backslashreplace").splitlines() if l.strip()][-1:] or ["exit %d" % r.returncode]
        raise Fail(1, "restore: unpacking %s into %s failed: %s" % (show(tar), show(dest), last[0]))
    for root, dirs, files in os.walk(dest):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), uid, gid)
    os.lchown(dest, uid, gid)
    return cmd_verify(manifest_path, name, dest, stat_out)


def cmd_restore_all(manifest_path, stat_dir, *specs):
    """restore, for every data set at once (parallel processes), each from NAME.tar beside MANIFEST:
    fails if any fails, once all ended."""
    base = os.path.dirname(manifest_path)
    procs = [subprocess.Popen([sys.executable, AGENT, "restore", os.path.join(base, name + ".tar"), dest, owner, manifest_path,
                               name, os.path.join(stat_dir, name + ".stat.json")]) for name, dest, owner in _pairs(specs, 3)]
    codes = [p.wait() for p in procs]
    bad = [c for c in codes if c != 0]
    return bad[0] if bad else 0


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
    procs = [subprocess.Popen([sys.executable, AGENT, "parity", manifest_path, name, live, vol,
                               os.path.join(stat_dir, name + ".stat.json")]) for name, live, vol in _pairs(specs, 3)]
    codes = [p.wait() for p in procs]
    bad = [c for c in codes if c != 0]
    return bad[0] if bad else 0


def cmd_sync_back_all(run_id, *specs):
    for src, live in _pairs(specs, 2):
        # The data's own owner (the app's account), else its parent's: never root's by accident
        st = os.lstat(live) if os.path.isdir(live) and not os.path.islink(live) else os.stat(os.path.dirname(live.rstrip("/")) or "/")
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
