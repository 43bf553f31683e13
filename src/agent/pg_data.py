"""`pg-data`: cutover's PostgreSQL data tool (a module of the agent, `python3 agent.pyz pg-data CMD ...`): a PostgreSQL running on the host moved into a compose PostgreSQL
service, run on the host as root by argv the plan prints. Python 3 stdlib only; psql, pg_dump and
pg_restore of the host and of the container do the work. Every command is safe to run twice.

  dump DB OUT                                   pg_dump -Fc of the host's DB to OUT (written beside, renamed)
  restore CONTAINER USER DB DUMP                DB in CONTAINER made anew (connections ended) from DUMP, owned by USER
  parity DB CONTAINER USER                      the host's DB and CONTAINER's DB hold the same rows, table by table
  sync-back CONTAINER USER DB KEEP_AS DUMP_OUT  rollback: if CONTAINER's DB differs from the host's, keep the host's
                                                as KEEP_AS (renamed, never dropped) and restore CONTAINER's into DB

Exit codes: 0 ok; 1 error (one line on stderr); 2 usage; 7 parity failed; 9 stdout closed.
"""
import hashlib, json, os, subprocess, sys

DIGEST_TABLES = (
    "select format('%I.%I', n.nspname, c.relname), c.relkind from pg_class c "
    "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p', 'S') "
    "and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1"
)


class Fail(Exception):
    def __init__(self, code, line):
        super().__init__(line)
        self.code = code


def ident(name):
    return '"' + name.replace('"', '""') + '"'


# Every session of ours reads values in one format whatever the server's settings: a timestamptz is text in
# the session's time zone, a float in extra_float_digits' precision, a date in DateStyle's order. The host's
# cluster (Europe/Berlin, say) and the container's (UTC) then print the same row the same way.
SESSION = "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex"


def host_psql(db, sql):
    return run(["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql])


def box_psql(container, user, db, sql):
    return run(
        [
            "docker",
            "exec",
            "-e",
            "PGOPTIONS=" + SESSION,
            container,
            "psql",
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            user,
            "-d",
            db,
            "-c",
            sql,
        ]
    )


def run(argv, stdin=None, stdout=subprocess.PIPE):
    r = subprocess.run(
        argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=dict(os.environ, PGOPTIONS=SESSION)
    )
    if r.returncode:
        err = r.stderr.decode(errors="backslashreplace").strip().splitlines()
        raise Fail(1, "%s failed (exit %d): %s" % (" ".join(argv[:6]), r.returncode, err[-1] if err else "no message"))
    return r.stdout.decode(errors="backslashreplace") if stdout == subprocess.PIPE else ""


def digest(psql):
    """{table: "rows md5"} for every table (rows hashed in a fixed order) and every sequence (its position)."""
    out = {}
    for line in psql(DIGEST_TABLES).splitlines():
        name, kind = line.rsplit("|", 1)
        if kind == "S":
            out[name] = psql("select last_value || ' ' || is_called from %s" % name).strip()
        else:
            out[name] = psql(
                "select count(*) || ' ' || coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') "
                "from %s t" % name
            ).strip()
    return out


def differences(a, b):
    return [
        "%s: %s (host) vs %s (container)" % (t, a.get(t, "missing"), b.get(t, "missing"))
        for t in sorted(set(a) | set(b))
        if a.get(t) != b.get(t)
    ]


def cmd_dump(db, out):
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        run(["runuser", "-u", "postgres", "--", "pg_dump", "-Fc", "-d", db], stdout=f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    with open(out + ".sha256", "w") as f:
        f.write(h.hexdigest() + "\n")
    print(json.dumps({"dump": db, "bytes": os.path.getsize(out), "sha256": h.hexdigest()}))
    return 0


def _recreate(container, user, db, dump):
    box_psql(container, user, "postgres", "DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(db))
    box_psql(container, user, "postgres", "CREATE DATABASE %s OWNER %s" % (ident(db), ident(user)))
    with open(dump, "rb") as f:
        run(
            [
                "docker",
                "exec",
                "-i",
                container,
                "pg_restore",
                "-U",
                user,
                "-d",
                db,
                "--no-owner",
                "--role",
                user,
                "--exit-on-error",
            ],
            stdin=f,
        )


def cmd_restore(container, user, db, dump):
    _recreate(container, user, db, dump)
    tables = box_psql(container, user, db, DIGEST_TABLES).splitlines()
    print(json.dumps({"restore": db, "container": container, "tables": len(tables)}))
    return 0


def cmd_parity(db, container, user):
    a = digest(lambda sql: host_psql(db, sql))
    b = digest(lambda sql: box_psql(container, user, db, sql))
    diff = differences(a, b)
    if diff:
        raise Fail(
            7,
            "parity FAILED for database %s (%d of %d tables differ): %s"
            % (db, len(diff), len(a | b), "; ".join(diff[:5])),
        )
    print(json.dumps({"parity": db, "tables": len(a)}))
    return 0


def _lit(s):
    return "'" + s.replace("'", "''") + "'"


def _exists(db):
    return host_psql("postgres", "select 1 from pg_database where datname = %s" % _lit(db)).strip() == "1"


def _marker(keep_as):
    """The comment a sync-back gives the database it makes: a rerun drops only a database that carries it."""
    return "cutover sync-back: the containers' copy; the host's database before it is kept as %s" % keep_as


def _ours(db, keep_as):
    return host_psql(
        "postgres",
        "select coalesce(shobj_description(oid, 'pg_database'), '') from pg_database " "where datname = %s" % _lit(db),
    ).strip() == _marker(keep_as)


def cmd_sync_back(container, user, db, keep_as, dump_out):
    if _exists(db) and not _exists(keep_as):
        if not differences(
            digest(lambda sql: host_psql(db, sql)), digest(lambda sql: box_psql(container, user, db, sql))
        ):
            print(json.dumps({"sync_back": "unchanged", "db": db}))
            return 0
    with open(dump_out + ".part", "wb") as f:
        run(["docker", "exec", container, "pg_dump", "-Fc", "-U", user, "-d", db], stdout=f)
    os.replace(dump_out + ".part", dump_out)
    if not _exists(keep_as):
        host_psql(
            "postgres",
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = '%s'" % db.replace("'", "''"),
        )
        host_psql("postgres", "ALTER DATABASE %s RENAME TO %s" % (ident(db), ident(keep_as)))
    elif _exists(db):
        # An earlier attempt kept the original already. What is at DB now is dropped only when that attempt made it
        # (its marker): a database the operator made or wrote meanwhile is theirs.
        if not _ours(db, keep_as):
            raise Fail(
                1,
                "database %s exists on the host and was not made by this rollback (the host's own is kept as %s): it may hold "
                "writes made since; rename or drop it yourself once checked, then run the rollback again"
                % (db, keep_as),
            )
        host_psql("postgres", "DROP DATABASE %s WITH (FORCE)" % ident(db))
    owner = host_psql(
        "postgres", "select pg_get_userbyid(datdba) from pg_database where datname = %s" % _lit(keep_as)
    ).strip()
    host_psql("postgres", "CREATE DATABASE %s OWNER %s" % (ident(db), ident(owner or user)))
    host_psql("postgres", "COMMENT ON DATABASE %s IS %s" % (ident(db), _lit(_marker(keep_as))))
    with open(dump_out, "rb") as f:
        run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "pg_restore",
                "-d",
                db,
                "--no-owner",
                "--role",
                owner or user,
                "--exit-on-error",
            ],
            stdin=f,
        )
    diff = differences(digest(lambda sql: host_psql(db, sql)), digest(lambda sql: box_psql(container, user, db, sql)))
    if diff:
        raise Fail(
            7,
            "sync-back of database %s: the restored copy differs from the container's: %s" % (db, "; ".join(diff[:5])),
        )
    print(json.dumps({"sync_back": "copied", "db": db, "kept": keep_as}))
    return 0


CMDS = {"dump": (cmd_dump, 2), "restore": (cmd_restore, 4), "parity": (cmd_parity, 3), "sync-back": (cmd_sync_back, 5)}


def main(argv):
    if len(argv) < 2 or argv[1] not in CMDS or len(argv) - 2 != CMDS[argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    try:
        return CMDS[argv[1]][0](*argv[2:])
    except Fail as e:
        sys.stderr.write("pg_data %s: %s\n" % (argv[1], e))
        return e.code
    except BrokenPipeError:
        return 9
    except OSError as e:
        sys.stderr.write("pg_data %s: %s\n" % (argv[1], e))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
