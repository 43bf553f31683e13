# part 1/3 of probe's single script (src/stacks/steps.ts joins the parts in order, each without this line): the docstring, imports, the call's arguments, shared helpers (sh, compose, done, containers).
"""verify-stack's host side: one check of a compose stack per call, run on the host over SSH.

    python3 -c "$(cat probe.py)" CHECK '{"project": ..., "dir": ..., "files": [...], ...}'

Every check prints one JSON line on stdout, {"ok": bool, "reason": str, "fix": str, "detail": ...},
and, when it does not hold, the same reason and fix as its last stderr line ("REASON; fix: FIX"),
exiting 1. Read-only checks change nothing; `up`, `restart` and `down` run that compose command
(never `down -v`) and `up`/`restart` then wait for every service, timed from the command's start;
the marker calls write, read or remove one marker (a row, a key) named after the run.
`as-found` puts the stack back as gather found it (each service running or stopped, or none at all),
and reads that back; `anonymous` refuses (exit 1) when a service keeps data on an anonymous volume,
which a down + up would leave detached; `down` with refuseAnonymous checks that first. `shown`
prints how an env value appears in a reason or a fix (passwords never do).
"""
import json
import re
import subprocess
import sys
import time

CHECK, ARGS = sys.argv[1], json.loads(sys.argv[2])
PROJECT = ARGS["project"]


SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.I)


def shown(key, value):
    """An env value as a reason or a fix may show it: a secret-named variable not at all, a URL without
    its password (postgres://app:[REDACTED]@db/x). Reasons and fixes reach the journal and the report."""
    if SECRET_KEY.search(key):
        return "[REDACTED]"
    return re.sub(r"(://[^/:@\s]*:)[^@/\s]*@", r"\1[REDACTED]@", value)


def sh(argv, timeout=120):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def compose(files=None, *rest):
    argv = ["docker", "compose", "-p", PROJECT]
    for f in files or ARGS["files"]:
        argv += ["-f", f]
    if ARGS.get("envFile"):
        argv += ["--env-file", ARGS["envFile"]]
    return argv + list(rest)


def last_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def done(ok, reason="", fix="", detail=None, **more):
    print(
        json.dumps(
            {"ok": ok, "reason": reason, "fix": fix, "detail": {**(detail or {}), **more}}, separators=(",", ":")
        )
    )
    if not ok:
        print(f"{reason}; fix: {fix}" if fix else reason, file=sys.stderr)
    sys.exit(0 if ok else 1)


def containers(service=None, all_=True):
    """The project's containers (docker inspect), optionally of one service."""
    argv = ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"]
    if all_:
        argv.insert(2, "-a")
    if service:
        argv += ["--filter", f"label=com.docker.compose.service={service}"]
    code, out, _ = sh(argv)
    ids = out.split()
    if not ids:
        return []
    code, out, _ = sh(["docker", "inspect", *ids])
    return (
        [c for c in json.loads(out) if c["Config"]["Labels"].get("com.docker.compose.oneoff") != "True"]
        if code == 0
        else []
    )


def services(files=None):
    code, out, err = sh(compose(files, "config", "--services"))
    if code != 0:
        done(
            False,
            f"compose config failed: {last_line(err)}",
            "run `docker compose config` in the stack dir and fix the file it names",
        )
    return out.split()


def svc(c):
    return c["Config"]["Labels"].get("com.docker.compose.service", c["Name"].lstrip("/"))


def has_healthcheck(c):
    hc = c["Config"].get("Healthcheck") or {}
    return bool(hc.get("Test")) and hc["Test"][0] != "NONE"


def state_of(c):
    s = c["State"]
    health = (s.get("Health") or {}).get("Status")
    return s["Status"], health


def health_tail(c):
    log = (c["State"].get("Health") or {}).get("Log") or []
    return last_line(log[-1]["Output"]) if log else ""


def log_tail(name):
    _, out, err = sh(["docker", "logs", "--tail", "5", name])
    return last_line(err) or last_line(out)
