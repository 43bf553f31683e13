#!/usr/bin/env python3
"""sdlab-worker: a background writer (no port), the systemd lab host's second service. Commits a row to
ticks(id, ts) in $SDLAB_DATA/app.db (default /srv/sdlab/data) about 20 times a second, in WAL mode with a
busy timeout (synchronous=NORMAL: no fsync per tick): the web service writes the same file. SQLITE_BUSY (or any other error) is logged and
retried, never fatal; SIGTERM ends it with exit 0.
"""
import os
import signal
import sqlite3
import sys
import time

DATA = os.environ.get("SDLAB_DATA", "/srv/sdlab/data")
DB = os.path.join(DATA, "app.db")
INTERVAL = 0.05
running = True


def log(msg):
    print(f"sdlab-worker: {msg}", file=sys.stderr, flush=True)


def stop(*_):
    global running
    running = False


def connect():
    c = sqlite3.connect(DB, timeout=5, isolation_level=None)
    c.execute("PRAGMA busy_timeout=5000")
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")  # a tick lost to a power cut is fine: no fsync per tick
    c.execute("CREATE TABLE IF NOT EXISTS ticks(id INTEGER PRIMARY KEY, ts REAL)")
    return c


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    conn, errors, last_log = None, 0, 0.0
    nxt = time.monotonic()
    while running:
        try:
            if conn is None:
                conn = connect()
                log(f"writing ticks to {DB}")
            conn.execute("INSERT INTO ticks(ts) VALUES (?)", (time.time(),))
            errors = 0
        except sqlite3.Error as e:
            errors += 1
            if time.monotonic() - last_log > 5:
                log(f"{e} (retrying)")
                last_log = time.monotonic()
            busy = isinstance(e, sqlite3.OperationalError) and "locked" in str(e)
            if not busy and conn is not None:  # anything but a busy database: open it again
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
                conn = None
            time.sleep(min(1.0, 0.05 * errors))
        nxt += INTERVAL
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            nxt = time.monotonic()
    if conn is not None:
        conn.close()


if __name__ == "__main__":
    main()
