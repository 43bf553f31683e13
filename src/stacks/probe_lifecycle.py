# part 2/3 of probe's single script (src/stacks/steps.ts joins the parts in order, each without this line): config, ports, wait/up/restart, anonymous, as-found, down, healthy.


# ------------------------------------------------------------------------------------------------
def check_config():
    sets = [("as given", ARGS["files"])] + [(f"overlay {o['name']}", o["files"]) for o in ARGS.get("overlays", [])]
    for what, files in sets:
        code, _, err = sh(compose(files, "config", "-q"))
        if code != 0:
            done(
                False,
                f"compose files {' + '.join(files)} ({what}) are not valid: {last_line(err)}",
                f"fix the file it names; `docker compose {' '.join('-f ' + f for f in files)} config` shows the merged result",
            )
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
        held.setdefault(int(port), []).append(
            (addr, f"{m.group(1)} (pid {m.group(2)})" if m else "a process this user cannot name")
        )
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
        _, out, _ = sh(
            [
                "docker",
                "ps",
                "--filter",
                f"publish={port}",
                "--format",
                '{{.Names}}\t{{.Label "com.docker.compose.project"}}',
            ]
        )
        cs = [line.split("\t") for line in out.splitlines() if line.strip()]
        if any(p == PROJECT for _, p in cs):
            rows.append(f"{where}: held by this stack")
            ours.add(port)
            continue
        holder = ", ".join(f"container {n}" + (f" (compose project {p})" if p else "") for n, p in cs) or ", ".join(
            f"{proc} on {a}" for a, proc in holders
        )
        conflicts.append(f"{where} is already held by {holder}")
    if conflicts:
        done(
            False,
            "; ".join(conflicts) + ", not by this stack",
            "stop what holds it, or publish the service on another host port (e.g. an env variable in the ports: line)",
            ports=rows,
        )
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
                    bad.append(
                        (
                            s,
                            f"{s} is {status} (exit {c['State'].get('ExitCode')}; restarted {c.get('RestartCount', 0)} times; last log line: {log_tail(name) or 'none'})",
                        )
                    )
                elif has_healthcheck(c) and health != "healthy" and (healthy is None or s in healthy):
                    if c.get("RestartCount"):
                        # a crash loop caught between two restarts: say so, with what it printed
                        bad.append(
                            (
                                s,
                                f"{s} keeps crashing (restarted {c['RestartCount']} times; last log line: {log_tail(name) or 'none'})",
                            )
                        )
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
        code, _, err = sh(
            compose(
                None,
                *(
                    ["up", "-d", "--no-build"] + (["--remove-orphans"] if ARGS.get("removeOrphans") else [])
                    if CHECK == "up"
                    else ["restart"]
                ),
            ),
            timeout=ARGS["deadline"] + 120,
        )
        if code != 0:
            done(
                False,
                f"docker compose {what} failed: {last_line(err)}",
                "fix what it names (a port, an image, a file), then run again",
            )
    ok, secs, problem = wait_ready(services(), ARGS["deadline"], since)
    if ok and ARGS.get("url"):
        code, out, _ = sh(
            [
                "curl",
                "-s",
                "-m",
                "5",
                "--retry",
                "5",
                "--retry-all-errors",
                "--retry-delay",
                "1",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                ARGS["url"],
            ]
        )
        if not out.startswith("2"):
            done(
                False,
                f"{ARGS['url']} does not answer 2xx once up (HTTP {out or 'none'})",
                "check the overlay's published port and the service's logs",
            )
    if ok:
        done(True, detail={"seconds": round(secs, 1), "what": what})
    done(
        False,
        f"not every service is up {ARGS['deadline']} s after {what}: {problem}",
        f"see `docker compose -p {PROJECT} logs`; a service that crashes at start or restart must be fixed in its image or command",
        seconds=round(secs, 1),
    )


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
    done(
        False,
        f"{what}: docker compose down + up would leave its data detached (up makes a new, empty one); "
        "the persistence check did not run down",
        f"name the volume in compose (under {s}: volumes: - {s}_data:{d}, and {s}_data: under top-level volumes:), "
        "moving the data over first (docker cp)",
        anonymous=[{"service": s, "container": c, "volume": v, "mount": d} for s, c, v, d in anon],
    )


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
            done(
                False,
                f"docker compose {' '.join(rest[:2])} failed while putting the stack back: {last_line(err)}",
                "fix what it names, then run the rollback again",
            )
    ok, secs, problem = wait_ready(f["running"], ARGS["deadline"], since, healthy=set(f["healthy"]))
    if not ok:
        done(
            False,
            f"the services found running are not back {ARGS['deadline']} s later: {problem}",
            f"see `docker compose -p {PROJECT} logs`, then run the rollback again",
        )
    now = {}
    for c in containers():
        now.setdefault(svc(c), []).append(c["State"]["Status"])
    wrong = [
        f"{s} is {'/'.join(now.get(s, ['gone']))}, found running"
        for s in f["running"]
        if "running" not in now.get(s, [])
    ]
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
        done(
            False,
            f"{', '.join(sorted(set(missing)))} {'has' if len(missing) == 1 else 'have'} no healthcheck: running is not the same as serving, and depends_on: service_healthy cannot wait for {'it' if len(missing) == 1 else 'them'}",
            "add a healthcheck: (test: [CMD, curl, -f, http://localhost:PORT/health] or the service's own ping)",
        )
    if not ok:
        done(False, f"not every service is running and healthy: {problem}", f"see `docker compose -p {PROJECT} logs`")
    for url in ARGS.get("answers", []):
        code, out, _ = sh(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", url])
        if not out.startswith("2"):
            done(
                False,
                f"{url} does not answer 2xx (HTTP {out or 'none'})",
                "check the published port and the service's logs",
            )
    done(True, detail={"services": len(containers()), "answers": ARGS.get("answers", [])})
