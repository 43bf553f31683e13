"""settle: stop what a lost session of a run left running on the host (helper containers, agent processes)."""
import json, os, shutil, signal, subprocess, time

from core import Fail, fsb

# How an agent process is recognised in its argv: the zip the runbook uploads (agent.pyz), and the
# single file earlier versions uploaded (agent.py), in python3 on the host or in a helper container.
AGENT_NAMES = (b"agent.pyz", b"agent.py")


def _ancestors():
    """This process and its ancestors: they carry the run id in their argv too, and must live."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                pid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def _agents(run_id):
    """{pid: argv} of the other processes whose argv names the agent (AGENT_NAMES) and RUN_ID."""
    mine, out = _ancestors(), {}
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in mine:
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if any(n in cmd for n in AGENT_NAMES) and fsb(run_id) in cmd:
            out[int(d)] = cmd.replace(b"\0", b" ").strip().decode("utf-8", "backslashreplace")
    return out


def _docker(*args):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, errors="backslashreplace")
    if r.returncode:
        why = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise Fail(1, "settle: docker %s failed (exit %d): %s" % (args[0], r.returncode, why))
    return r.stdout.split()


def _helpers(run_id):
    return _docker(
        "ps", "-q", "--filter", "label=io.cutover.run=%s" % run_id, "--filter", "label=io.cutover.role=helper"
    )


def _settle_containers(run_id, seconds, report):
    """Remove the run's standby helper; wait up to SECONDS for its other helper containers to end on their own, then remove them."""
    if not shutil.which("docker"):
        report["docker"] = "missing: no helper containers looked for"
        return
    # The cutover's standby helper never ends on its own: removed at once (what a lost session ran in it
    # with docker exec dies with it); the commands meant for it then run in throwaway helpers.
    standby = _docker(
        "ps", "-aq", "--filter", "label=io.cutover.run=%s" % run_id, "--filter", "label=io.cutover.role=standby"
    )
    if standby:
        _docker("rm", "-f", *sorted(standby))
        report["stopped"] += ["standby container %s" % c for c in sorted(standby)]
    left = set(_helpers(run_id))
    deadline = time.monotonic() + seconds
    pending = set(left)
    while pending and time.monotonic() < deadline:
        time.sleep(1)
        pending &= set(_helpers(run_id))
    report["waited"] += ["container %s" % c for c in sorted(left - pending)]
    if pending:
        subprocess.run(["docker", "rm", "-f", *sorted(pending)], capture_output=True)  # some may have just ended
        report["stopped"] += ["container %s" % c for c in sorted(pending)]
        if set(_helpers(run_id)) & pending:
            raise Fail(
                1,
                "settle: helper containers of %s still running after docker rm -f: %s"
                % (run_id, " ".join(sorted(pending))),
            )

    # Ended but not removed (created and never started, or --rm still pending): a re-run reuses the name.
    def ended():
        return set(
            _docker(
                "ps", "-aq", "--filter", "label=io.cutover.run=%s" % run_id, "--filter", "label=io.cutover.role=helper"
            )
        )

    gone_by = time.monotonic() + 10
    left = ended()
    if left:
        subprocess.run(["docker", "rm", "-f", *sorted(left)], capture_output=True)
        report["stopped"] += ["ended container %s" % c for c in sorted(left)]
    while left and time.monotonic() < gone_by:  # a removal in progress (--rm) still holds its volumes
        time.sleep(0.2)
        left = ended()


def _signal_and_wait(procs, sig, seconds):
    """Send SIG to every process still running, then wait up to SECONDS for them all to end."""
    for pid in filter(_running, procs):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + seconds
    while any(map(_running, procs)) and time.monotonic() < deadline:
        time.sleep(0.05)


def _settle_processes(run_id, report):
    """SIGTERM the run's agent processes, SIGKILL what is left after 10 s."""
    procs = _agents(run_id)
    _signal_and_wait(procs, signal.SIGTERM, 10)
    _signal_and_wait(procs, signal.SIGKILL, 2)
    report["stopped"] += ["pid %d: %s" % (pid, procs[pid]) for pid in sorted(procs)]
    left = sorted(filter(_running, procs))
    if left:
        raise Fail(1, "settle: still running after SIGKILL: %s" % ", ".join("pid %d" % p for p in left))


def cmd_settle(run_id, seconds="30"):
    """What a lost SSH session of RUN_ID left running is stopped, before a resume or a rollback touches
    the same resources: the run's helper containers (waited for up to SECONDS, then removed), then
    any other agent process of the run (SIGTERM, SIGKILL after 10 s). Exit 0: nothing is left."""
    if not run_id.strip():
        raise Fail(2, "settle: RUN_ID is empty")
    report = {"settled": run_id, "waited": [], "stopped": []}
    _settle_containers(run_id, float(seconds), report)
    _settle_processes(run_id, report)
    print(json.dumps(report))
    return 0
