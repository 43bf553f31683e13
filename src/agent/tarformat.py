"""What a tar-stream writes: POSIX (ustar, pax) headers built directly, and the archive's entries (files,
symlinks, hard links, GNU sparse 1.0 members) with the manifest they make."""
import errno, hashlib, os, stat as S, time

from core import BUF, ZEROS, fsb, is_utf8
from beneath import GONE, lstat_at, open_read, readlink_at
from walk import hash_zeros, identity, pread, regions

REGTYPE, LNKTYPE, SYMTYPE, DIRTYPE = b"0", b"1", b"2", b"5"


def _header(nb, mode, uid, gid, size, mtime, kind, lb=b""):
    h = bytearray(512)
    h[0 : len(nb)] = nb
    h[100:148] = b"%07o\0%07o\0%07o\0%011o\0%011o\0" % (mode, uid, gid, size, mtime)
    h[148:156] = b"        "
    h[156] = kind[0]
    h[157 : 157 + len(lb)] = lb
    h[257:265] = b"ustar\x0000"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _pax_record(key, value):
    body = b" %s=%s\n" % (key, value)
    n = len(body) + 1
    while len(b"%d" % n) + len(body) != n:
        n += 1
    return b"%d%s" % (n, body)


def _ascii(nb):
    """A stand-in for the ustar name field when the real name is in a pax record."""
    return nb.decode("ascii", "replace").encode("ascii", "replace")[:100]


def _ustar(name, mode, uid, gid, size, mtime, kind, link="", recs=b"", binary=False):
    """A POSIX tar header built directly (tarfile's is 5x slower): plain ustar when every field fits,
    else a pax extended header first, as GNU tar reads it: the path or link when not short ASCII,
    numbers too big for their field. A name that is not UTF-8 gets hdrcharset=BINARY before it, so
    GNU tar extracts its raw bytes. RECS: records of the caller (sparse files), BINARY: they hold a
    name that is not UTF-8."""
    nb, lb = fsb(name), fsb(link)
    if not name.isascii() or len(nb) > 100:
        recs += _pax_record(b"path", nb)
        binary = binary or not is_utf8(name)
        nb = _ascii(nb)
    if not link.isascii() or len(lb) > 100:
        recs += _pax_record(b"linkpath", lb)
        binary = binary or not is_utf8(link)
        lb = _ascii(lb)
    if uid > 0o7777777:
        recs, uid = recs + _pax_record(b"uid", b"%d" % uid), 0
    if gid > 0o7777777:
        recs, gid = recs + _pax_record(b"gid", b"%d" % gid), 0
    if size > 0o77777777777:
        recs, size = recs + _pax_record(b"size", b"%d" % size), 0
    if not 0 <= mtime <= 0o77777777777:
        recs, mtime = recs + _pax_record(b"mtime", b"%d" % mtime), 0
    if not recs:
        return _header(nb, mode, uid, gid, size, mtime, kind, lb)
    if binary:
        recs = _pax_record(b"hdrcharset", b"BINARY") + recs
    return (
        _header(b"././@PaxHeader", 0o644, 0, 0, len(recs), mtime, b"x")
        + recs
        + bytes(-len(recs) % 512)
        + _header(nb, mode, uid, gid, size, mtime, kind, lb)
    )


class Archive:
    """The entries of one tar-stream as they are written, and the manifest they make: {"size", "mtime",
    "sha256", "live"} for a file, {"link": target} for a symlink, {"hardlink": first rel, ...} for the
    second and later paths of a hard-linked inode."""

    def __init__(self, w, live):
        self.w, self.live, self.files, self.changed, self.inodes = w, live, {}, [], {}

    def flag(self, arc):
        if arc not in self.changed:
            self.changed.append(arc)

    def add(self, arc, p, top=False):
        try:
            s = os.stat(p) if top else lstat_at(p)
            if S.S_ISDIR(s.st_mode):
                self.w.write(_ustar(arc + "/", S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), DIRTYPE))
            elif S.S_ISLNK(s.st_mode):
                target = readlink_at(p)
                self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), SYMTYPE, target))
                self.files[arc[2:]] = {"link": target}
            elif S.S_ISREG(s.st_mode):
                self.regular(arc, p)
            else:
                self.flag(arc)  # sockets, fifos, devices: not data, not archived
        except OSError as e:
            # removed between listing and reading, or a directory on its way replaced by a link (never followed)
            if e.filename != p or e.errno not in GONE:
                raise
            self.flag(arc)

    def regular(self, arc, p):
        try:
            fd = open_read(p)  # the file listed, not a link put in its place (or on its way) since
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            self.flag(arc)
            return
        with os.fdopen(fd, "rb", buffering=0) as src:
            read_at = time.time_ns()
            s = os.fstat(fd)
            rel, key = arc[2:], (s.st_dev, s.st_ino)
            first = self.inodes.get(key) if s.st_nlink > 1 else None
            if first is not None:
                self.hardlink(arc, s, first, read_at)
                return
            if s.st_nlink > 1:
                self.inodes[key] = rel
            reg = regions(fd, s)
            if s.st_size and reg != [(0, s.st_size)]:
                h = self.sparse(arc, fd, s, reg, p)
            else:
                h = self.plain(arc, src, s)
            if identity(os.fstat(fd)) != identity(s):
                self.flag(arc)
        self.files[rel] = {
            "size": s.st_size,
            "mtime": int(s.st_mtime),
            "sha256": h.hexdigest(),
            "live": self.live.get(rel, identity(s) + [read_at]),
        }
        if arc in self.changed:
            self.files[rel]["changed_while_read"] = True

    def hardlink(self, arc, s, first, read_at):
        """A later path of an inode already archived: a link entry, no data (GNU tar links it on extraction)."""
        self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, 0, int(s.st_mtime), LNKTYPE, "./" + first))
        m, rel = self.files[first], arc[2:]
        self.files[rel] = {
            "hardlink": first,
            "size": m["size"],
            "mtime": m["mtime"],
            "sha256": m["sha256"],
            "live": self.live.get(rel, identity(s) + [read_at]),
        }

    def plain(self, arc, src, s):
        self.w.write(_ustar(arc, S.S_IMODE(s.st_mode), s.st_uid, s.st_gid, s.st_size, int(s.st_mtime), REGTYPE))
        h, left = hashlib.sha256(), s.st_size
        while left:
            b = src.read(min(BUF, left))
            if not b:  # shrank while read: pad like GNU tar, flag it
                b = bytes(min(BUF, left))
                self.flag(arc)
            h.update(b)
            self.w.write(b)
            left -= len(b)
        if s.st_size % 512:
            self.w.write(ZEROS[: 512 - s.st_size % 512])
        return h

    def sparse(self, arc, fd, s, reg, p):
        """A PAX "GNU sparse 1.0" member, as tar --format=pax --sparse writes it: the real name and size in
        pax records, then a map (count, then offset and length of each data region, in decimal lines,
        padded to 512) and the data regions only, ending, like GNU tar's, with a zero-length region at the
        real size. The sha256 is of the logical content, holes as zeros."""
        size = s.st_size
        reg = reg + [(size, 0)]
        m = b"%d\n" % len(reg) + b"".join(b"%d\n%d\n" % r for r in reg)
        m += bytes(-len(m) % 512)
        data = sum(n for _, n in reg)
        recs = (
            _pax_record(b"GNU.sparse.major", b"1")
            + _pax_record(b"GNU.sparse.minor", b"0")
            + _pax_record(b"GNU.sparse.name", fsb(arc))
            + _pax_record(b"GNU.sparse.realsize", b"%d" % size)
        )
        stand_in = "./GNUSparseFile.0/" + _ascii(fsb(os.path.basename(arc))).decode()
        self.w.write(
            _ustar(
                stand_in[:100],
                S.S_IMODE(s.st_mode),
                s.st_uid,
                s.st_gid,
                len(m) + data,
                int(s.st_mtime),
                REGTYPE,
                recs=recs,
                binary=not is_utf8(arc),
            )
        )
        self.w.write(m)
        h, pos = hashlib.sha256(), 0
        for off, n in reg:
            hash_zeros(h, off - pos)
            end = off + n
            while off < end:
                b = pread(fd, min(BUF, end - off), off, p)
                if not b:  # shrank while read: pad, flag it
                    b = bytes(min(BUF, end - off))
                    self.flag(arc)
                h.update(b)
                self.w.write(b)
                off += len(b)
            pos = end
        if (len(m) + data) % 512:
            self.w.write(ZEROS[: 512 - (len(m) + data) % 512])
        return h
