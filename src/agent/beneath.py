"""Reading beneath a root, never through a link: directories opened from their parent's descriptor."""

import errno, os

# ---- reading beneath a root, never through a link
#
# Root reads the app's trees, and the app's account can swap a directory for a symlink (to /root, say) at any
# moment after it was listed. So below a root that scan() listed, nothing is reached by its path: every
# directory is opened from its parent's descriptor with O_NOFOLLOW, and every file, stat and readlink is
# relative to its directory's descriptor. A directory that became a link meanwhile is not entered: ELOOP or
# ENOTDIR, which the readers take as "changed while read" (the cutover's delta carries its final state).

_ROOTS = {}  # a root scan() listed -> (st_dev, st_ino) of that directory
_DIRS = {}  # a directory beneath a root -> its descriptor, opened beneath the root (kept for the process)
GONE = (errno.ELOOP, errno.ENOTDIR, errno.ENOENT)
_MAX_DIRS = 256  # descriptors kept at once (a process may open 1024)


def _root_of(path):
    best = None
    for r in _ROOTS:
        if (path == r or path.startswith(r.rstrip("/") + "/")) and (best is None or len(r) > len(best)):
            best = r
    return best


def _dirfd(d):
    """The descriptor of directory D, reached from its root one name at a time, never through a symlink."""
    fd = _DIRS.get(d)
    if fd is not None:
        return fd
    root = _root_of(d)
    if d == root or d.rstrip("/") == root.rstrip("/"):
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != _ROOTS[root]:
            os.close(fd)
            raise OSError(errno.ELOOP, "the directory was replaced since it was listed", d)
    else:
        parent, name = os.path.split(d.rstrip("/"))
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=_dirfd(parent))
        except OSError as e:
            raise OSError(e.errno, e.strerror, d) from None
    if len(_DIRS) >= _MAX_DIRS:  # a tree of many directories: start over (each is reached from its root again)
        for old in _DIRS.values():
            os.close(old)
        _DIRS.clear()
    _DIRS[d] = fd
    return fd


def _beneath(path):
    """(directory descriptor, name) of PATH when it lies beneath a root scan() listed, else None."""
    root = _root_of(path)
    if root is None or path.rstrip("/") == root.rstrip("/"):
        return None
    parent, name = os.path.split(path)
    return _dirfd(parent), name


def _relative(path, call):
    """CALL(name, dir_fd): beneath a root relative to PATH's directory's descriptor, else CALL(PATH, None);
    an error names PATH whole."""
    try:
        at = _beneath(path)
        return call(path, None) if at is None else call(at[1], at[0])
    except OSError as e:
        raise OSError(e.errno, e.strerror, path) from None


def open_read(path, flags=os.O_RDONLY):
    """An fd of the regular file PATH for reading: beneath a root, relative to its directory's descriptor;
    never through a symlink (O_NOFOLLOW: a file replaced by a link since it was listed is ELOOP)."""
    return _relative(path, lambda p, d: os.open(p, flags | os.O_NOFOLLOW, dir_fd=d))


def lstat_at(path):
    """os.lstat(PATH), beneath a root relative to its directory's descriptor."""
    return _relative(path, lambda p, d: os.stat(p, dir_fd=d, follow_symlinks=False))


def readlink_at(path):
    """os.readlink(PATH), beneath a root relative to its directory's descriptor."""
    return _relative(path, lambda p, d: os.readlink(p, dir_fd=d))


def register_root(root):
    """ROOT is listed now (scan): what lies beneath it is reached from this directory only."""
    st = os.stat(root)
    _ROOTS[root] = (st.st_dev, st.st_ino)
    _DIRS.pop(root, None)


def listing_fd(d):
    """A fresh descriptor of directory D for one listing (a listing moves its descriptor's offset), reached
    beneath its root without following a link."""
    return os.open(".", os.O_RDONLY | os.O_DIRECTORY, dir_fd=_dirfd(d))
