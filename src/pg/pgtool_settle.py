# part 4/4 of pgtool's single script (src/pg/ops.ts joins the parts in order, each without this line): settle, and last the table that runs OP.


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
        f = [
            "--filter",
            f"label=com.docker.compose.project={ARGS.get('project')}",
            "--filter",
            f"label=com.docker.compose.service={ARGS.get('service')}",
        ]
        found = subprocess.run(["docker", "ps", *f, "--format", "{{.Names}}"], capture_output=True, text=True)
        found = found.stdout.split()
        C = found[0] if len(found) == 1 else ""
    sessions = []
    if C:
        q = (
            "SELECT coalesce(json_agg(pid), '[]') FROM pg_stat_activity"
            f" WHERE application_name = {ql('cutover ' + RUN)}"
        )
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


{
    "facts": facts,
    "dump": dump,
    "seal": seal,
    "load": load,
    "verify": verify,
    "list": list_dump,
    "rename": rename,
    "drop": drop,
    "settle": settle,
}.get(OP, lambda: fail(f"unknown op {OP}"))()
