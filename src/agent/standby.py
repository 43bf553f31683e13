"""The cutover helper's agent, started before the write freeze and asked from the host over a unix socket.

  serve SOCK [MANIFEST]...   (the standby container's main process) import every command, read each
                             MANIFEST, then answer on SOCK: each request is one agent command run in a
                             child forked from this warm process
  ask SOCK CMD ARGS...       (on the host, as root) run CMD ARGS in the serving agent: this process's
                             stdin, stdout and stderr are the command's (passed over the socket), its
                             exit code is this one's. Exit 75, nothing sent: no agent serves SOCK

So a command of the freeze costs one connect instead of a `docker exec`, a python start, the agent's imports
and the manifest's parse (about 0.15 s each). The socket's dir is root's only (0700), on the host's /run.
"""
import os, signal, socket, struct, sys

NOT_SERVED = 75  # ask: nobody answered on the socket and nothing was sent; the caller may run CMD another way
_HEAD = struct.Struct("!I")


def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        part = conn.recv(n - len(buf))
        if not part:
            raise EOFError
        buf += part
    return buf


def ask(sock_path, argv):
    """Send ARGV (bytes as given) and our fds 0, 1, 2; wait for the exit code. Imports nothing of the agent."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(sock_path)
    except OSError:
        return NOT_SERVED
    body = b"\0".join(os.fsencode(a) for a in argv)
    socket.send_fds(conn, [_HEAD.pack(len(body))], [0, 1, 2])
    conn.sendall(body)
    try:
        code = int(_recv_exact(conn, 4).decode())
    except (EOFError, ValueError, OSError):
        sys.stderr.write(
            "cutover agent: the cutover helper ended before %s finished (its container was "
            "removed or the command was killed): run it again, or resume the run\n"
            % os.fsdecode(argv[0] if argv else b"?")
        )
        return 1
    return code


def _answer(conn, main):
    """In the forked child: take the request's fds as 0, 1, 2, run it as the agent's main would, send its code."""
    head, fds, _, _ = socket.recv_fds(conn, _HEAD.size, 3)
    if len(head) < _HEAD.size or len(fds) != 3:
        return 2
    (n,) = _HEAD.unpack(head)
    argv = [os.fsdecode(a) for a in _recv_exact(conn, n).split(b"\0")] if n else []
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
        os.close(fd)
    # New streams on the new fds: the old ones keep what they learnt of the server's own (seekable, a tty).
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    code = 1
    try:
        code = main(["agent.pyz"] + argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # what main did not report itself: one line, as main would
        sys.stderr.write("cutover agent: %s: %s\n" % (type(e).__name__, e))
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
    try:
        conn.sendall(b"%4d" % (code & 0xFF))
    except OSError:
        pass
    return code


def serve(sock_path, manifests, main, warm):
    """Bind SOCK (a stale one replaced), WARM(each manifest), then one forked child per connection. PID 1 of
    its container: it reaps every child, and ends only with the container."""
    for m in manifests:
        try:
            warm(m)
        except Exception as e:  # a request reads it again and reports what is wrong
            sys.stderr.write("cutover agent: serve: %s not preloaded: %s\n" % (m, e))
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.umask(0o077)
    srv.bind(sock_path)
    srv.listen(16)
    srv.settimeout(1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            continue
        conn.settimeout(None)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                srv.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                code = _answer(conn, main)
            finally:
                os._exit(code & 0xFF if isinstance(code, int) else 1)
        conn.close()
