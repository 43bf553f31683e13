# part 3/3 of probe's single script (src/stacks/steps.ts joins the parts in order, each without this line): reach, logs, marker, and last the table that runs CHECK.


IN_CONTAINER = r"""h=$1 p=$2 path=$3
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
echo "no tool in this container opens a TCP connection (curl, wget, python3, node, nc, bash)" >&2; exit 3"""


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
        code, out, err = sh(
            ["docker", "exec", by[src]["Id"], "sh", "-c", IN_CONTAINER, "sh", dst, str(port), path], timeout=30
        )
        if code == 0:
            matrix.append(f"{cell}: ok")
        else:
            shared = networks(by[src]) & networks(by[dst])
            why = last_line(err) or last_line(out) or f"exit {code}"
            if not shared:
                failures.append(
                    (
                        cell,
                        f"{dst} is not reachable from {src} ({why}): they share no network ({src} on {', '.join(sorted(networks(by[src])))}; {dst} on {', '.join(sorted(networks(by[dst])))})",
                        f"put {src} and {dst} on one network in the compose file",
                    )
                )
            else:
                failures.append(
                    (
                        cell,
                        f"{dst}:{port} is not reachable from {src} ({why})",
                        f"check that {dst} listens on 0.0.0.0:{port} and its logs",
                    )
                )
            matrix.append(f"{cell}: FAILED")
        # the same port through localhost must not be the way: it is the container itself
        if src != dst:
            code, _, _ = sh(
                ["docker", "exec", by[src]["Id"], "sh", "-c", IN_CONTAINER, "sh", "127.0.0.1", str(port), ""],
                timeout=30,
            )
            own = f"{port}/tcp" in (by[src]["Config"].get("ExposedPorts") or {})
            if code == 0 and not own:
                failures.append(
                    (
                        cell,
                        f"{src} reaches {dst}'s port {port} through localhost (network_mode {by[src]['HostConfig']['NetworkMode']})",
                        f"give {src} its own network namespace and call {dst} by its service name",
                    )
                )
    # configuration that sends one container to another through localhost or a host address
    host_ips = set(sh(["hostname", "-I"])[1].split()) | {
        "127.0.0.1",
        "localhost",
        "0.0.0.0",
        "host.docker.internal",
        "[::1]",
    }
    allowed = set(ARGS.get("allowLocalhost", []))
    ports = {}
    for s, c in by.items():
        for p in c["Config"].get("ExposedPorts") or {}:
            ports[int(p.split("/")[0])] = s
    for s, c in sorted(by.items()):
        for kv in c["Config"].get("Env") or []:
            k, _, v = kv.partition("=")
            if k in allowed:
                continue
            m = re.search(r"(?:^|[/@])(" + "|".join(re.escape(h) for h in host_ips) + r")(?::(\d+))?", v)
            if m and m.group(2) and int(m.group(2)) in ports and ports[int(m.group(2))] != s:
                other = ports[int(m.group(2))]
                failures.append(
                    (
                        f"{s} env {k}",
                        f"{s}'s {k} sends it to {other} through {m.group(1)}:{m.group(2)}: inside a container that is the container itself (or the host), not {other}",
                        f"use the service name: {shown(k, v.replace(m.group(1), other))} (or list {k} in allowLocalhost if it is a browser-side URL)",
                    )
                )
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
        n = len([line for line in out.splitlines() if line.strip()])
        counts[s] = n
        if code != 0 or n == 0:
            cs = containers(s)
            driver = cs[0]["HostConfig"]["LogConfig"]["Type"] if cs else "?"
            empty.append(
                f"{s} ({'compose logs failed: ' + last_line(err) if code else 'no lines'}; logging driver {driver})"
            )
    if empty:
        done(
            False,
            f"compose logs returns nothing for {', '.join(empty)}",
            "log to stdout/stderr, and use the json-file or local logging driver (others cannot be read back)",
            lines=counts,
        )
    done(True, detail={"lines": counts})


def anonymous_mounts(service):
    out = []
    for c in containers(service):
        for m in c.get("Mounts", []):
            if m.get("Type") != "volume":
                continue
            code, lab, _ = sh(
                ["docker", "volume", "inspect", "-f", '{{index .Labels "com.docker.compose.volume"}}', m["Name"]]
            )
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
        argv = compose(
            None,
            "exec",
            "-T",
            s,
            "redis-cli",
            *{"write": ["SET", key, run], "read": ["EXISTS", key], "delete": ["DEL", key]}[CHECK.split("-")[1]],
        )
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
        why = (
            f": {', '.join(anon)} {'is an anonymous volume' if len(anon) == 1 else 'are anonymous volumes'} (a new, empty one after every down)"
            if anon
            else f" ({last_line(err)})"
            if code != 0 and "does not exist" not in err
            else ": its data is not on a named volume"
        )
        done(
            False,
            f"the marker written to {where} before `down` is gone after `up`{why}",
            f"mount a named volume at {s}'s data dir (volumes: - NAME:{anon[0] if anon else '/data/dir'}, and NAME under top-level volumes:)",
        )
    if code != 0:
        done(
            False,
            f"cannot {CHECK.split('-')[1]} the marker in {where}: {last_line(err) or last_line(out)}",
            f"check {s} is up and the marker's user/db in the config",
        )
    done(True, detail={"marker": where})


{
    "config": check_config,
    "ports": check_ports,
    "wait": check_wait,
    "up": check_wait,
    "restart": check_wait,
    "down": check_down,
    "healthy": check_healthy,
    "reach": check_reach,
    "logs": check_logs,
    "marker-write": marker,
    "marker-read": marker,
    "marker-delete": marker,
    "as-found": check_as_found,
    "anonymous": check_anonymous,
    "shown": lambda: print(shown(ARGS["key"], ARGS["value"])),
}[CHECK]()
