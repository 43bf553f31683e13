#!/usr/bin/env python3
"""sdlab-web: a small notes-and-orders app (Python stdlib + psycopg2), the systemd lab host's web service.

  GET  /health           200 JSON {ok, notes, ticks, orders, uploads} (503 if a database cannot be read)
  GET  /                 200 HTML: the same counts
  POST /notes[?amount=N] body = the note's text: one row in SQLite notes (WAL) and one in PostgreSQL
                         orders (note_id, amount; default 1.00); 200 {note_id, order_id, amount} only
                         after both committed (an acknowledged write), else 503 and no row kept
  PUT  /uploads/NAME     body written to $SDLAB_UPLOADS/NAME (temp file, fsync, rename, fsync dir); 200
                         {name (percent-encoded), size, sha256} after. NAME: one path component, as
                         percent-encoded bytes (any byte but / and NUL)
  GET  /uploads/NAME     the file
  GET  /files/NAME       the same file; with SDLAB_ACCEL set (a prefix like /protected/), only the header
                         X-Accel-Redirect: PREFIX NAME, for the nginx in front to serve it (its own setup)

Config only from the environment: SDLAB_DATA (/srv/sdlab/data: app.db there), SDLAB_UPLOADS
(/srv/sdlab/uploads), SDLAB_PORT (8100), SDLAB_BIND (0.0.0.0), SDLAB_MAX_BODY (bytes, 64 MiB; an upload
streams to disk), SDLAB_ACCEL (unset), and libpq's own PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE (none set: the unix socket, peer auth as the user running it). Creates its
tables if missing; a database that is down at start is retried on the next request.
"""
import hashlib
import html
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool

DATA = os.environ.get("SDLAB_DATA", "/srv/sdlab/data")
UPLOADS = os.environ.get("SDLAB_UPLOADS", "/srv/sdlab/uploads")
PORT = int(os.environ.get("SDLAB_PORT", "8100"))
BIND = os.environ.get("SDLAB_BIND", "0.0.0.0")
DB = os.path.join(DATA, "app.db")
MAX_BODY = int(os.environ.get("SDLAB_MAX_BODY", str(64 * 1024 * 1024)))
ACCEL = os.environ.get("SDLAB_ACCEL", "")

_schema_lock = threading.Lock()
_schema = {"sqlite": False, "pg": False}
_pool = psycopg2.pool.ThreadedConnectionPool(0, 8, connect_timeout=5)  # libpq's env; connects on first use
_slots = threading.BoundedSemaphore(8)  # a request waits for a free connection (the pool raises instead)


def log(msg):
    print(f"sdlab-web: {msg}", file=sys.stderr, flush=True)


def sqlite_conn():
    c = sqlite3.connect(DB, timeout=10, isolation_level=None)
    c.execute("PRAGMA busy_timeout=10000")
    c.execute("PRAGMA synchronous=FULL")  # an acknowledged note is on disk
    if not _schema["sqlite"]:
        with _schema_lock:
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, body TEXT, ts REAL)")
            c.execute("CREATE TABLE IF NOT EXISTS ticks(id INTEGER PRIMARY KEY, ts REAL)")
            _schema["sqlite"] = True
    return c


class pg_conn:
    """A pooled connection for one request; one that failed is closed, not given back."""

    def __enter__(self):
        if not _slots.acquire(timeout=10):
            raise RuntimeError("no free PostgreSQL connection within 10s")
        try:
            self.c = _pool.getconn()
        except BaseException:
            _slots.release()
            raise
        try:
            if not _schema["pg"]:
                with _schema_lock, self.c.cursor() as cur:
                    cur.execute("CREATE TABLE IF NOT EXISTS orders(id serial PRIMARY KEY, note_id int, amount numeric)")
                self.c.commit()
                _schema["pg"] = True
        except BaseException:
            _pool.putconn(self.c, close=True)
            _slots.release()
            raise
        return self.c

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.c.rollback()  # nothing left open (a commit happened before, if any)
        try:
            _pool.putconn(self.c, close=exc_type is not None or self.c.closed != 0)
        finally:
            _slots.release()
        return False


def counts():
    s = sqlite_conn()
    try:
        notes = s.execute("SELECT count(*) FROM notes").fetchone()[0]
        ticks = s.execute("SELECT count(*) FROM ticks").fetchone()[0]
    finally:
        s.close()
    with pg_conn() as p, p.cursor() as cur:
        cur.execute("SELECT count(*) FROM orders")
        orders = cur.fetchone()[0]
    uploads = sum(1 for n in os.listdir(UPLOADS) if not n.startswith(".sdlab-tmp-")) if os.path.isdir(UPLOADS) else 0
    return {"ok": True, "notes": notes, "ticks": ticks, "orders": orders, "uploads": uploads}


def add_note(body, amount):
    """SQLite first (short write lock: the worker writes the same file), then PostgreSQL; a failed order
    takes its note back, so an unacknowledged write leaves nothing behind (or, at worst, nothing referenced)."""
    s = sqlite_conn()
    try:
        note_id = s.execute("INSERT INTO notes(body, ts) VALUES (?, ?)", (body, time.time())).lastrowid
        try:
            with pg_conn() as p:
                with p.cursor() as cur:
                    cur.execute("INSERT INTO orders(note_id, amount) VALUES (%s, %s) RETURNING id", (note_id, amount))
                    order_id = cur.fetchone()[0]
                p.commit()
        except Exception:
            try:
                s.execute("DELETE FROM notes WHERE id = ?", (note_id,))
            except Exception as e:  # the note stays, unacknowledged and without an order
                log(f"could not take back note {note_id}: {e}")
            raise
        return note_id, order_id
    finally:
        s.close()


def upload_name(path):
    raw = urllib.parse.unquote_to_bytes(path[len("/uploads/") :])
    if not raw or b"/" in raw or b"\0" in raw or raw in (b".", b"..") or raw.startswith(b".sdlab-tmp-"):
        return None
    return raw


def write_upload(name, src, size):
    """SIZE bytes of SRC into the upload NAME, streamed (temp file, fsync, rename, fsync dir): its sha256."""
    d = os.fsencode(UPLOADS)
    tmp = os.path.join(d, b".sdlab-tmp-" + os.urandom(6).hex().encode())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            left = size
            while left:
                chunk = src.read(min(left, 1 << 20))
                if not chunk:
                    raise OSError("the request ended %d bytes early" % left)
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(d, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return h.hexdigest()


class Handler(BaseHTTPRequestHandler):
    server_version = "sdlab-web/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = (json.dumps(body) + "\n").encode() if ctype == "application/json" else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def length(self):
        n = self.headers.get("Content-Length")
        if n is None or not n.isdigit() or int(n) > MAX_BODY:
            self.send(411 if n is None else 413, {"error": "a Content-Length up to %d bytes" % MAX_BODY})
            return None
        return int(n)

    def body(self):
        n = self.length()
        return None if n is None else self.rfile.read(n)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/health", "/"):
            try:
                c = counts()
            except Exception as e:
                self.send(503, {"ok": False, "error": str(e).strip()})
                return
            if url.path == "/health":
                self.send(200, c)
            else:
                rows = "".join(f"<li>{k}: {html.escape(str(v))}</li>" for k, v in c.items() if k != "ok")
                self.send(
                    200,
                    f"<!doctype html><title>sdlab</title><h1>sdlab</h1><ul>{rows}</ul>\n",
                    "text/html; charset=utf-8",
                )
        elif url.path.startswith("/files/") and ACCEL:
            name = upload_name("/uploads/" + url.path[len("/files/") :])
            if name is None:
                self.send(400, {"error": "bad upload name"})
                return
            self.send_response(200)
            self.send_header("X-Accel-Redirect", ACCEL + urllib.parse.quote(name))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif url.path.startswith("/uploads/") or url.path.startswith("/files/"):
            name = upload_name("/uploads/" + url.path.split("/", 2)[2])
            if name is None:
                self.send(400, {"error": "bad upload name"})
                return
            try:
                with open(os.path.join(os.fsencode(UPLOADS), name), "rb") as f:
                    data = f.read()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self.send(404, {"error": "no such upload"})
                return
            self.send(200, data, "application/octet-stream")
        else:
            self.send(404, {"error": "not found"})

    do_HEAD = do_GET

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/notes":
            self.send(404, {"error": "not found"})
            return
        data = self.body()
        if data is None:
            return
        q = urllib.parse.parse_qs(url.query)
        amount = q.get("amount", ["1.00"])[0]
        try:
            float(amount)
        except ValueError:
            self.send(400, {"error": "amount: a number"})
            return
        try:
            note_id, order_id = add_note(data.decode("utf-8", "replace"), amount)
        except Exception as e:
            log(f"POST /notes: {e}")
            self.send(503, {"error": str(e).strip()})
            return
        self.send(200, {"note_id": note_id, "order_id": order_id, "amount": amount})

    def do_PUT(self):
        url = urllib.parse.urlsplit(self.path)
        name = upload_name(url.path) if url.path.startswith("/uploads/") else None
        if name is None:
            self.send(404 if not url.path.startswith("/uploads/") else 400, {"error": "PUT /uploads/NAME"})
            return
        size = self.length()
        if size is None:
            return
        try:
            digest = write_upload(name, self.rfile, size)
        except Exception as e:
            log(f"PUT {url.path}: {e}")
            self.send(503, {"error": str(e).strip()})
            return
        self.send(200, {"name": urllib.parse.quote(name), "size": size, "sha256": digest})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    try:  # create the tables now if the databases are there; otherwise on the first request
        counts()
    except Exception as e:
        log(f"databases not ready yet ({str(e).strip()}): retried on each request")
    srv = Server((BIND, PORT), Handler)
    log(f"listening on {BIND}:{PORT} (data {DATA}, uploads {UPLOADS})")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start())
    srv.serve_forever()


if __name__ == "__main__":
    main()
