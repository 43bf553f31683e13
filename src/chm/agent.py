#!/usr/bin/env python3
"""cutover host agent: the data work of the CHM runbook, run on the host (or in a helper container)
by argv the plan prints. Python 3 stdlib only. Every command is safe to run twice.

  snapshot SRC_CHROMA DEST_CHROMA [STATS_URL STATS_OUT]  consistent copy of a live ChromaDB dir
  tar-stream DIR OUT [LIVE_STAT]                          tar DIR to stdout and to OUT (host copy) in one pass; OUT.sha256, OUT.manifest.json
  merge-manifest BACKUP_DIR NAME ...                      BACKUP_DIR/manifest.json from the per-archive manifests
  verify MANIFEST NAME DIR [STAT_OUT]                     every file of NAME in DIR matches the manifest (sha256), nothing extra
  delta MANIFEST NAME LIVE_DIR DEST_DIR [UID:GID]         bring DEST (restored from NAME) up to the live dir: changed/new/deleted files
  parity MANIFEST NAME LIVE VOL VOL_STAT [SAMPLE_MB]      LIVE and VOL hold the same content (stat proofs, hashes, a sample)
  sync-back SRC_DIR LIVE_DIR KEEP_AS UID:GID              if SRC differs from LIVE: keep LIVE as KEEP_AS, copy SRC over it
  compare-stats BEFORE_JSON URL HOST [TOKEN]              the stats served at URL (Host header) equal BEFORE_JSON
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


def identity(s):
    """[size, mtime_ns, ctime_ns] of a stat result: what tells a file changed (ctime cannot be set back)."""
    return [s.st_size, s.st_mtime_ns, s.st_ctime_ns]


def tree_state(root):
    """{rel: identity} of every file but the SQLite database."""
    return {rel: identity(os.stat(p)) for rel, p in walk(root) if rel != SQLITE}


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
    return identity(os.stat(p)) + [now]


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def cmd_snapshot(src, dst, stats_url=None, stats_out=None):
    """Copy index files until a pass sees no change during the copy, then the SQLite via backup API.
    With STATS_URL, the bare-metal stats are read before and after and must agree (no write in between)."""
    for attempt in range(10):
        before_stats = fetch(stats_url) if stats_url else b""
        read_at = time.time_ns()
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
            with open(dst.rstrip("/") + ".live-stat.json", "w") as f:  # lets the cutover delta skip unchanged index files
                f.write(json.dumps({rel: v + [read_at] for rel, v in before.items()}))
            print(json.dumps({"snapshot": dst, "attempts": attempt + 1}))
            return 0
        time.sleep(0.5 * (attempt + 1))
    print("the ChromaDB dir kept changing during 10 copy attempts: retry when the backend is quieter", file=sys.stderr)
    return 3


class _Fanout:
    """Writes the archive to stdout (the operator's machine) and to the host copy, hashing it as
    written, on a second thread (hashlib and writes release the GIL): reading and per-file hashing
    go on meanwhile. Small pieces (headers, small files) are gathered into 1 MiB writes; the queue
    holds at most 16 MiB."""

    def __init__(self, f):
        import queue, threading
        self.f, self.so, self.h, self.n, self.buf = f, sys.stdout.buffer, hashlib.sha256(), 0, bytearray()
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
                self.f.write(b)
                self.h.update(b)
                # Flush the host copy to disk as it grows (on a third thread), so the final fsync
                # only waits for the tail.
                unsynced += len(b)
                if unsynced >= 64 * BUF and not (syncer and syncer.is_alive()):
                    unsynced = 0
                    syncer = threading.Thread(target=os.fdatasync, args=(self.f.fileno(),), daemon=True)
                    syncer.start()
            except BaseException as e:  # a cut connection (BrokenPipeError) or a full disk
                self.error = e

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


def _ustar(name, mode, uid, gid, size, mtime, kind, link=""):
    """A POSIX tar header built directly (tarfile's is 5x slower): plain ustar when every field
    fits, else a pax extended header carrying the UTF-8 path or link first, as GNU tar reads it."""
    nb, lb = name.encode("utf-8", "surrogateescape"), link.encode("utf-8", "surrogateescape")
    if max(uid, gid) >= 0o7777777 or size >= 0o77777777777 or not 0 <= mtime < 0o77777777777:
        import tarfile
        ti = tarfile.TarInfo(name)
        ti.mode, ti.uid, ti.gid, ti.size, ti.mtime, ti.type, ti.linkname = mode, uid, gid, size, mtime, kind, link
        return ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    recs = b""
    if not name.isascii() or len(nb) > 100:
        recs += _pax_record(b"path", nb)
        nb = nb.decode("ascii", "replace").encode("ascii", "replace")[:100]
    if not link.isascii() or len(lb) > 100:
        recs += _pax_record(b"linkpath", lb)
        lb = lb.decode("ascii", "replace").encode("ascii", "replace")[:100]
    out = b""
    if recs:
        out = _header(b"././@PaxHeader", 0o644, 0, 0, len(recs), mtime, b"x") + recs + bytes(-len(recs) % 512)
    return out + _header(nb, mode, uid, gid, size, mtime, kind, lb)


def _tar_entries(root):
    """(arcname, path) for ROOT and everything under it, sorted, directories before their content."""
    yield ".", root
    for d, dirs, files in os.walk(root):
        dirs.sort()
        rel = os.path.relpath(d, root)
        for n in dirs + sorted(files):
            yield "./" + (n if rel == "." else os.path.join(rel, n)), os.path.join(d, n)


def cmd_tar_stream(root, out, live_stat=None):
    """One pass over ROOT: a POSIX (pax) tar goes to stdout (the operator's machine) and to
    OUT.part (the host-side copy), hashed as written; each file's sha256 is computed from the very
    bytes put in the archive, into OUT.manifest.json with the size, mtime and ctime it was read
    at (or, with LIVE_STAT, those of the live files a snapshot was copied from), so the cutover
    delta can tell unchanged files by metadata alone. OUT and OUT.sha256 appear only when
    complete; a cut connection leaves OUT.part. A file that changes while read is flagged in the
    manifest (the cutover delta carries its final version)."""
    import stat as st_, tarfile
    if not os.path.isdir(root):
        print("tar-stream: %s is not a directory" % root, file=sys.stderr)
        return 10
    live = json.load(open(live_stat)) if live_stat else {}
    part = out + ".part"
    files, changed = {}, []
    zeros = bytes(512)
    try:
        with open(part, "wb", buffering=0) as f:
            w = _Fanout(f)
            for arc, p in _tar_entries(root):
                try:
                    s = os.lstat(p)
                except FileNotFoundError:
                    changed.append(arc)  # removed between listing and reading
                    continue
                mode = st_.S_IMODE(s.st_mode)
                if st_.S_ISDIR(s.st_mode):
                    w.write(_ustar(arc + "/", mode, s.st_uid, s.st_gid, 0, int(s.st_mtime), tarfile.DIRTYPE))
                elif st_.S_ISLNK(s.st_mode):
                    w.write(_ustar(arc, mode, s.st_uid, s.st_gid, 0, int(s.st_mtime), tarfile.SYMTYPE, os.readlink(p)))
                elif st_.S_ISREG(s.st_mode):
                    try:
                        fd = os.open(p, os.O_RDONLY)
                    except FileNotFoundError:
                        changed.append(arc)
                        continue
                    with os.fdopen(fd, "rb", buffering=0) as src:
                        read_at = time.time_ns()
                        s = os.fstat(fd)
                        w.write(_ustar(arc, mode, s.st_uid, s.st_gid, s.st_size, int(s.st_mtime), tarfile.REGTYPE))
                        h, left = hashlib.sha256(), s.st_size
                        while left:
                            b = src.read(min(BUF, left))
                            if not b:  # shrank while read: pad like GNU tar, flag it
                                b = bytes(min(BUF, left))
                                if arc not in changed:
                                    changed.append(arc)
                            h.update(b)
                            w.write(b)
                            left -= len(b)
                        if s.st_size % 512:
                            w.write(zeros[: 512 - s.st_size % 512])
                        after = os.fstat(fd)
                        if identity(after) != identity(s) and arc not in changed:
                            changed.append(arc)
                    rel = arc[2:]
                    src_stat = live.get(rel, identity(s) + [read_at])
                    files[rel] = {"size": s.st_size, "mtime": int(s.st_mtime), "sha256": h.hexdigest(),
                                  "live": src_stat}
                    if arc in changed:
                        files[rel]["changed_while_read"] = True
                else:
                    changed.append(arc)  # sockets, fifos, devices: not data, not archived
            w.write(bytes(1024))  # end of archive, padded to a whole 10 KiB record like GNU tar
            if w.n % 10240:
                w.write(bytes(10240 - w.n % 10240))
            w.close()
            os.fsync(f.fileno())
    except BrokenPipeError:
        print("the connection was cut: %s left incomplete" % part, file=sys.stderr)
        return 9
    if changed:
        print("tar-stream: %d entries changed, vanished or were not regular while read (first: %s); "
              "the cutover delta carries their final state" % (len(changed), ", ".join(changed[:3])), file=sys.stderr)
    with open(out + ".manifest.json", "w") as f:
        f.write(json.dumps({"files": files, "sha256": w.h.hexdigest(), "bytes": w.n}))  # C encoder: json.dump is pure Python
    with open(out + ".sha256", "w") as f:
        f.write("%s  %s\n" % (w.h.hexdigest(), os.path.basename(out)))
    os.replace(part, out)
    return 0


def cmd_merge_manifest(backup_dir, *names):
    """BACKUP_DIR/manifest.json from each NAME.tar.manifest.json."""
    archives = {n: json.load(open(os.path.join(backup_dir, n + ".tar.manifest.json"))) for n in names}
    tmp = os.path.join(backup_dir, "manifest.json.part")
    with open(tmp, "w") as f:
        f.write(json.dumps({"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "archives": archives}, sort_keys=True))
    os.replace(tmp, os.path.join(backup_dir, "manifest.json"))
    print(json.dumps({n: {"files": len(a["files"]), "bytes": a["bytes"], "sha256": a["sha256"]} for n, a in archives.items()}))
    return 0


def cmd_verify(manifest_path, name, root, stat_out=None):
    """Every file of NAME in ROOT matches the manifest, nothing extra. With STAT_OUT, the verified
    files' stat is recorded there, so cutover parity can later prove them untouched by stat."""
    want = json.load(open(manifest_path))["archives"][name]["files"]
    got = dict(walk(root))
    stats = {}
    bad = []
    for r in want:
        if r not in got:
            bad.append(r)
            continue
        before = stat_record(got[r])
        if sha256_file(got[r]) != want[r]["sha256"] or stat_record(got[r])[:3] != before[:3]:
            bad.append(r)
        stats[r] = before
    extra = [r for r in got if r not in want]
    if bad or extra:
        print("%s in %s does not match the manifest: %d missing or different (%s), %d unexpected (%s)"
              % (name, root, len(bad), ", ".join(bad[:3]), len(extra), ", ".join(extra[:3])), file=sys.stderr)
        return 5
    if stat_out:
        os.makedirs(os.path.dirname(stat_out), exist_ok=True)
        with open(stat_out + ".part", "w") as f:
            f.write(json.dumps(stats))
        os.replace(stat_out + ".part", stat_out)
    print(json.dumps({"verified": name, "files": len(want)}))
    return 0


def cmd_delta(manifest_path, name, live, dest, owner=None):
    """Bring DEST (restored from NAME) up to LIVE: changed, new and deleted files, and a fresh
    SQLite copy. Only what it writes is chowned to OWNER (UID:GID): the rest keeps the ctime
    cutover parity relies on."""
    uid, gid = (int(x) for x in owner.split(":")) if owner else (-1, -1)

    def own(path):
        if owner:
            os.chown(path, uid, gid)

    want = json.load(open(manifest_path))["archives"][name]["files"]
    live_files = dict(walk(live))
    changed = added = deleted = nbytes = hashed = 0
    for rel, p in live_files.items():
        if rel == SQLITE:
            continue
        st = os.stat(p)
        m = want.get(rel)
        if m and unchanged_since_read(m.get("live"), st):
            continue  # untouched since the backup read it: no need to read it again
        hashed += 1 if m else 0
        if m and m["size"] == st.st_size and m["mtime"] == int(st.st_mtime) and m["sha256"] == sha256_file(p):
            continue
        out = os.path.join(dest, rel)
        d = os.path.dirname(out)
        if not os.path.isdir(d):
            os.makedirs(d)
            while d != dest.rstrip("/") and d.startswith(dest):
                own(d)
                d = os.path.dirname(d)
        shutil.copy2(p, out + ".cutover-part")
        own(out + ".cutover-part")
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
        own(os.path.join(dest, SQLITE))
        for s in SKIP:
            if os.path.exists(os.path.join(dest, s)):
                os.remove(os.path.join(dest, s))
        nbytes += os.path.getsize(os.path.join(dest, SQLITE))
    print(json.dumps({"delta": name, "changed": changed, "added": added, "deleted": deleted, "bytes": nbytes, "rehashed": hashed}))
    return 0


def cmd_parity(manifest_path, name, live, vol, vol_stat, sample_mb="64"):
    """LIVE and VOL hold the same files with the same content. A file is proven equal without
    reading it when stat shows the live file untouched since the backup read it (manifest) and the
    volume's file untouched since the restore verified it (VOL_STAT); both then equal the manifest's
    sha256. Every other file is hashed on both sides, the SQLite database is compared logically,
    and a deterministic sample of SAMPLE_MB of proven files is hashed anyway, so a wrong proof
    would still be caught."""
    want = json.load(open(manifest_path))["archives"][name]["files"]
    vstat = json.load(open(vol_stat)) if os.path.exists(vol_stat) else {}
    lf, vf = dict(walk(live)), dict(walk(vol))
    missing = sorted(set(lf) ^ set(vf))
    if missing:
        print("parity FAILED for %s: %d files on one side only (%s)" % (name, len(missing), ", ".join(missing[:3])), file=sys.stderr)
        return 7
    proven, hashed, diff = [], 0, []
    for rel in sorted(lf):
        if rel == SQLITE:
            if sqlite_logical(lf[rel]) != sqlite_logical(vf[rel]):
                diff.append(rel)
            continue
        m = want.get(rel)
        if m and unchanged_since_read(m.get("live"), os.stat(lf[rel])) and unchanged_since_read(vstat.get(rel), os.stat(vf[rel])):
            proven.append(rel)
            continue
        hashed += 1
        if sha256_file(lf[rel]) != sha256_file(vf[rel]):
            diff.append(rel)
    budget, sampled = int(sample_mb) << 20, 0
    for rel in sorted(proven, key=lambda r: hashlib.sha256(r.encode()).digest()):
        if budget <= 0:
            break
        if not sha256_file(lf[rel]) == sha256_file(vf[rel]) == want[rel]["sha256"]:
            diff.append(rel)
        budget -= want[rel]["size"]
        sampled += 1
    if diff:
        print("parity FAILED for %s: %d files differ (%s)" % (name, len(diff), ", ".join(diff[:3])), file=sys.stderr)
        return 7
    print(json.dumps({"parity": name, "files": len(lf), "proven_by_stat": len(proven), "hashed": hashed, "sampled": sampled}))
    return 0


def digest(root):
    """sha256 over every file's path and content (SQLite compared logically)."""
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


def cmd_compare_stats(before_file, url, host, token=None):
    """The container backend's stats (through nginx) must equal what bare metal reported at backup time."""
    want = json.load(open(before_file))
    req = urllib.request.Request(url, headers={"Host": host, **({"X-Cutover-Verify": token} if token else {})})
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


if __name__ == "__main__":
    cmds = {"snapshot": cmd_snapshot, "tar-stream": cmd_tar_stream,
            "merge-manifest": cmd_merge_manifest, "verify": cmd_verify, "delta": cmd_delta,
            "sync-back": cmd_sync_back, "compare-stats": cmd_compare_stats, "parity": cmd_parity}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
