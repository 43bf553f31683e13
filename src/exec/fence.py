# A lost SSH session's commands must not go on after a new session settled the run: fence RUN SESSION
# records SESSION as the run's only live one (/run/cutover/RUN: the marked shell every command runs in
# refuses to start under an older session), then stops every process tree an older session of the run
# started (SIGTERM, SIGKILL after 5 s), and gives the Docker API a moment to finish what a killed client
# had already asked (a container create). Prints one JSON line: what it stopped.
import json, os, signal, sys, time

run, session = sys.argv[1], sys.argv[2]
os.makedirs("/run/cutover", mode=0o755, exist_ok=True)
os.chmod("/run/cutover", 0o755)
path = "/run/cutover/" + run
tmp = "%s.%d" % (path, os.getpid())
with open(tmp, "w") as f:
    f.write(session + "\n")
os.rename(tmp, path)
marker = ("cutover-session-%s-" % run).encode()
current = marker + session.encode()
procs = {}
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/cmdline" % d, "rb") as f:
            argv = f.read().split(b"\0")
        with open("/proc/%s/stat" % d, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        continue
    if fields[0] != b"Z":
        procs[int(d)] = (int(fields[1]), argv)
mine, p = set(), os.getpid()
while p > 1 and p not in mine:
    mine.add(p)
    p = procs.get(p, (1, []))[0]
stale = {pid for pid, (_, argv) in procs.items() if any(a.startswith(marker) and a != current for a in argv)}
tree, grown = set(stale), True
while grown:
    kids = {pid for pid, (ppid, _) in procs.items() if ppid in tree} - tree
    tree |= kids
    grown = bool(kids)
tree -= mine


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 2)):
    for pid in filter(alive, tree):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    end = time.monotonic() + wait
    while any(map(alive, tree)) and time.monotonic() < end:
        time.sleep(0.05)
left = sorted(filter(alive, tree))
if tree:
    time.sleep(1)


def words(argv):
    """The command a marked shell ran (after its marker), long words (inline scripts) cut to a mark."""
    at = next((i for i, w in enumerate(argv) if w.startswith(marker)), -1)
    ws = [w.decode("utf-8", "backslashreplace") for w in argv[at + 1 :] if w]
    return " ".join(w if len(w) <= 60 else w[:20] + "..." for w in ws)[:240]


stopped = ["pid %d: %s" % (p, words(procs[p][1])) for p in sorted(stale - mine)]
print(json.dumps({"fenced": run, "session": session, "stopped": stopped, "left": left}))
sys.exit(1 if left else 0)
