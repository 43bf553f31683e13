"""tar-stream: one pass over a dir, to stdout and to the host-side copy, hashed as written; merge-manifest."""
import hashlib, json, os, sys, time

import core
from core import BUF, NAMES, Fail, complete, named, partial, say, show, write_text
from dbs import mark, read_live_stat
from tarformat import Archive
from walk import scan


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
            self.error = self.error or named(e, self.path)

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
                self.error = named(e, "stdout")
                continue
            try:
                mv = memoryview(b)
                while mv:  # a raw write may write less than asked
                    mv = mv[self.f.write(mv) :]
                self.h.update(b)
                # Flush the host copy to disk as it grows (on a third thread), so the final fsync
                # only waits for the tail.
                unsynced += len(b)
                if unsynced >= 64 * BUF and not (syncer and syncer.is_alive()):
                    unsynced = 0
                    syncer = threading.Thread(target=self._sync, daemon=True)
                    syncer.start()
            except OSError as e:  # a full disk
                self.error = named(e, self.path)
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


def cmd_tar_stream(root, out, live_stat=None):
    """One pass over ROOT: a POSIX (pax) tar goes to stdout (the operator's machine) and to
    OUT.part (the host-side copy), hashed as written; each file's sha256 is computed from the very
    bytes put in the archive, into OUT.manifest.json with the size, mtime and ctime it was read
    at (or, with LIVE_STAT, those of the live files a snapshot was copied from), so the cutover
    delta can tell unchanged files by metadata alone. Symlinks are archived as symlinks, hard links
    as links to the first path, sparse files as GNU sparse 1.0 members (holes not stored). OUT and
    OUT.sha256 appear only when complete; on any failure OUT.part is removed. A file that changes
    while read is flagged in the manifest (the cutover delta carries its final version). With a snapshot's
    LIVE_STAT, the SQLite databases it copied are marked in the manifest ("sqlite": true, with their
    logical content hash "logical"), and "find_dbs" says whether it found them by header: verify, delta
    and parity go by that. Without, the archive has no databases: its files are bytes."""
    if not os.path.isdir(root):
        raise Fail(10, "tar-stream: %s is not a directory" % show(root))
    core.CTX.reads, core.CTX.source = (root,) + ((live_stat,) if live_stat else ()), root
    live, dbs = read_live_stat(live_stat)
    part = partial(out + ".part")
    with open(part, "wb", buffering=0) as f:
        w = _Fanout(f, part)
        core.CTX.progress = lambda: w.n
        a = Archive(w, live)
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
            raise named(e, part) from None
    if a.changed:
        say(
            "tar-stream: %d entries changed, vanished or were not regular while read (first: %s); "
            "the cutover delta carries their final state" % (len(a.changed), ", ".join(map(show, a.changed[:3])))
        )
    find = mark("tar-stream", a.files, root, dbs)
    manifest = {"names": NAMES, "files": a.files, "find_dbs": find, "sha256": w.h.hexdigest(), "bytes": w.n}
    outputs = [
        (out + ".manifest.json", json.dumps(manifest)),  # C encoder: json.dump is pure Python
        (out + ".sha256", "%s  %s\n" % (w.h.hexdigest(), os.path.basename(out))),
    ]
    for path, text in outputs:  # the disk may fill here, after the archive
        write_text(partial(path + ".part"), text)
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
    try:
        with open(tmp, "w") as f:
            f.write(
                json.dumps(
                    {
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "names": NAMES,
                        "archives": archives,
                    },
                    sort_keys=True,
                )
            )
    except OSError as e:
        raise named(e, tmp) from None
    os.replace(tmp, os.path.join(backup_dir, "manifest.json"))
    complete(tmp)
    print(
        json.dumps(
            {n: {"files": len(a["files"]), "bytes": a["bytes"], "sha256": a["sha256"]} for n, a in archives.items()}
        )
    )
    return 0
