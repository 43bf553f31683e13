"""pg.ts's host side: one operation on a compose PostgreSQL per call, run on the host over SSH.

    sudo python3 -c "$(cat pgtool.py)" OP '{"container": ..., "user": ..., "maintenanceDb": ..., ...}'

Every client runs inside the database's container (`docker exec`), over its local socket, as
ARGS.user (PGPASSWORD from the environment when set). Names of databases, schemas and tables are
data: quoted here (quote_ident / quote_literal), never spliced as given. Each call prints one JSON
line on stdout, except `dump`, whose stdout is the dump itself; a failure ends with one line on
stderr that says what failed and what to do, and exit 1.

    facts    what the plan needs: the database (exists, owner, encoding, size), names taken, free space
    dump     pg_dump -Fc in a snapshot, teed to a host copy and to stdout; sha256 beside the host
             copy; per-table row counts read in the same snapshot, to the manifest
    seal     a trial restore of the dump has the snapshot's row counts: its content sums join the manifest
    load     create database NEW (commented with the run), pg_restore the dump into it
    verify   per-table row counts (and content sums, once sealed) of a database equal the manifest's
    list     pg_restore --list reads the whole dump; its tables are the manifest's
    rename   rename databases in one transaction (connections closed first, and allowed again after,
             whether the renames happened or not; a lock held elsewhere fails it in lockTimeout s; idempotent)
    drop     drop a database only if its comment names this run (what this run made) and it was
             never live (a swap marks it '; was live'), else keep it
    settle   stop what a lost session of run ARGS.run left running: its pgtool processes on the host
             (SIGTERM: a swap lets connections in again on its way out), then its sessions in the server

Every session a call with ARGS.run opens is named `cutover RUN` (application_name), so settle finds it.
SIGTERM and SIGHUP end a call through its cleanup (a swap's connections allowed again), never mid-air.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

OP, ARGS = sys.argv[1], json.loads(sys.argv[2])
C, USER = ARGS.get("container", ""), ARGS["user"]
MAINT = ARGS.get("maintenanceDb", "postgres")
RUN = ARGS.get("run")
# the sessions of this run's calls carry its name, so that settle can find them in the server
APPNAME = f"cutover {RUN}" if RUN and OP != "settle" else None
# the first signal ends the call through its finally blocks (a swap re-allows connections); exit 128+N
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, lambda n, _f: sys.exit(128 + n))


def fail(msg, fix=""):
    print(f"{msg}; fix: {fix}" if fix else msg, file=sys.stderr)
    sys.exit(1)


def out(**o):
    print(json.dumps(o, separators=(",", ":")))


def qi(name):
    return '"' + name.replace('"', '""') + '"'


def ql(s):
    return "'" + s.replace("'", "''") + "'"


def dexec(argv, interactive=False):
    env = ["-e", "PGPASSWORD"] if os.environ.get("PGPASSWORD") else []
    if APPNAME:
        env += ["-e", f"PGAPPNAME={APPNAME}"]
    return ["docker", "exec", *(["-i"] if interactive else []), *env, C, *argv]


def psql_argv(db):
    return dexec(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", USER, "-d", db], interactive=True)


def last_line(text):
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def sql_try(db, script, timeout=3600):
    """(ok, stdout, the error's last line)."""
    p = subprocess.run(psql_argv(db), input=script, capture_output=True, text=True, timeout=timeout)
    return p.returncode == 0, p.stdout, last_line(p.stderr) or str(p.returncode)


def sql(db, script, timeout=3600):
    ok, stdout, err = sql_try(db, script, timeout)
    if not ok:
        fail(f"psql on database {db!r} in container {C} failed: {err}",
             "check postgres.user / postgres.db in the config and that the container runs")
    return stdout


def one_json(db, query):
    txt = sql(db, query).strip()
    return json.loads(txt) if txt else None


# One row per table (schemas other than the system ones; partitions counted once, as leaves): its row
# count and, with content, a content sum. The sum is order-free (the sum of a 60-bit slice of each
# row's md5), so a restored table that holds the same rows, in any physical order, sums the same.
STATS = r"""
SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'name', c.relname,
  'rows', (xpath('/row/rows/text()', x.q))[1]::text::bigint%(sum_field)s) ORDER BY n.nspname, c.relname), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT query_to_xml(format('SELECT count(*) AS rows%(sum_expr)s FROM ONLY %%I.%%I t', n.nspname, c.relname), false, true, '') AS q) x
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%';
"""


def stats_query(content):
    return STATS % {
        "sum_field": ", 'sum', (xpath('/row/sum/text()', x.q))[1]::text" if content else "",
        "sum_expr": ", coalesce(sum((''x''||substr(md5(t::text),1,15))::bit(60)::bigint),0) AS sum" if content else "",
    }


def stats(db, content=True):
    return one_json(db, stats_query(content)) or []


def db_info(name):
    return one_json(MAINT, f"""SELECT json_build_object('name', d.datname, 'owner', pg_get_userbyid(d.datdba),
      'encoding', pg_encoding_to_char(d.encoding), 'collate', d.datcollate, 'ctype', d.datctype,
      'bytes', pg_database_size(d.oid), 'comment', shobj_description(d.oid, 'pg_database'),
      'oid', d.oid, 'allowConn', d.datallowconn,
      'connections', (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid))
      FROM pg_database d WHERE d.datname = {ql(name)};""")


def facts():
    v = subprocess.run(dexec(["pg_dump", "--version"]), capture_output=True, text=True)
    if v.returncode != 0:
        fail(f"pg_dump is not runnable in container {C}: {last_line(v.stderr) or v.returncode}", "postgres.container must be the PostgreSQL container (its image has pg_dump)")
    ver = one_json(MAINT, "SELECT to_json(current_setting('server_version'));")
    me = one_json(MAINT, f"SELECT to_json(rolsuper) FROM pg_roles WHERE rolname = {ql(USER)};")
    db = db_info(ARGS["db"])
    # taken: a database by that name that this run did not make (on a resume, its own are not in the way)
    mark = f"cutover run {ARGS.get('run')}"
    names = {n: (i is not None and not ours(i.get("comment"), mark)) for n in ARGS.get("names", []) for i in [db_info(n)]}
    df = subprocess.run(dexec(["sh", "-c", 'df -Pk "${PGDATA:-/var/lib/postgresql/data}" | tail -1']), capture_output=True, text=True)
    free = int(df.stdout.split()[3]) * 1024 if df.returncode == 0 and len(df.stdout.split()) > 3 else None
    hostdir = ARGS.get("hostDir")
    host_free = None
    if hostdir:
        d = hostdir
        while not os.path.isdir(d):
            d = os.path.dirname(d)
        st = os.statvfs(d)
        host_free = st.f_bavail * st.f_frsize
    dump = None
    if ARGS.get("dump"):
        p = ARGS["dump"]
        dump = {"path": p, "exists": os.path.isfile(p)}
        if dump["exists"]:
            try:
                dump["sha256"] = open(p + ".sha256").read().split()[0]
            except OSError:
                dump["sha256"] = None
    out(server=ver, pgDump=last_line(v.stdout), superuser=bool(me), db=db, names=names, pgdataFree=free, hostFree=host_free, dump=dump)


def dump():
    path, manifest = ARGS["out"], ARGS["manifest"]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    part = path + ".part"
    # The snapshot: held open by this session until the dump is done; pg_dump and the counts read it.
    s = subprocess.Popen(psql_argv(ARGS["db"]), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    s.stdin.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n")
    s.stdin.flush()
    snap = s.stdout.readline().strip()
    if not snap:
        fail(f"could not open a snapshot of database {ARGS['db']!r} in container {C}: {last_line(s.stderr.read())}", "check postgres.db and postgres.user in the config")
    t0 = time.time()
    d = subprocess.Popen(dexec(["pg_dump", "-Fc", f"--snapshot={snap}", "-U", USER, "-d", ARGS["db"]]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = []
    threading.Thread(target=lambda: err.append(d.stderr.read().decode(errors="replace")), daemon=True).start()
    counted = {}

    def count():
        try:
            s.stdin.write(stats_query(False))
            s.stdin.flush()
            counted["tables"] = json.loads(s.stdout.readline())
        except Exception as e:  # reported below, with the session's stderr
            counted["error"] = str(e)
    t = threading.Thread(target=count)
    t.start()
    h, n = hashlib.sha256(), 0
    sink = sys.stdout.buffer
    with open(part, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        while True:
            chunk = d.stdout.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            f.write(chunk)
            sink.write(chunk)
        sink.flush()
        f.flush()
        os.fsync(f.fileno())
    rc = d.wait()
    t.join()
    s.stdin.write("COMMIT;\n")
    s.stdin.close()
    s.wait()
    if rc != 0:
        os.unlink(part)
        time.sleep(0.1)
        fail(f"pg_dump of {ARGS['db']!r} failed: {last_line(''.join(err)) or rc}", "see the error; the partial host copy was removed, nothing else changed")
    if "tables" not in counted:
        os.unlink(part)
        fail(f"counting rows in the dump's snapshot failed: {counted.get('error')} {last_line(s.stderr.read())}", "see the error")
    os.rename(part, path)
    with open(path + ".sha256", "w") as f:
        f.write(f"{h.hexdigest()}  {os.path.basename(path)}\n")
    m = {"db": ARGS["db"], "container": C, "snapshot": snap, "bytes": n, "sha256": h.hexdigest(), "seconds": round(time.time() - t0, 3),
         "pgDump": ARGS.get("pgDump"), "dbBytes": ARGS.get("dbBytes"), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tables": counted["tables"]}
    with open(manifest, "w") as f:
        json.dump(m, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    dfd = os.open(os.path.dirname(path), os.O_RDONLY)
    os.fsync(dfd)
    os.close(dfd)


def check_dump_sha(path, want):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != want:
        fail(f"{path} does not match its sha256 ({h.hexdigest()[:12]}… ≠ {want[:12]}…): the file is damaged", "the host's copy was changed since the backup: restore from the local one (--dump backups/<run>/<db>.dump after moving the host copy away) or another backup")


def load():
    new, like, run, path = ARGS["new"], ARGS["like"], ARGS["run"], ARGS["file"]
    want = ARGS.get("sha256") or open(path + ".sha256").read().split()[0]
    check_dump_sha(path, want)
    mark = f"cutover run {run}"
    have = db_info(new)
    if have is not None and (have.get("comment") or "").startswith(mark + ";"):
        fail(f"database {new!r} was live once (it may hold the app's writes): kept", "rename or drop it yourself, or start a new run")
    if have is not None and have.get("comment") != mark:
        fail(f"database {new!r} exists and was not made by run {run}", "drop or rename it, or pick another run")
    if have is not None:
        # this run's own, from an attempt cut short (a lost connection): it was never live; start it again
        sql(MAINT, f"DROP DATABASE {qi(new)} WITH (FORCE);\n")
    create_like(new, like, mark)
    with open(path, "rb") as f:
        p = subprocess.run(dexec(["pg_restore", "--exit-on-error", "--single-transaction", "-U", USER, "-d", new], interactive=True), stdin=f, capture_output=True)
    if p.returncode != 0:
        fail(f"pg_restore into {new!r} failed: {last_line(p.stderr.decode(errors='replace'))}", "see the error (a role the dump names may be missing on this server); the new database is removed by the rollback")
    out(ok=True, db=new)


def compare(want, got, content=True):
    key = lambda t: (t["schema"], t["name"])
    w, g = {key(t): t for t in want}, {key(t): t for t in got}
    bad = []
    for k in sorted(set(w) | set(g)):
        a, b = w.get(k), g.get(k)
        name = f"{k[0]}.{k[1]}"
        if a is None:
            bad.append(f"{name}: not in the dump")
        elif b is None:
            bad.append(f"{name}: missing")
        elif a["rows"] != b["rows"]:
            bad.append(f"{name}: {b['rows']} rows, the dump has {a['rows']}")
        elif content and "sum" in a and str(a["sum"]) != str(b["sum"]):
            bad.append(f"{name}: {b['rows']} rows but different content")
    return bad


def verify():
    m = json.load(open(ARGS["manifest"]))
    content = all("sum" in t for t in m["tables"])
    got = stats(ARGS["db"], content)
    bad = compare(m["tables"], got)
    if bad:
        out(ok=False, db=ARGS["db"], mismatches=bad)
        fail(f"database {ARGS['db']!r} does not match the dump: {'; '.join(bad[:3])}{' …' if len(bad) > 3 else ''}", "the restore is incomplete; nothing was swapped in")
    out(ok=True, db=ARGS["db"], tables=len(got), rows=sum(t["rows"] for t in got), content=content)


def seal():
    """The trial restore has every table of the snapshot with its row count; its content sums (the
    dump's content, computed once here rather than during the dump) join the manifest."""
    path = ARGS["manifest"]
    m = json.load(open(path))
    got = stats(ARGS["db"], True)
    bad = compare(m["tables"], got, content=False)
    if bad:
        out(ok=False, db=ARGS["db"], mismatches=bad)
        fail(f"the dump does not restore to the snapshot's rows: {'; '.join(bad[:3])}{' …' if len(bad) > 3 else ''}", "the backup is not usable: make a new one (and keep the old ones)")
    m["tables"] = got
    m["content"] = "sums from a trial restore of this dump"
    tmp = path + ".part"
    with open(tmp, "w") as f:
        json.dump(m, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    out(ok=True, tables=len(got), rows=sum(t["rows"] for t in got))


def list_dump():
    m = json.load(open(ARGS["manifest"]))
    check_dump_sha(ARGS["file"], m["sha256"])
    with open(ARGS["file"], "rb") as f:
        p = subprocess.run(dexec(["pg_restore", "--list"], interactive=True), stdin=f, capture_output=True)
    if p.returncode != 0:
        fail(f"pg_restore --list cannot read {ARGS['file']}: {last_line(p.stderr.decode(errors='replace'))}", "the dump is damaged: make a new backup")
    listed = p.stdout.decode(errors="replace").count(" TABLE DATA ")
    if listed != len(m["tables"]):
        fail(f"the dump lists {listed} tables' data, the manifest {len(m['tables'])}", "make a new backup")
    out(ok=True, tables=listed)


def close_connections(names):
    """New connections refused, open ones ended (the app reconnects), so the databases can be renamed."""
    for n in names:
        sql(MAINT, f"ALTER DATABASE {qi(n)} ALLOW_CONNECTIONS false;\n")
    for _ in range(50):
        left = one_json(MAINT, f"SELECT coalesce(json_agg(pg_terminate_backend(pid)), '[]') FROM pg_stat_activity WHERE datname IN ({','.join(ql(n) for n in names)}) AND pid <> pg_backend_pid();")
        if not left:
            return
        time.sleep(0.1)
    fail(f"connections to {', '.join(names)} do not go away", "stop the app's workers that hold them, then --resume")


def set_allow(oid, allow):
    """ALLOW_CONNECTIONS for the database with this oid, under whatever name it has now. None: it is gone."""
    name = one_json(MAINT, f"SELECT to_json(datname) FROM pg_database WHERE oid = {int(oid)};")
    if name is not None:
        sql(MAINT, f"ALTER DATABASE {qi(name)} ALLOW_CONNECTIONS {'true' if allow else 'false'};\n")
    return name


def allow_connections(names):
    """Each database named that exists allows connections (the end state a swap or its undo promises);
    checked by reading pg_database again. Returns the names that exist."""
    there = [n for n in names if db_info(n) is not None]
    for n in there:
        sql(MAINT, f"ALTER DATABASE {qi(n)} ALLOW_CONNECTIONS true;\n")
    refused = [n for n in there if not (db_info(n) or {}).get("allowConn")]
    if refused:
        fail(f"database {', '.join(refused)} still refuses connections",
             f"ALTER DATABASE {qi(refused[0])} ALLOW_CONNECTIONS true; as a superuser, then run the rollback again")
    return there


def lock_holders(oids):
    """Sessions that hold a lock on these databases (who makes a rename wait), for the error line."""
    ids = ",".join(str(int(o)) for o in oids)
    rows = one_json(MAINT, f"""SELECT coalesce(json_agg(DISTINCT
        a.pid::text || coalesce(' (' || nullif(a.application_name, '') || ')', '')), '[]')
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'object' AND l.granted
      AND l.classid = 'pg_database'::regclass AND l.objid IN ({ids}) AND l.pid <> pg_backend_pid();""")
    return rows or []


def swap(pairs, allow):
    """Close connections, rename in one transaction (waiting at most lockTimeout s for a lock another
    session holds), and whatever happens, let connections in again: each database by its oid, under
    the name it has now, allowed when its name after the swap is in `allow`."""
    start = {a: db_info(a) for a, _ in pairs}
    oids = [(i["oid"], b in allow) for (a, b) in pairs for i in [start[a]] if i is not None]
    secs = int(ARGS.get("lockTimeout", 10))
    try:
        close_connections([a for a, _ in pairs])
        ok, _, err = sql_try(MAINT, f"BEGIN;\nSET LOCAL lock_timeout = '{secs}s';\n"
                             + "".join(f"ALTER DATABASE {qi(a)} RENAME TO {qi(b)};\n" for a, b in pairs) + "COMMIT;\n")
        if not ok:
            who = lock_holders([o for o, _ in oids]) if "lock timeout" in err else []
            held = (f": session {', '.join(who)} holds a lock on it (an open transaction that altered or commented it)"
                    if who else "")
            fail(f"renaming {', '.join(f'{a} to {b}' for a, b in pairs)} failed: {err}{held}; nothing was renamed, "
                 f"connections to {', '.join(a for a, _ in pairs)} are allowed again",
                 "end that session (SELECT pg_terminate_backend(PID)) or wait for it, then run again"
                 if held else "see the error, then run again")
    finally:
        for oid, allowed in oids:
            try:
                set_allow(oid, allowed)
            except SystemExit:  # said on stderr by sql(); the next one is still tried
                print(f"connections to the database with oid {oid} may still be refused: "
                      f"ALTER DATABASE ... ALLOW_CONNECTIONS true by hand", file=sys.stderr)


def ours(comment, mark):
    """Made by this run: its comment is the run's mark, or the mark with what happened since ('; was live')."""
    return comment is not None and (comment == mark or comment.startswith(mark + ";"))


def holds(cond, mark):
    """A state of the databases: names that exist, are absent, carry this run's comment (ours) or not."""
    info = lambda n: db_info(n)
    return (all(info(n) is not None for n in cond.get("exists", []))
            and all(info(n) is None for n in cond.get("absent", []))
            and all(ours((info(n) or {}).get("comment"), mark) for n in cond.get("ours", []))
            and all(not ours((info(n) or {}).get("comment"), mark) for n in cond.get("notOurs", [])))


def rename():
    """Renames in one transaction, only from the state `when` describes; `done`: they were made already.
    Any other state: with `otherwise: skip` nothing to do (an undo of a swap that never happened), else refuse.
    Every way out leaves the databases named in `allow` (default: every new name) allowing connections,
    read back before it says so: a swap that failed half-way, or was killed, never leaves the app locked out."""
    mark = f"cutover run {ARGS['run']}"
    pairs = ARGS["pairs"]
    allow = ARGS.get("allow", [b for _, b in pairs])
    if holds(ARGS["done"], mark):
        out(ok=True, already=True, allowed=allow_connections(allow))
        return
    if not holds(ARGS["when"], mark):
        if ARGS.get("otherwise") == "skip":
            out(ok=True, nothing=True, why="the databases are not in the state this run left them in",
                allowed=allow_connections(allow))
            return
        fail(f"the databases are not as the plan found them (expected {json.dumps(ARGS['when'])})", "someone changed them since: check with --dry-run")
    for _, b in pairs:
        if db_info(b) is not None and not any(b == a for a, _ in pairs):
            fail(f"database {b!r} already exists", "drop or rename it first")
    swap(pairs, allow)
    if ARGS.get("create"):
        create()
    if ARGS.get("live"):
        # from now on it may hold the app's writes: never dropped by this run's undo, never loaded over
        sql(MAINT, f"COMMENT ON DATABASE {qi(ARGS['live'])} IS {ql(mark + '; was live')};\n")
    if not holds(ARGS["done"], mark):
        fail(f"after the renames the databases are not as planned (expected {json.dumps(ARGS['done'])})",
             "check them with psql -l; someone changed them meanwhile")
    out(ok=True, renamed=pairs, created=ARGS.get("create"), allowed=allow_connections(allow))


def create_like(new, like, mark):
    """An empty database with the owner, encoding and locale of `like`, commented with the run's mark."""
    info = db_info(like) or {}
    opts = f" OWNER {qi(info['owner'])} ENCODING {ql(info['encoding'])} LC_COLLATE {ql(info['collate'])} LC_CTYPE {ql(info['ctype'])}" if info else ""
    sql(MAINT, f"CREATE DATABASE {qi(new)} TEMPLATE template0{opts};\nCOMMENT ON DATABASE {qi(new)} IS {ql(mark)};\n")


def create():
    """rename's `create`: the empty database that takes the name (reset), unless it is there already."""
    if db_info(ARGS["create"]) is None:
        create_like(ARGS["create"], ARGS["like"], f"cutover run {ARGS['run']}")


def drop():
    name, run = ARGS["db"], ARGS["run"]
    info = db_info(name)
    if info is None:
        out(ok=True, absent=name)
        return
    if info.get("comment") != f"cutover run {run}":
        out(ok=True, kept=name, why=f"not made by run {run}" if not ours(info.get("comment"), f"cutover run {run}") else "it was live once (it may hold writes)")
        return
    sql(MAINT, f"DROP DATABASE {qi(name)} WITH (FORCE);\n")
    out(ok=True, dropped=name)


def settle():
    """What a lost session of run RUN left running is stopped: its pgtool calls on the host and their
    children (SIGTERM, so a swap lets connections in again on its way out; SIGKILL after 20 s), then its
    sessions in the server (a rename still waiting for a lock, a pg_restore). Safe any time."""
    assert RUN and all(ch.isalnum() or ch == "-" for ch in RUN), "settle needs ARGS.run"
    me = os.getpid()
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            argv = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        procs[int(d)] = (argv, ppid)
    head = __doc__.split("\n", 1)[0].encode()
    def ours(a):  # python3 -c SCRIPT OP ARGS (inline), or python3 .../runs/RUN/pgtool.py OP ARGS (the run's copy)
        if len(a) < 4 or not os.path.basename(a[0]).startswith(b"python3"):
            return False
        if a[1] == b"-c" and len(a) > 4:
            return a[2].lstrip(b'"').startswith(head) and a[3] != b"settle" and RUN.encode() in a[4]
        return a[1].endswith(b"/pgtool.py") and a[2] != b"settle" and (RUN.encode() in a[1] or RUN.encode() in a[3])
    tools = [p for p, (a, _) in procs.items() if ours(a)]
    tree, grew = set(tools), True
    while grew:
        kids = {p for p, (_, pp) in procs.items() if pp in tree} - tree
        tree |= kids
        grew = bool(kids)
    for p in tools:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.time() + 20
    while time.time() < end and any(os.path.exists(f"/proc/{p}") for p in tools):
        time.sleep(0.1)
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    global C
    if not C:
        f = ["--filter", f"label=com.docker.compose.project={ARGS.get('project')}",
             "--filter", f"label=com.docker.compose.service={ARGS.get('service')}"]
        found = subprocess.run(["docker", "ps", *f, "--format", "{{.Names}}"], capture_output=True, text=True)
        found = found.stdout.split()
        C = found[0] if len(found) == 1 else ""
    sessions = []
    if C:
        q = ("SELECT coalesce(json_agg(pid), '[]') FROM pg_stat_activity"
             f" WHERE application_name = {ql('cutover ' + RUN)}")
        for _ in range(50):
            ok, txt, _ = sql_try(MAINT, q + " AND pg_terminate_backend(pid);")
            left = json.loads(txt.strip() or "[]") if ok else []
            sessions += [s for s in left if s not in sessions]
            if not left:
                break
            time.sleep(0.1)
    # main.ts reads "stopped": [...] to say that a lost session had left something behind
    stopped = [f"pgtool pid {p}" for p in tools] + [f"server session {s}" for s in sessions]
    print(json.dumps({"settled": RUN, "waited": [], "stopped": stopped}))


{"facts": facts, "dump": dump, "seal": seal, "load": load, "verify": verify, "list": list_dump, "rename": rename,
 "drop": drop, "settle": settle}.get(OP, lambda: fail(f"unknown op {OP}"))()
