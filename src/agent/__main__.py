#!/usr/bin/env python3
"""cutover host agent: the data work of every migration, run on the host (or in a helper container)
by argv the plan prints. Python 3 stdlib only. Every command is safe to run twice.

  snapshot SRC DEST [--db REL]... [--find-dbs] [--pause SH_CMD --resume SH_CMD] [--attempts N]
                                                     consistent copy of a live dir and its SQLite databases:
                                                     --db REL names one (repeatable), --find-dbs takes every
                                                     file with SQLite's header; neither: SRC is a ChromaDB dir
                                                     (chroma.sqlite3). DEST.live-stat.json records them too
  tar-stream DIR OUT [LIVE_STAT]                     tar DIR to stdout and to OUT (host copy) in one pass;
                                                     OUT.sha256, OUT.manifest.json (a snapshot's databases,
                                                     from LIVE_STAT, marked "sqlite": true)
  merge-manifest BACKUP_DIR NAME ...                 BACKUP_DIR/manifest.json from the per-archive manifests
  verify MANIFEST NAME DIR [STAT_OUT]                every entry of NAME in DIR matches the manifest, nothing extra
  delta MANIFEST NAME LIVE_DIR DEST_DIR [UID:GID]    bring DEST (restored from NAME) up to the live dir
  parity MANIFEST NAME LIVE VOL VOL_STAT [SAMPLE_MB] LIVE and VOL hold the same content (stat proofs, hashes, a sample)
  sync-back SRC_DIR LIVE_DIR KEEP_AS UID:GID         if SRC differs from LIVE: keep LIVE as KEEP_AS, copy SRC over it
  settle RUN_ID [SECONDS]                            stop what a lost session of RUN_ID left running (helpers, agents)
  restore TAR DEST UID:GID MANIFEST NAME [STAT_OUT]  empty DEST, unpack TAR into it, own it by UID:GID, then verify
  restore-all MANIFEST STAT_DIR NAME=DEST=UID:GID ... restore, for all data sets at once, each from NAME.tar beside
                                                     MANIFEST (STAT_DIR/NAME.stat.json)
  verify-all MANIFEST NAME=DIR ...                   verify, for each data set
  delta-all MANIFEST UID:GID NAME=LIVE=DEST ...      delta, for each data set
  parity-all MANIFEST STAT_DIR NAME=LIVE=VOL ...     parity, for all data sets at once (STAT_DIR/NAME.stat.json)
  sync-back-all RUN_ID SRC=LIVE ...                  sync-back, for each data set: owner of LIVE (else its parent),
                                                     LIVE kept as LIVE.pre-rollback-RUN_ID
  keep-volume DIR NAME RUN_ID                        record DIR/NAME: volume NAME kept on purpose by run RUN_ID
  serve SOCK [MANIFEST]...                           the cutover helper: answer `ask` on SOCK (standby.py)
  ask SOCK CMD ARGS...                               run CMD in the agent serving SOCK; 75: none serves it
  supervisor off|restore NAME KEPT [CONF]            one supervisord program kept from starting at boot, or put
                                                     back byte for byte (supervisor_boot.py)
  pg-data dump|restore|parity|sync-back ARGS...      a host PostgreSQL moved into a compose one (pg_data.py)

What is data: regular files and symlinks. Names are bytes (anything but '/' and NUL); in JSON they are
the UTF-8 str Python gives them, undecodable bytes as lone surrogates \\udcNN (PEP 383), which round-trips.
Symlinks are compared as links and never followed, sparse files stay sparse, hard links stay hard links.
SQLite databases are what the manifest marks (dbs.py): copied by SQLite's backup API (snapshot; delta,
unless the live file alone is the database: then only its changed blocks), compared by their logical
content (verify; parity, by their pages when each file alone is its database), their -wal/-shm/-journal
never copied as bytes; with
--find-dbs, a file with SQLite's header that appeared after the backup is one too. sync-back refuses a
source with any database (by header) failing quick_check. A data set streamed without a snapshot has no
databases: its files are bytes.

Exit codes: 0 ok; 1 other error; 2 usage; 3 snapshot: the dir kept changing (retry with --pause);
4 snapshot: the resume command failed (the app may still be paused); 5 verify failed; 7 parity failed;
8 sync-back refused an unsound source; 9 the connection was cut (stdout closed); 10 tar-stream: DIR is not a
directory; 13 permission denied; 28 disk full; 128+N stopped by signal N. Errors are one line on stderr
(the Python traceback only with CUTOVER_DEBUG=1); whatever a failed command half-wrote is removed.
"""
# A package run as a directory (python3 src/agent ARGS) or as the zip the runbook uploads (python3
# /var/lib/cutover/agent.pyz ARGS, built by src/engine/host-tool.ts): either is sys.path[0], so the
# modules import each other by their plain names. One module per concern: core (names, failures, CTX,
# partial outputs), failure, walk, sqlite, dbs (which files are databases), snapshot, tarformat, tarstream,
# verify, delta, syncback,
# settle, multi. Shared state (core.CTX) is always reached through its module.
import os, signal, sys

if sys.argv[1:2] == ["supervisor"]:  # tools of their own, with their own usage and exit codes
    import supervisor_boot

    sys.exit(supervisor_boot.main(sys.argv[2:]))
if sys.argv[1:2] == ["pg-data"]:
    import pg_data

    sys.exit(pg_data.main(sys.argv[1:]))

if sys.argv[1:2] == ["ask"]:  # on the host, inside the freeze: nothing else of the agent is imported
    import standby

    if len(sys.argv) < 4:
        sys.stderr.write("usage: ask SOCK CMD ARGS...\n")
        sys.exit(2)
    sys.exit(standby.ask(sys.argv[2], sys.argv[3:]))

if sys.getfilesystemencoding().lower().replace("-", "") != "utf8":
    # Names in manifests are UTF-8 with surrogates for other bytes (PEP 383) whatever the host's
    # locale: a Latin-1 locale would decode the same bytes to other keys. sys.argv[0] is this
    # package, a directory or a zip (agent.pyz): python3 runs either.
    os.execv(sys.executable, [sys.executable, "-X", "utf8"] + sys.argv)

import core
from core import Terminated, say
from delta import cmd_delta
from failure import run_reported
from multi import (
    cmd_delta_all,
    cmd_keep_volume,
    cmd_parity_all,
    cmd_restore,
    cmd_restore_all,
    cmd_sync_back_all,
    cmd_verify_all,
)
from settle import cmd_settle
from snapshot import cmd_snapshot
from syncback import cmd_sync_back
from tarstream import cmd_merge_manifest, cmd_tar_stream
from verify import cmd_parity, cmd_verify


CMDS = {
    "snapshot": cmd_snapshot,
    "tar-stream": cmd_tar_stream,
    "merge-manifest": cmd_merge_manifest,
    "verify": cmd_verify,
    "delta": cmd_delta,
    "parity": cmd_parity,
    "sync-back": cmd_sync_back,
    "settle": cmd_settle,
    "restore": cmd_restore,
    "restore-all": cmd_restore_all,
    "verify-all": cmd_verify_all,
    "delta-all": cmd_delta_all,
    "parity-all": cmd_parity_all,
    "sync-back-all": cmd_sync_back_all,
    "keep-volume": cmd_keep_volume,
}


def _raise_signal(signum, frame):
    raise Terminated(signum)


def main(argv):
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    if len(argv) < 2 or argv[1] not in CMDS:
        say(__doc__)
        return 2
    core.CTX.cmd, fn, args = argv[1], CMDS[argv[1]], argv[2:]
    if fn is not cmd_snapshot:
        import inspect

        try:
            inspect.signature(fn).bind(*args)
        except TypeError:
            say("usage:" + next(x for x in __doc__.splitlines() if x.startswith("  " + argv[1] + " ")))
            return 2
    signal.signal(signal.SIGTERM, _raise_signal)
    signal.signal(signal.SIGHUP, _raise_signal)
    if fn in (cmd_snapshot, cmd_tar_stream, cmd_merge_manifest, cmd_keep_volume):
        os.umask(0o077)  # what it keeps on the host (backups, manifests, records) is root's only
    return run_reported(fn, args)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"] and len(sys.argv) >= 3:
        import standby
        from verify import load_manifest

        standby.serve(sys.argv[2], sys.argv[3:], main, load_manifest)
    sys.exit(main(sys.argv))
