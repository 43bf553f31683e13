# part 3/4 of pgtool's single script (src/pg/ops.ts joins the parts in order, each without this line): the swap (connections, locks, rename), create, drop.


def close_connections(names):
    """New connections refused, open ones ended (the app reconnects), so the databases can be renamed."""
    for n in names:
        sql(MAINT, f"ALTER DATABASE {qi(n)} ALLOW_CONNECTIONS false;\n")
    for _ in range(50):
        left = one_json(
            MAINT,
            f"SELECT coalesce(json_agg(pg_terminate_backend(pid)), '[]') FROM pg_stat_activity WHERE datname IN ({','.join(ql(n) for n in names)}) AND pid <> pg_backend_pid();",
        )
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
        fail(
            f"database {', '.join(refused)} still refuses connections",
            f"ALTER DATABASE {qi(refused[0])} ALLOW_CONNECTIONS true; as a superuser, then run the rollback again",
        )
    return there


def lock_holders(oids):
    """Sessions that hold a lock on these databases (who makes a rename wait), for the error line."""
    ids = ",".join(str(int(o)) for o in oids)
    rows = one_json(
        MAINT,
        f"""SELECT coalesce(json_agg(DISTINCT
        a.pid::text || coalesce(' (' || nullif(a.application_name, '') || ')', '')), '[]')
      FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'object' AND l.granted
      AND l.classid = 'pg_database'::regclass AND l.objid IN ({ids}) AND l.pid <> pg_backend_pid();""",
    )
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
        ok, _, err = sql_try(
            MAINT,
            f"BEGIN;\nSET LOCAL lock_timeout = '{secs}s';\n"
            + "".join(f"ALTER DATABASE {qi(a)} RENAME TO {qi(b)};\n" for a, b in pairs)
            + "COMMIT;\n",
        )
        if not ok:
            who = lock_holders([o for o, _ in oids]) if "lock timeout" in err else []
            held = (
                f": session {', '.join(who)} holds a lock on it (an open transaction that altered or commented it)"
                if who
                else ""
            )
            fail(
                f"renaming {', '.join(f'{a} to {b}' for a, b in pairs)} failed: {err}{held}; nothing was renamed, "
                f"connections to {', '.join(a for a, _ in pairs)} are allowed again",
                "end that session (SELECT pg_terminate_backend(PID)) or wait for it, then run again"
                if held
                else "see the error, then run again",
            )
    finally:
        for oid, allowed in oids:
            try:
                set_allow(oid, allowed)
            except SystemExit:  # said on stderr by sql(); the next one is still tried
                print(
                    f"connections to the database with oid {oid} may still be refused: "
                    f"ALTER DATABASE ... ALLOW_CONNECTIONS true by hand",
                    file=sys.stderr,
                )


def ours(comment, mark):
    """Made by this run: its comment is the run's mark, or the mark with what happened since ('; was live')."""
    return comment is not None and (comment == mark or comment.startswith(mark + ";"))


def holds(cond, mark):
    """A state of the databases: names that exist, are absent, carry this run's comment (ours) or not."""
    info = db_info
    return (
        all(info(n) is not None for n in cond.get("exists", []))
        and all(info(n) is None for n in cond.get("absent", []))
        and all(ours((info(n) or {}).get("comment"), mark) for n in cond.get("ours", []))
        and all(not ours((info(n) or {}).get("comment"), mark) for n in cond.get("notOurs", []))
    )


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
            out(
                ok=True,
                nothing=True,
                why="the databases are not in the state this run left them in",
                allowed=allow_connections(allow),
            )
            return
        fail(
            f"the databases are not as the plan found them (expected {json.dumps(ARGS['when'])})",
            "someone changed them since: check with --dry-run",
        )
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
        fail(
            f"after the renames the databases are not as planned (expected {json.dumps(ARGS['done'])})",
            "check them with psql -l; someone changed them meanwhile",
        )
    out(ok=True, renamed=pairs, created=ARGS.get("create"), allowed=allow_connections(allow))


def create_like(new, like, mark):
    """An empty database with the owner, encoding and locale of `like`, commented with the run's mark."""
    info = db_info(like) or {}
    opts = (
        f" OWNER {qi(info['owner'])} ENCODING {ql(info['encoding'])} LC_COLLATE {ql(info['collate'])} LC_CTYPE {ql(info['ctype'])}"
        if info
        else ""
    )
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
        out(
            ok=True,
            kept=name,
            why=f"not made by run {run}"
            if not ours(info.get("comment"), f"cutover run {run}")
            else "it was live once (it may hold writes)",
        )
        return
    sql(MAINT, f"DROP DATABASE {qi(name)} WITH (FORCE);\n")
    out(ok=True, dropped=name)
