# part 2/4 of pgtool's single script (src/pg/ops.ts joins the parts in order, each without this line): facts, dump, load, verify, seal, list.


def facts():
    v = subprocess.run(dexec(["pg_dump", "--version"]), capture_output=True, text=True)
    if v.returncode != 0:
        fail(
            f"pg_dump is not runnable in container {C}: {last_line(v.stderr) or v.returncode}",
            "postgres.container must be the PostgreSQL container (its image has pg_dump)",
        )
    ver = one_json(MAINT, "SELECT to_json(current_setting('server_version'));")
    me = one_json(MAINT, f"SELECT to_json(rolsuper) FROM pg_roles WHERE rolname = {ql(USER)};")
    db = db_info(ARGS["db"])
    # taken: a database by that name that this run did not make (on a resume, its own are not in the way)
    mark = f"cutover run {ARGS.get('run')}"
    names = {
        n: (i is not None and not ours(i.get("comment"), mark)) for n in ARGS.get("names", []) for i in [db_info(n)]
    }
    df = subprocess.run(
        dexec(["sh", "-c", 'df -Pk "${PGDATA:-/var/lib/postgresql/data}" | tail -1']), capture_output=True, text=True
    )
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
    out(
        server=ver,
        pgDump=last_line(v.stdout),
        superuser=bool(me),
        db=db,
        names=names,
        pgdataFree=free,
        hostFree=host_free,
        dump=dump,
    )


def dump():
    path, manifest = ARGS["out"], ARGS["manifest"]
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    part = path + ".part"
    # The snapshot: held open by this session until the dump is done; pg_dump and the counts read it.
    s = subprocess.Popen(
        psql_argv(ARGS["db"]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    s.stdin.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n")
    s.stdin.flush()
    snap = s.stdout.readline().strip()
    if not snap:
        fail(
            f"could not open a snapshot of database {ARGS['db']!r} in container {C}: {last_line(s.stderr.read())}",
            "check postgres.db and postgres.user in the config",
        )
    t0 = time.time()
    d = subprocess.Popen(
        dexec(["pg_dump", "-Fc", f"--snapshot={snap}", "-U", USER, "-d", ARGS["db"]]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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
        fail(
            f"pg_dump of {ARGS['db']!r} failed: {last_line(''.join(err)) or rc}",
            "see the error; the partial host copy was removed, nothing else changed",
        )
    if "tables" not in counted:
        os.unlink(part)
        fail(
            f"counting rows in the dump's snapshot failed: {counted.get('error')} {last_line(s.stderr.read())}",
            "see the error",
        )
    os.rename(part, path)
    with open(path + ".sha256", "w") as f:
        f.write(f"{h.hexdigest()}  {os.path.basename(path)}\n")
    m = {
        "db": ARGS["db"],
        "container": C,
        "snapshot": snap,
        "bytes": n,
        "sha256": h.hexdigest(),
        "seconds": round(time.time() - t0, 3),
        "pgDump": ARGS.get("pgDump"),
        "dbBytes": ARGS.get("dbBytes"),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tables": counted["tables"],
    }
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
        fail(
            f"{path} does not match its sha256 ({h.hexdigest()[:12]}… ≠ {want[:12]}…): the file is damaged",
            "the host's copy was changed since the backup: restore from the local one (--dump backups/<run>/<db>.dump after moving the host copy away) or another backup",
        )


def load():
    new, like, run, path = ARGS["new"], ARGS["like"], ARGS["run"], ARGS["file"]
    want = ARGS.get("sha256") or open(path + ".sha256").read().split()[0]
    check_dump_sha(path, want)
    mark = f"cutover run {run}"
    have = db_info(new)
    if have is not None and (have.get("comment") or "").startswith(mark + ";"):
        fail(
            f"database {new!r} was live once (it may hold the app's writes): kept",
            "rename or drop it yourself, or start a new run",
        )
    if have is not None and have.get("comment") != mark:
        fail(f"database {new!r} exists and was not made by run {run}", "drop or rename it, or pick another run")
    if have is not None:
        # this run's own, from an attempt cut short (a lost connection): it was never live; start it again
        sql(MAINT, f"DROP DATABASE {qi(new)} WITH (FORCE);\n")
    create_like(new, like, mark)
    with open(path, "rb") as f:
        p = subprocess.run(
            dexec(["pg_restore", "--exit-on-error", "--single-transaction", "-U", USER, "-d", new], interactive=True),
            stdin=f,
            capture_output=True,
        )
    if p.returncode != 0:
        fail(
            f"pg_restore into {new!r} failed: {last_line(p.stderr.decode(errors='replace'))}",
            "see the error (a role the dump names may be missing on this server); the new database is removed by the rollback",
        )
    out(ok=True, db=new)


def compare(want, got, content=True):
    def key(t):
        return (t["schema"], t["name"])

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
        fail(
            f"database {ARGS['db']!r} does not match the dump: {'; '.join(bad[:3])}{' …' if len(bad) > 3 else ''}",
            "the restore is incomplete; nothing was swapped in",
        )
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
        fail(
            f"the dump does not restore to the snapshot's rows: {'; '.join(bad[:3])}{' …' if len(bad) > 3 else ''}",
            "the backup is not usable: make a new one (and keep the old ones)",
        )
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
        fail(
            f"pg_restore --list cannot read {ARGS['file']}: {last_line(p.stderr.decode(errors='replace'))}",
            "the dump is damaged: make a new backup",
        )
    listed = p.stdout.decode(errors="replace").count(" TABLE DATA ")
    if listed != len(m["tables"]):
        fail(f"the dump lists {listed} tables' data, the manifest {len(m['tables'])}", "make a new backup")
    out(ok=True, tables=listed)
