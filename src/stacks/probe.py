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
import os
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
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return lines[-1] if lines else ""


def done(ok, reason="", fix="", detail=None, **more):
    print(json.dumps({"ok": ok, "reason": reason, "fix": fix, "detail": {**(detail or {}), **more}}, separators=(",", ":")))
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
    return [c for c in json.loads(out) if c["Config"]["Labels"].get("com.docker.compose.oneoff") != "True"] if code == 0 else []


def services(files=None):
    code, out, err = sh(compose(files, "config", "--services"))
    if code != 0:
        done(False, f"compose config failed: {last_line(err)}", "run `docker compose config` in the stack dir and fix the file it names")
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
    log = ((c["State"].get("Health") or {}).get("Log") or [])
    return last_line(log[-1]["Output"]) if log else ""


def log_tail(name):
    _, out, err = sh(["docker", "logs", "--tail", "5", name])
    return last_line(err) or last_line(out)


# ------------------------------------------------------------------------------------------------
def check_config():
    sets = [("as given", ARGS["files"])] + [(f"overlay {o['name']}", o["files"]) for o in ARGS.get("overlays", [])]
    for what, files in sets:
        code, _, err = sh(compose(files, "config", "-q"))
        if code != 0:
            done(False, f"compose files {' + '.join(files)} ({what}) are not valid: {last_line(err)}",
                 f"fix the file it names; `docker compose {' '.join('-f ' + f for f in files)} config` shows the merged result")
    done(True, detail={"sets": [w for w, _ in sets]})


def listeners():
    """port -> [(local address, process)] for every TCP listener on the host."""
    code, out, _ = sh(["sudo", "-n", "ss", "-ltnpH"])
    if code != 0:
        code, out, _ = sh(["ss", "-ltnpH"])
    held = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        addr, port = parts[3].rsplit(":", 1)
        m = re.search(r'\(\("([^"]+)",pid=(\d+)', line)
        held.setdefault(int(port), []).append((addr, f"{m.group(1)} (pid {m.group(2)})" if m else "a process this user cannot name"))
    return held


def check_ports():
    held = listeners()
    wanted = []
    for what, files in [("", ARGS["files"])] + [(o["name"], o["files"]) for o in ARGS.get("overlays", [])]:
        code, out, err = sh(compose(files, "config", "--format", "json"))
        if code != 0:
            done(False, f"compose config failed: {last_line(err)}", "fix the compose files first (check config)")
        for name, s in (json.loads(out).get("services") or {}).items():
            for p in s.get("ports") or []:
                if p.get("published") and p.get("protocol", "tcp") == "tcp":
                    wanted.append((name, p.get("host_ip") or "0.0.0.0", int(p["published"]), what))
    ours, conflicts, rows = set(), [], []
    for name, ip, port, overlay in sorted(set(wanted), key=lambda w: w[2]):
        where = f"{ip}:{port} ({name}{', overlay ' + overlay if overlay else ''})"
        holders = held.get(port, [])
        if not holders:
            rows.append(f"{where}: free")
            continue
        _, out, _ = sh(["docker", "ps", "--filter", f"publish={port}", "--format", '{{.Names}}\t{{.Label "com.docker.compose.project"}}'])
        cs = [l.split("\t") for l in out.splitlines() if l.strip()]
        if any(p == PROJECT for _, p in cs):
            rows.append(f"{where}: held by this stack")
            ours.add(port)
            continue
        holder = ", ".join(f"container {n}" + (f" (compose project {p})" if p else "") for n, p in cs) or \
            ", ".join(f"{proc} on {a}" for a, proc in holders)
        conflicts.append(f"{where} is already held by {holder}")
    if conflicts:
        done(False, "; ".join(conflicts) + ", not by this stack",
             "stop what holds it, or publish the service on another host port (e.g. an env variable in the ports: line)", ports=rows)
    done(True, detail={"ports": rows})


def wait_ready(services_, deadline, since, healthy=None):
    """Wait until each service's container runs and, with a healthcheck, is healthy (only the services in
    `healthy`, when given). Returns (ok, seconds, problem)."""
    end = since + deadline
    while True:
        bad = []
        for s in services_:
            cs = containers(s)
            if not cs:
                bad.append((s, f"{s} has no container"))
                continue
            for c in cs:
                status, health = state_of(c)
                name = c["Name"].lstrip("/")
                if status != "running":
                    bad.append((s, f"{s} is {status} (exit {c['State'].get('ExitCode')}; restarted {c.get('RestartCount', 0)} times; last log line: {log_tail(name) or 'none'})"))
                elif has_healthcheck(c) and health != "healthy" and (healthy is None or s in healthy):
                    if c.get("RestartCount"):
                        # a crash loop caught between two restarts: say so, with what it printed
                        bad.append((s, f"{s} keeps crashing (restarted {c['RestartCount']} times; last log line: {log_tail(name) or 'none'})"))
                        continue
                    tail = health_tail(c)
                    bad.append((s, f"{s} is {health}{' (last healthcheck: ' + tail + ')' if tail else ''}"))
        if not bad:
            return True, time.time() - since, ""
        if time.time() >= end:
            return False, time.time() - since, "; ".join(b for _, b in bad)
        time.sleep(0.5)


def check_wait():
    since = time.time()
    what = {"up": "up", "restart": "compose restart", "wait": "up"}[CHECK]
    if CHECK in ("up", "restart"):
        code, _, err = sh(compose(None, *(["up", "-d", "--no-build"] + (["--remove-orphans"] if ARGS.get("removeOrphans") else [])
                                          if CHECK == "up" else ["restart"])), timeout=ARGS["deadline"] + 120)
        if code != 0:
            done(False, f"docker compose {what} failed: {last_line(err)}", "fix what it names (a port, an image, a file), then run again")
    ok, secs, problem = wait_ready(services(), ARGS["deadline"], since)
    if ok and ARGS.get("url"):
        code, out, _ = sh(["curl", "-s", "-m", "5", "--retry", "5", "--retry-all-errors", "--retry-delay", "1", "-o", "/dev/null", "-w", "%{http_code}", ARGS["url"]])
        if not out.startswith("2"):
            done(False, f"{ARGS['url']} does not answer 2xx once up (HTTP {out or 'none'})", "check the overlay's published port and the service's logs")
    if ok:
        done(True, detail={"seconds": round(secs, 1), "what": what})
    done(False, f"not every service is up {ARGS['deadline']} s after {what}: {problem}",
         f"see `docker compose -p {PROJECT} logs`; a service that crashes at start or restart must be fixed in its image or command",
         seconds=round(secs, 1))


def anonymous_volumes():
    """(service, container, volume, mount) for each anonymous volume a container of the project has mounted."""
    out = []
    for c in containers():
        for m in c.get("Mounts", []):
            if m.get("Type") != "volume":
                continue
            label = '{{index .Labels "com.docker.compose.volume"}}'
            code, lab, _ = sh(["docker", "volume", "inspect", "-f", label, m["Name"]])
            if code == 0 and not lab.strip():
                out.append((svc(c), c["Name"].lstrip("/"), m["Name"], m["Destination"]))
    return out


def refuse_anonymous():
    anon = anonymous_volumes()
    if not anon:
        return
    what = "; ".join(f"{s} ({c}) has anonymous volume {v} at {d}" for s, c, v, d in anon)
    s, _, _, d = anon[0]
    done(False, f"{what}: docker compose down + up would leave its data detached (up makes a new, empty one); "
                "the persistence check did not run down",
         f"name the volume in compose (under {s}: volumes: - {s}_data:{d}, and {s}_data: under top-level volumes:), "
         "moving the data over first (docker cp)", anonymous=[{"service": s, "container": c, "volume": v, "mount": d}
                                                             for s, c, v, d in anon])


def check_anonymous():
    refuse_anonymous()
    done(True, detail={"anonymous": []})


def check_as_found():
    """The stack as gather found it: ARGS.found = {files, running: [svc], healthy: [svc], stopped: [svc]}. None
    found (no container at all): down (volumes kept). Else the found files applied without starting anything
    new (changed containers recreated), running services started and waited for, stopped ones stopped, and
    services that had no container removed. Then read back."""
    f = ARGS["found"]
    if not f["running"] and not f["stopped"]:
        code, _, err = sh(compose(None, "down"), timeout=300)
        if code != 0:
            done(False, f"docker compose down failed: {last_line(err)}", "see `docker compose ps -a`")
        left = [c["Name"].lstrip("/") for c in containers()]
        if left:
            done(False, f"containers left after down: {', '.join(left)}", f"docker compose -p {PROJECT} down")
        done(True, detail={"asFound": "no containers"})
    files = f["files"] or ARGS["files"]
    since = time.time()
    steps = [["up", "--no-start", "--no-build", "--remove-orphans"]]
    if f["running"]:
        steps.append(["up", "-d", "--no-build", "--no-deps", *f["running"]])
    if f["stopped"]:
        steps.append(["stop", *f["stopped"]])
    absent = [s for s in services(files) if s not in f["running"] and s not in f["stopped"]]
    if absent:
        steps.append(["rm", "-s", "-f", *absent])
    for rest in steps:
        code, _, err = sh(compose(files, *rest), timeout=ARGS["deadline"] + 120)
        if code != 0:
            done(False, f"docker compose {' '.join(rest[:2])} failed while putting the stack back: {last_line(err)}",
                 "fix what it names, then run the rollback again")
    ok, secs, problem = wait_ready(f["running"], ARGS["deadline"], since, healthy=set(f["healthy"]))
    if not ok:
        done(False, f"the services found running are not back {ARGS['deadline']} s later: {problem}",
             f"see `docker compose -p {PROJECT} logs`, then run the rollback again")
    now = {}
    for c in containers():
        now.setdefault(svc(c), []).append(c["State"]["Status"])
    wrong = [f"{s} is {'/'.join(now.get(s, ['gone']))}, found running" for s in f["running"]
             if "running" not in now.get(s, [])]
    wrong += [f"{s} is running, found stopped" for s in f["stopped"] if "running" in now.get(s, [])]
    wrong += [f"{s} has a container, found none" for s in absent if s in now]
    if wrong:
        done(False, f"the stack is not as found: {'; '.join(wrong)}", "run the rollback again")
    done(True, detail={"running": f["running"], "stopped": f["stopped"], "seconds": round(secs, 1)})


def check_down():
    if ARGS.get("refuseAnonymous"):
        refuse_anonymous()
    code, _, err = sh(compose(None, "down"), timeout=300)
    if code != 0:
        done(False, f"docker compose down failed: {last_line(err)}", "see `docker compose ps -a`")
    done(True)


def check_healthy():
    ok, secs, problem = wait_ready(services(), ARGS["deadline"], time.time())
    missing = [svc(c) for c in containers() if c["State"]["Status"] == "running" and not has_healthcheck(c)]
    if missing:
        done(False, f"{', '.join(sorted(set(missing)))} {'has' if len(missing) == 1 else 'have'} no healthcheck: running is not the same as serving, and depends_on: service_healthy cannot wait for {'it' if len(missing) == 1 else 'them'}",
             "add a healthcheck: (test: [CMD, curl, -f, http://localhost:PORT/health] or the service's own ping)")
    if not ok:
        done(False, f"not every service is running and healthy: {problem}", f"see `docker compose -p {PROJECT} logs`")
    for url in ARGS.get("answers", []):
        code, out, _ = sh(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url])
        if not out.startswith("2"):
            done(False, f"{url} does not answer 2xx (HTTP {out or 'none'})", "check the published port and the service's logs")
    done(True, detail={"services": len(containers()), "answers": ARGS.get("answers", [])})


IN_CONTAINER = r'''h=$1 p=$2 path=$3
if [ -n "$path" ]; then
  if command -v curl >/dev/null 2>&1; then curl -fsS -m 3 -o /dev/null "http://$h:$p$path"; exit $?; fi
  if command -v wget >/dev/null 2>&1; then wget -q -T 3 -O /dev/null "http://$h:$p$path"; exit $?; fi
  if command -v python3 >/dev/null 2>&1; then exec python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "http://$h:$p$path"; fi
  if command -v node >/dev/null 2>&1; then exec node -e 'fetch(process.argv[1],{signal:AbortSignal.timeout(3000)}).then(r=>process.exit(r.ok?0:(console.error("HTTP "+r.status),1)),e=>{console.error(String(e.cause||e));process.exit(1)})' "http://$h:$p$path"; fi
fi
if command -v python3 >/dev/null 2>&1; then exec python3 -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 3)' "$h" "$p"; fi
if command -v node >/dev/null 2>&1; then exec node -e 'const s=require("net").connect(+process.argv[2],process.argv[1],()=>process.exit(0));s.on("error",e=>{console.error(e.message);process.exit(1)});setTimeout(()=>process.exit(1),3000)' "$h" "$p"; fi
if command -v nc >/dev/null 2>&1; then exec nc -z -w 3 "$h" "$p"; fi
if command -v bash >/dev/null 2>&1; then exec timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p"; fi
echo "no tool in this container opens a TCP connection (curl, wget, python3, node, nc, bash)" >&2; exit 3'''


def networks(c):
    return set((c["NetworkSettings"].get("Networks") or {}).keys())


def check_reach():
    by = {}
    for c in containers(all_=False):
        by.setdefault(svc(c), c)
    matrix, failures = [], []
    for r in ARGS.get("reach", []):
        src, dst, port, path = r["from"], r["to"], r["port"], r.get("path", "")
        cell = f"{src} -> {dst}:{port}{path and ' GET ' + path}"
        if src not in by or dst not in by:
            failures.append((cell, f"{src if src not in by else dst} is not running", "bring the stack up first"))
            matrix.append(f"{cell}: not run")
            continue
        code, out, err = sh(["docker", "exec", by[src]["Id"], "sh", "-c", IN_CONTAINER, "sh", dst, str(port), path], timeout=30)
        if code == 0:
            matrix.append(f"{cell}: ok")
        else:
            shared = networks(by[src]) & networks(by[dst])
            why = last_line(err) or last_line(out) or f"exit {code}"
            if not shared:
                failures.append((cell, f"{dst} is not reachable from {src} ({why}): they share no network ({src} on {', '.join(sorted(networks(by[src])))}; {dst} on {', '.join(sorted(networks(by[dst])))})",
                                 f"put {src} and {dst} on one network in the compose file"))
            else:
                failures.append((cell, f"{dst}:{port} is not reachable from {src} ({why})", f"check that {dst} listens on 0.0.0.0:{port} and its logs"))
            matrix.append(f"{cell}: FAILED")
        # the same port through localhost must not be the way: it is the container itself
        if src != dst:
            code, _, _ = sh(["docker", "exec", by[src]["Id"], "sh", "-c", IN_CONTAINER, "sh", "127.0.0.1", str(port), ""], timeout=30)
            own = f"{port}/tcp" in (by[src]["Config"].get("ExposedPorts") or {})
            if code == 0 and not own:
                failures.append((cell, f"{src} reaches {dst}'s port {port} through localhost (network_mode {by[src]['HostConfig']['NetworkMode']})",
                                 f"give {src} its own network namespace and call {dst} by its service name"))
    # configuration that sends one container to another through localhost or a host address
    host_ips = set(sh(["hostname", "-I"])[1].split()) | {"127.0.0.1", "localhost", "0.0.0.0", "host.docker.internal", "[::1]"}
    allowed = set(ARGS.get("allowLocalhost", []))
    ports = {}
    for s, c in by.items():
        for p in (c["Config"].get("ExposedPorts") or {}):
            ports[int(p.split("/")[0])] = s
    for s, c in sorted(by.items()):
        for kv in c["Config"].get("Env") or []:
            k, _, v = kv.partition("=")
            if k in allowed:
                continue
            m = re.search(r"(?:^|[/@])(" + "|".join(re.escape(h) for h in host_ips) + r")(?::(\d+))?", v)
            if m and m.group(2) and int(m.group(2)) in ports and ports[int(m.group(2))] != s:
                other = ports[int(m.group(2))]
                failures.append((f"{s} env {k}", f"{s}'s {k} sends it to {other} through {m.group(1)}:{m.group(2)}: inside a container that is the container itself (or the host), not {other}",
                                 f"use the service name: {shown(k, v.replace(m.group(1), other))} (or list {k} in allowLocalhost if it is a browser-side URL)"))
    if failures:
        cell, reason, fix = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        done(False, reason + more, fix, matrix=matrix)
    done(True, detail={"matrix": matrix})


def check_logs():
    empty = []
    counts = {}
    for s in services():
        code, out, err = sh(compose(None, "logs", "--no-color", "--no-log-prefix", "--tail", "50", s))
        n = len([l for l in out.splitlines() if l.strip()])
        counts[s] = n
        if code != 0 or n == 0:
            cs = containers(s)
            driver = cs[0]["HostConfig"]["LogConfig"]["Type"] if cs else "?"
            empty.append(f"{s} ({'compose logs failed: ' + last_line(err) if code else 'no lines'}; logging driver {driver})")
    if empty:
        done(False, f"compose logs returns nothing for {', '.join(empty)}",
             "log to stdout/stderr, and use the json-file or local logging driver (others cannot be read back)", lines=counts)
    done(True, detail={"lines": counts})


def anonymous_mounts(service):
    out = []
    for c in containers(service):
        for m in c.get("Mounts", []):
            if m.get("Type") != "volume":
                continue
            code, lab, _ = sh(["docker", "volume", "inspect", "-f", '{{index .Labels "com.docker.compose.volume"}}', m["Name"]])
            if code == 0 and not lab.strip():
                out.append(m["Destination"])
    return out


def marker():
    m = ARGS["marker"]
    run = ARGS["run"]
    assert re.fullmatch(r"[0-9a-z-]+", run)
    s = m["service"]
    if m["kind"] == "postgres":
        base = ["exec", "-T", s, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-tAq", "-U", m["user"], "-d", m["db"], "-c"]
        sql = {
            "write": f"CREATE TABLE IF NOT EXISTS cutover_marker (run text PRIMARY KEY, at timestamptz DEFAULT now()); INSERT INTO cutover_marker (run) VALUES ('{run}') ON CONFLICT DO NOTHING",
            "read": f"SELECT count(*) FROM cutover_marker WHERE run = '{run}'",
            "delete": f"DO $$ BEGIN IF to_regclass('cutover_marker') IS NOT NULL THEN DELETE FROM cutover_marker WHERE run = '{run}'; IF NOT EXISTS (SELECT 1 FROM cutover_marker) THEN DROP TABLE cutover_marker; END IF; END IF; END $$",
        }[CHECK.split("-")[1]]
        argv = compose(None, *base, sql)
    else:
        key = f"cutover:marker:{run}"
        argv = compose(None, "exec", "-T", s, "redis-cli", *{"write": ["SET", key, run], "read": ["EXISTS", key], "delete": ["DEL", key]}[CHECK.split("-")[1]])
    where = f"{s} ({m['kind']})"
    if CHECK == "marker-delete":
        # an undo may find the stack down (a run stopped between down and up): bring the service up first
        sh(compose(None, "up", "-d", "--no-build", s), timeout=ARGS["deadline"] + 120)
        ok, _, problem = wait_ready([s], ARGS["deadline"], time.time())
        if not ok:
            done(False, f"cannot remove the marker in {where}: {problem}", f"bring {s} up, then run the rollback again")
    code, out, err = sh(argv)
    if CHECK == "marker-read":
        found = code == 0 and out.strip() not in ("", "0") and "ERROR" not in err
        if found:
            done(True, detail={"marker": where})
        anon = anonymous_mounts(s)
        why = f": {', '.join(anon)} {'is an anonymous volume' if len(anon) == 1 else 'are anonymous volumes'} (a new, empty one after every down)" if anon else \
            f" ({last_line(err)})" if code != 0 and "does not exist" not in err else ": its data is not on a named volume"
        done(False, f"the marker written to {where} before `down` is gone after `up`{why}",
             f"mount a named volume at {s}'s data dir (volumes: - NAME:{anon[0] if anon else '/data/dir'}, and NAME under top-level volumes:)")
    if code != 0:
        done(False, f"cannot {CHECK.split('-')[1]} the marker in {where}: {last_line(err) or last_line(out)}", f"check {s} is up and the marker's user/db in the config")
    done(True, detail={"marker": where})


{"config": check_config, "ports": check_ports, "wait": check_wait, "up": check_wait, "restart": check_wait, "down": check_down, "healthy": check_healthy, "reach": check_reach,
 "logs": check_logs, "marker-write": marker, "marker-read": marker, "marker-delete": marker,
 "as-found": check_as_found, "anonymous": check_anonymous,
 "shown": lambda: print(shown(ARGS["key"], ARGS["value"]))}[CHECK]()
