# Root's writes into directories another account controls, never through a symlink (run as root on the host).
#   put PATH MODE OWNER SIZE  stdin (SIZE bytes) becomes PATH: created exclusively under a random name with MODE and
#                             OWNER from birth, fsynced, renamed over PATH (a link at PATH is replaced, not followed)
#   keep PATH KEPT            copy PATH (a file or a link) to KEPT, or mark KEPT.none if there is none; once
#   restore PATH KEPT         put the kept copy back (mode, owner, mtime), or remove PATH if KEPT.none says none was
#   mkdir PATH OWNER MARKER   make PATH (and parents), owned by OWNER; MARKER records that this run made it
#   rmdir PATH MARKER         remove PATH if MARKER says this run made it and it holds nothing but directories
# Each directory on the way is opened from / with O_NOFOLLOW; a link there is followed only if root owns it.
import grp, os, pwd, secrets, stat, sys

D = os.O_RDONLY | os.O_DIRECTORY


class Refused(Exception):
    pass


def ids(owner):
    if not owner:
        return -1, -1
    u, _, g = owner.partition(":")
    try:
        uid = int(u) if u.isdigit() else pwd.getpwnam(u).pw_uid
        gid = -1 if not g else int(g) if g.isdigit() else grp.getgrnam(g).gr_gid
    except KeyError:
        raise Refused("owner %s: no such user or group on the host: fix the owner in the config" % owner)
    return uid, gid


def touch(path):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))


def state_dir(path):
    """The directory of a kept copy or a marker (host state): each directory made on the way is root's only."""
    old = os.umask(0o077)
    try:
        os.makedirs(path, 0o700, exist_ok=True)
    finally:
        os.umask(old)


def lst(name, fd):
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def parent(path, make):
    """An fd of PATH's directory and PATH's last name, reached without following a link only root may not have made.
    A missing directory is made (make=True), an error (make=False), or None is returned (make=None)."""
    if not path.startswith("/") or path.endswith("/") or "/../" in path + "/":
        raise Refused("%s: not an absolute path to a file: use one without .. or a trailing /" % path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    fd, at = os.open("/", D), ""
    for p in parts[:-1]:
        at += "/" + p
        st = lst(p, fd)
        if st is None:
            if make is None:
                os.close(fd)
                return None, parts[-1]
            if not make:
                raise Refused("%s: %s does not exist" % (path, at))
            try:
                os.mkdir(p, 0o755, dir_fd=fd)
            except FileExistsError:
                pass  # made meanwhile (an action running alongside): checked as any other below
            st = lst(p, fd)
        if stat.S_ISLNK(st.st_mode) and st.st_uid != 0:
            try:
                who = pwd.getpwuid(st.st_uid).pw_name
            except KeyError:
                who = "uid %d" % st.st_uid
            raise Refused(
                "%s: %s is a symlink owned by %s, and root never writes through a link another account "
                "controls: replace the link with a real directory, or set the config to its target" % (path, at, who)
            )
        try:
            nfd = os.open(p, D if stat.S_ISLNK(st.st_mode) else D | os.O_NOFOLLOW, dir_fd=fd)
        except NotADirectoryError:
            raise Refused("%s: %s is not a directory: move it away or choose another path" % (path, at))
        os.close(fd)
        fd = nfd
    return fd, parts[-1]


def place(dfd, name, path, fill):
    """Make a fresh entry under a random name beside NAME (fill(tmp) creates it exclusively), rename it over NAME."""
    for _ in range(5):
        tmp = ".%s.cutover-%s" % (name[:200], secrets.token_hex(8))
        try:
            fill(tmp)
            break
        except FileExistsError:
            continue
    else:
        raise Refused("%s: no unused temporary name beside it after 5 tries" % path)
    try:
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except IsADirectoryError:
        os.unlink(tmp, dir_fd=dfd)
        raise Refused("%s: it is a directory: move it away, then run again" % path)
    os.fsync(dfd)


def new_file(dfd, tmp, mode, uid, gid, write, times=None):
    """TMP created exclusively (never through a link) with MODE from birth, owned by uid:gid before any byte."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777, dir_fd=dfd)
    try:
        os.fchown(fd, uid, gid)  # before fchmod: a chown may clear setuid bits
        os.fchmod(fd, mode)
        write(fd)
        if times:
            os.utime(fd, ns=times)
        os.fsync(fd)
    except BaseException:
        os.unlink(tmp, dir_fd=dfd)
        raise
    finally:
        os.close(fd)


def copier(read, size=None, path=""):
    def write(fd):
        n = 0
        while True:
            b = read(1 << 20)
            if not b:
                break
            n += len(b)
            while b:
                b = b[os.write(fd, b) :]
        if size is not None and n != size:
            raise Refused(
                "%s: got %d bytes of %d, the upload was cut short: nothing was written, run again" % (path, n, size)
            )

    return write


def put(path, mode, owner, size):
    dfd, name = parent(path, True)
    uid, gid = ids(owner)
    write = copier(sys.stdin.buffer.read, int(size), path)
    place(dfd, name, path, lambda tmp: new_file(dfd, tmp, int(mode, 8), uid, gid, write))


def keep(path, kept):
    if os.path.lexists(kept) or os.path.exists(kept + ".none"):
        return  # kept by an earlier attempt of this run
    state_dir(os.path.dirname(kept))
    dfd, name = parent(path, None)
    st = lst(name, dfd) if dfd is not None else None
    if st is None:
        touch(kept + ".none")
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=dfd), kept)
        os.lchown(kept, st.st_uid, st.st_gid)
    elif stat.S_ISREG(st.st_mode):
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
        kfd, kname = os.open(os.path.dirname(kept), D), os.path.basename(kept)
        new_file(
            kfd,
            kname,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            copier(lambda n: os.read(src, n)),
            (st.st_atime_ns, st.st_mtime_ns),
        )
    else:
        raise Refused("%s: it is not a file or a link: move it away, then run again" % path)


def restore(path, kept):
    st = lst(kept, None)
    if st is None:
        if os.path.exists(kept + ".none"):
            dfd, name = parent(path, None)
            if dfd is not None and lst(name, dfd) is not None:
                if stat.S_ISDIR(lst(name, dfd).st_mode):
                    raise Refused("%s: it is a directory now, not the file this run wrote: left as it is" % path)
                os.unlink(name, dir_fd=dfd)
        return
    dfd, name = parent(path, True)
    if stat.S_ISLNK(st.st_mode):

        def fill(tmp):
            os.symlink(os.readlink(kept), tmp, dir_fd=dfd)
            os.chown(tmp, st.st_uid, st.st_gid, dir_fd=dfd, follow_symlinks=False)

        return place(dfd, name, path, fill)
    src = os.open(kept, os.O_RDONLY | os.O_NOFOLLOW)
    place(
        dfd,
        name,
        path,
        lambda tmp: new_file(
            dfd,
            tmp,
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            copier(lambda n: os.read(src, n)),
            (st.st_atime_ns, st.st_mtime_ns),
        ),
    )


def mkdir(path, owner, marker):
    dfd, name = parent(path, True)
    uid, gid = ids(owner)
    try:
        os.mkdir(name, 0o755, dir_fd=dfd)
        state_dir(os.path.dirname(marker))
        touch(marker)
    except FileExistsError:
        pass
    st = lst(name, dfd)
    if stat.S_ISLNK(st.st_mode):
        raise Refused(
            "%s: it is a symlink (to %s); cutover makes and owns this directory itself: remove the link, "
            "or set the config to a real directory" % (path, os.readlink(name, dir_fd=dfd))
        )
    try:
        fd = os.open(name, D | os.O_NOFOLLOW, dir_fd=dfd)
    except NotADirectoryError:
        raise Refused("%s: it exists and is not a directory: move it away, or set the config to another path" % path)
    if owner:
        os.fchown(fd, uid, gid)


def only_dirs(fd):
    with os.scandir(os.dup(fd)) as it:
        entries = list(it)
    for e in entries:
        if not e.is_dir(follow_symlinks=False):
            return False
        sub = os.open(e.name, D | os.O_NOFOLLOW, dir_fd=fd)
        try:
            if not only_dirs(sub):
                return False
        finally:
            os.close(sub)
    return True


def rmdirs(fd):
    with os.scandir(os.dup(fd)) as it:
        names = [e.name for e in it]
    for n in names:
        sub = os.open(n, D | os.O_NOFOLLOW, dir_fd=fd)
        try:
            rmdirs(sub)
        finally:
            os.close(sub)
        os.rmdir(n, dir_fd=fd)  # fails on anything that is not an empty directory


def rmdir(path, marker):
    if not os.path.exists(marker):
        return  # this run did not make it
    dfd, name = parent(path, None)
    st = lst(name, dfd) if dfd is not None else None
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            print("kept %s: it is no longer the directory this run made" % path)
            return
        fd = os.open(name, D | os.O_NOFOLLOW, dir_fd=dfd)
        try:
            if not only_dirs(fd):
                print("kept %s: holds files not made by this run" % path)
                return
            rmdirs(fd)
            os.rmdir(name, dir_fd=dfd)
        except OSError:
            print("kept %s: holds files not made by this run" % path)
            return
        finally:
            os.close(fd)
    os.unlink(marker)


OPS = {"put": (put, 4), "keep": (keep, 2), "restore": (restore, 2), "mkdir": (mkdir, 3), "rmdir": (rmdir, 2)}


def main(argv):
    op, args = (argv[0], argv[1:]) if argv else ("", [])
    if op not in OPS or len(args) != OPS[op][1]:
        sys.exit("nofollow: bad arguments %s: expected one of %s" % (" ".join(argv), ", ".join(OPS)))
    try:
        OPS[op][0](*args)
    except Refused as e:
        sys.exit("refusing %s" % e)
    except OSError as e:
        sys.exit("cannot %s %s: %s" % (op, args[0], e))


main(sys.argv[1:])
