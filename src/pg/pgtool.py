# part 1/4 of pgtool's single script (src/pg/ops.ts joins the parts in order, each without this line): the docstring, imports, the call's arguments, shared helpers (sql, stats, db_info).
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
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def sql_try(db, script, timeout=3600):
    """(ok, stdout, the error's last line)."""
    p = subprocess.run(psql_argv(db), input=script, capture_output=True, text=True, timeout=timeout)
    return p.returncode == 0, p.stdout, last_line(p.stderr) or str(p.returncode)


def sql(db, script, timeout=3600):
    ok, stdout, err = sql_try(db, script, timeout)
    if not ok:
        fail(
            f"psql on database {db!r} in container {C} failed: {err}",
            "check postgres.user / postgres.db in the config and that the container runs",
        )
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
    return one_json(
        MAINT,
        f"""SELECT json_build_object('name', d.datname, 'owner', pg_get_userbyid(d.datdba),
      'encoding', pg_encoding_to_char(d.encoding), 'collate', d.datcollate, 'ctype', d.datctype,
      'bytes', pg_database_size(d.oid), 'comment', shobj_description(d.oid, 'pg_database'),
      'oid', d.oid, 'allowConn', d.datallowconn,
      'connections', (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid))
      FROM pg_database d WHERE d.datname = {ql(name)};""",
    )
