#!/usr/bin/env python3
"""cutover host agent: the data work of the CHM runbook, run on the host (or in a helper container)
by argv the plan prints. Python 3 stdlib only. Every command is safe to run twice.

  snapshot SRC_CHROMA DEST_CHROMA [STATS_URL STATS_OUT]  consistent copy of a live ChromaDB dir
  tar-stream DIR OUT                                      tar DIR to stdout and to OUT (host copy) in one pass; OUT.sha256, OUT.manifest.json
  tar-manifest OUT                                        per-file manifest of a tar stream on stdin
  merge-manifest BACKUP_DIR NAME ...                      BACKUP_DIR/manifest.json from the per-archive manifests
  verify MANIFEST NAME DIR                                every file of NAME in DIR matches the manifest (sha256), nothing extra
  delta MANIFEST NAME LIVE_DIR DEST_DIR                   bring DEST (restored from NAME) up to the live dir: changed/new/deleted files
  sync-back SRC_DIR LIVE_DIR KEEP_AS UID:GID              if SRC differs from LIVE: keep LIVE as KEEP_AS, copy SRC over it
  compare-stats BEFORE_JSON URL HOST                      the stats served at URL (Host header) equal BEFORE_JSON
  same A=B ...                                            each pair of dirs holds the same content (SQLite compared logically)
"""
import hashlib, json, os, shutil, sqlite3, sys, time, urllib.request

SQLITE = "chroma.sqlite3"
SKIP = {SQLITE + "-wal", SQLITE + "-shm", SQLITE + "-journal"}
BUF = 1 << 20


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(BUF)
            if not b:
                return h.hexdigest()
            h.update(b)


def walk(root):
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for n in sorted(files):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.basename(rel) in SKIP or os.path.islink(p):
                continue
            yield rel, p


def open_ro(path):
    """Read-only open that also works on a read-only mount: a WAL database normally needs its -shm
    file; when no -wal file exists (writer stopped and checkpointed) immutable=1 is exact."""
    try:
        c = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=60)
        c.execute("select count(*) from sqlite_master").fetchone()
        return c
    except sqlite3.OperationalError:
        if os.path.exists(path + "-wal") and os.path.getsize(path + "-wal") > 0:
            raise
        return sqlite3.connect("file:%s?mode=ro&immutable=1" % path, uri=True, timeout=60)


def sqlite_copy(src, dst):
    """SQLite's online backup API: a consistent copy of a live database, WAL included. The old
    dst stays in place until the new copy is complete (atomic rename)."""
    tmp = dst + ".part"
    if os.path.exists(tmp):
        os.remove(tmp)
    s = open_ro(src)
    d = sqlite3.connect(tmp)
    with d:
        s.backup(d)
    d.execute("PRAGMA journal_mode=DELETE")
    ok = d.execute("PRAGMA integrity_check").fetchone()[0]
    d.close()
    s.close()
    if ok != "ok":
        os.remove(tmp)
        raise RuntimeError("integrity_check of the copy of %s failed: %s" % (src, ok))
    os.replace(tmp, dst)


def sqlite_logical(path):
    h = hashlib.sha256()
    c = open_ro(path)
    tables = [r[0] for r in c.execute("select name from sqlite_master where type='table' and name not like 'sqlite_%' order by name")]
    for t in tables:
        h.update(t.encode())
        cols = [r[1] for r in c.execute('pragma table_info("%s")' % t)]
        order = ",".join('"%s"' % x for x in cols)
        for row in c.execute('select * from "%s" order by %s' % (t, order)):
            h.update(repr(row).encode())
    c.close()
    return h.hexdigest()


def tree_state(root):
    return {rel: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for rel, p in walk(root) if rel != SQLITE}


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def cmd_snapshot(src, dst, stats_url=None, stats_out=None):
    """Copy index files until a pass sees no change during the copy, then the SQLite via backup API.
    With STATS_URL, the bare-metal stats are read before and after and must agree (no write in between)."""
    for attempt in range(10):
        before_stats = fetch(stats_url) if stats_url else b""
        before = tree_state(src)
        if os.path.exists(dst):
            shutil.rmtree(dst)
        os.makedirs(dst)
        for rel, p in walk(src):
            if rel == SQLITE:
                continue
            os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
            shutil.copy2(p, os.path.join(dst, rel))
        sqlite_copy(os.path.join(src, SQLITE), os.path.join(dst, SQLITE))
        after_stats = fetch(stats_url) if stats_url else b""
        if tree_state(src) == before and before_stats == after_stats:
            if stats_out:
                with open(stats_out, "wb") as f:
                    f.write(before_stats)
            print(json.dumps({"snapshot": dst, "attempts": attempt + 1}))
            return 0
        time.sleep(0.5 * (attempt + 1))
    print("the ChromaDB dir kept changing during 10 copy attempts: retry when the backend is quieter", file=sys.stderr)
    return 3


def cmd_tar_stream(root, out):
    """One pass: GNU tar's stream goes to stdout (the operator's machine), to OUT.part (the
    host-side copy) and to a second process that builds OUT.manifest.json (per-file size, mtime,
    sha256) from the very same bytes, on another core. The stream is hashed as written. OUT and
    OUT.sha256 appear only if tar and the manifest succeeded; a cut connection leaves OUT.part."""
    import subprocess
    part = out + ".part"
    tar = subprocess.Popen(["tar", "-C", root, "-cf", "-", "."], stdout=subprocess.PIPE)
    man = subprocess.Popen([sys.executable, os.path.abspath(__file__), "tar-manifest", out + ".manifest.json"], stdin=subprocess.PIPE)
    import queue, threading
    h = hashlib.sha256()
    so = sys.stdout.buffer
    n = 0
    # The manifest process reads at its own pace on another core: a bounded queue (32 MiB) keeps
    # it from stalling the stream without letting memory grow.
    q = queue.Queue(maxsize=32)

    def feed():
        while True:
            b = q.get()
            if b is None:
                break
            try:
                man.stdin.write(b)
            except BrokenPipeError:
                break
        man.stdin.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        with open(part, "wb") as f:
            while True:
                b = tar.stdout.read(BUF)
                if not b:
                    break
                so.write(b)
                q.put(b)
                h.update(b)
                f.write(b)
                n += len(b)
            so.flush()
            f.flush()
            os.fsync(f.fileno())
    except BrokenPipeError:
        tar.kill()
        man.kill()
        print("the connection was cut: %s left incomplete" % part, file=sys.stderr)
        return 9
    finally:
        q.put(None)
    feeder.join()
    if tar.wait() != 0 or man.wait() != 0:
        print("tar of %s failed (tar %s, manifest %s): %s left incomplete" % (root, tar.returncode, man.returncode, part), file=sys.stderr)
        return 10
    with open(out + ".sha256", "w") as f:
        f.write("%s  %s\n" % (h.hexdigest(), os.path.basename(out)))
    m = json.load(open(out + ".manifest.json"))
    m.update({"sha256": h.hexdigest(), "bytes": n})
    with open(out + ".manifest.json", "w") as f:
        json.dump(m, f)
    os.replace(part, out)
    return 0


def cmd_tar_manifest(out):
    """Read a tar stream on stdin; write {files: {path: {size, mtime, sha256}}} for regular files."""
    import tarfile
    files = {}
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as t:
        for m in t:
            if not m.isfile():
                continue
            f = t.extractfile(m)
            h = hashlib.sha256()
            while True:
                b = f.read(BUF)
                if not b:
                    break
                h.update(b)
            name = m.name[2:] if m.name.startswith("./") else m.name
            files[name] = {"size": m.size, "mtime": int(m.mtime), "sha256": h.hexdigest()}
    with open(out, "w") as f:
        json.dump({"files": files}, f)
    return 0


def cmd_merge_manifest(backup_dir, *names):
    """BACKUP_DIR/manifest.json from each NAME.tar.manifest.json."""
    archives = {n: json.load(open(os.path.join(backup_dir, n + ".tar.manifest.json"))) for n in names}
    tmp = os.path.join(backup_dir, "manifest.json.part")
    with open(tmp, "w") as f:
        json.dump({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "archives": archives}, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(backup_dir, "manifest.json"))
    print(json.dumps({n: {"files": len(a["files"]), "bytes": a["bytes"], "sha256": a["sha256"]} for n, a in archives.items()}))
    return 0


def cmd_verify(manifest_path, name, root):
    want = json.load(open(manifest_path))["archives"][name]["files"]
    got = dict(walk(root))
    bad = [r for r in want if r not in got or sha256_file(got[r]) != want[r]["sha256"]]
    extra = [r for r in got if r not in want]
    if bad or extra:
        print("%s in %s does not match the manifest: %d missing or different (%s), %d unexpected (%s)"
              % (name, root, len(bad), ", ".join(bad[:3]), len(extra), ", ".join(extra[:3])), file=sys.stderr)
        return 5
    print(json.dumps({"verified": name, "files": len(want)}))
    return 0


def cmd_delta(manifest_path, name, live, dest):
    want = json.load(open(manifest_path))["archives"][name]["files"]
    live_files = dict(walk(live))
    changed = added = deleted = nbytes = 0
    for rel, p in live_files.items():
        if rel == SQLITE:
            continue
        st = os.stat(p)
        m = want.get(rel)
        if m and m["size"] == st.st_size and m["mtime"] == int(st.st_mtime) and m["sha256"] == sha256_file(p):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(p, out + ".cutover-part")
        os.replace(out + ".cutover-part", out)
        nbytes += st.st_size
        if m:
            changed += 1
        else:
            added += 1
    for rel in want:
        if rel not in live_files and os.path.exists(os.path.join(dest, rel)):
            os.remove(os.path.join(dest, rel))
            deleted += 1
    if SQLITE in live_files:
        sqlite_copy(live_files[SQLITE], os.path.join(dest, SQLITE))
        for s in SKIP:
            if os.path.exists(os.path.join(dest, s)):
                os.remove(os.path.join(dest, s))
        nbytes += os.path.getsize(os.path.join(dest, SQLITE))
    print(json.dumps({"delta": name, "changed": changed, "added": added, "deleted": deleted, "bytes": nbytes}))
    return 0


def digest(root):
    h = hashlib.sha256()
    for rel, p in walk(root):
        h.update(rel.encode() + b"\0")
        h.update((sqlite_logical(p) if rel == SQLITE else sha256_file(p)).encode())
    return h.hexdigest()


def cmd_sync_back(src, live, keep_as, owner):
    """Rollback after cutover: if the containers changed the data, bring it back to bare metal.
    Refuses a source that is not a complete data set (nothing is better than a broken copy)."""
    if os.path.basename(live.rstrip("/")).startswith("chroma") or os.path.exists(os.path.join(live, SQLITE)):
        db = os.path.join(src, SQLITE)
        if not os.path.exists(db) or open_ro(db).execute("PRAGMA quick_check").fetchone()[0] != "ok":
            print("refusing to sync %s back to %s: it has no sound %s; bare metal left untouched" % (src, live, SQLITE), file=sys.stderr)
            return 8
    if os.path.isdir(live) and digest(src) == digest(live):
        print(json.dumps({"sync_back": "unchanged", "live": live}))
        return 0
    uid, gid = (int(x) for x in owner.split(":"))
    tmp = live + ".cutover-part"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    for d, dirs, files in os.walk(tmp):
        for n in dirs + files:
            os.chown(os.path.join(d, n), uid, gid)
    os.chown(tmp, uid, gid)
    if os.path.exists(live) and not os.path.exists(keep_as):
        os.rename(live, keep_as)
    elif os.path.exists(live):
        shutil.rmtree(live)
    os.rename(tmp, live)
    print(json.dumps({"sync_back": "copied", "live": live, "kept": keep_as}))
    return 0


def cmd_compare_stats(before_file, url, host):
    """The container backend's stats (through nginx) must equal what bare metal reported at backup time."""
    want = json.load(open(before_file))
    req = urllib.request.Request(url, headers={"Host": host})
    for attempt in range(20):
        try:
            got = json.loads(urllib.request.urlopen(req, timeout=30).read())
            break
        except Exception as e:  # nginx or the backend still starting
            err = e
            time.sleep(1)
    else:
        print("cannot read %s (Host: %s): %s" % (url, host, err), file=sys.stderr)
        return 6
    if got.get("digest") != want.get("digest") or got.get("collections") != want.get("collections"):
        print("data parity FAILED: containers report %s %s, bare metal had %s %s"
              % (got.get("collections"), str(got.get("digest"))[:12], want.get("collections"), str(want.get("digest"))[:12]), file=sys.stderr)
        return 6
    print(json.dumps({"parity": "ok", "digest": got["digest"], "collections": got["collections"]}))
    return 0


def cmd_same(*pairs):
    """Each A=B pair: the two dirs hold the same content (files by sha256, SQLite logically)."""
    out = {}
    for pair in pairs:
        a, b = pair.split("=", 1)
        da, db = digest(a), digest(b)
        out[a] = {"with": b, "digest": da, "same": da == db}
        if da != db:
            print("content differs: %s (%s) vs %s (%s)" % (a, da[:12], b, db[:12]), file=sys.stderr)
            return 7
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    cmds = {"snapshot": cmd_snapshot, "tar-stream": cmd_tar_stream, "tar-manifest": cmd_tar_manifest,
            "merge-manifest": cmd_merge_manifest, "verify": cmd_verify, "delta": cmd_delta,
            "sync-back": cmd_sync_back, "compare-stats": cmd_compare_stats, "same": cmd_same}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
