"""MediaHub backend (lab replica of a stack that already runs in Docker).

    python3 -m uvicorn app:app --host 0.0.0.0 --port 8000

Env: DATABASE_URL (postgresql://mediahub:mediahub@postgres:5432/mediahub)
     REDIS_URL    (redis://redis:6379/0)
"""

import logging
import os
import threading
import time

import psycopg2
import redis
from fastapi import FastAPI
from fastapi.responses import JSONResponse

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://mediahub:mediahub@postgres:5432/mediahub")
REDIS_URL = os.environ.get("REDIS_URL", "redis://redis:6379/0")
HITS_KEY = "mediahub:hits"
SEED_ITEMS = [
    (1, "Welcome video", "video"),
    (2, "Podcast episode 1", "audio"),
    (3, "Press kit", "document"),
]

log = logging.getLogger("uvicorn.error")  # share uvicorn's handler/format

app = FastAPI(title="mediahub-backend")
_schema_ready = False
_schema_lock = threading.Lock()


def pg_connect():
    return psycopg2.connect(DATABASE_URL, connect_timeout=5)


def redis_client():
    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)


def ensure_schema():
    """Create table items and seed 3 fixed rows if it is empty (idempotent)."""
    global _schema_ready
    if _schema_ready:
        return
    with _schema_lock:
        if _schema_ready:
            return
        conn = pg_connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(424242)")
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS items ("
                    " id INTEGER PRIMARY KEY,"
                    " title TEXT NOT NULL,"
                    " kind TEXT NOT NULL)"
                )
                cur.execute("SELECT COUNT(*) FROM items")
                if cur.fetchone()[0] == 0:
                    cur.executemany("INSERT INTO items (id, title, kind) VALUES (%s, %s, %s)", SEED_ITEMS)
                    log.info("seeded %d items", len(SEED_ITEMS))
        finally:
            conn.close()
        _schema_ready = True


@app.on_event("startup")
def startup():
    deadline = time.monotonic() + 30
    while True:
        try:
            ensure_schema()
            log.info("database ready")
            return
        except Exception as exc:  # postgres not up yet
            if time.monotonic() >= deadline:
                log.error("database not ready after 30s (%s); will retry on first request", exc)
                return
            log.info("waiting for database: %s", exc)
            time.sleep(1)


@app.get("/")
def root():
    return {"service": "mediahub-backend"}


@app.get("/health")
def health():
    checks = {}
    ok = True
    try:
        conn = pg_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
        checks["postgres"] = "ok"
    except Exception as exc:
        ok = False
        checks["postgres"] = "error: %s" % str(exc).strip()
    try:
        redis_client().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        ok = False
        checks["redis"] = "error: %s" % exc
    body = {"status": "ok" if ok else "error", **checks}
    return body if ok else JSONResponse(status_code=503, content=body)


def _items():
    try:
        ensure_schema()
        conn = pg_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT id, title, kind FROM items ORDER BY id")
                rows = [{"id": r[0], "title": r[1], "kind": r[2]} for r in cur.fetchall()]
        finally:
            conn.close()
        hits = int(redis_client().incr(HITS_KEY))
    except Exception as exc:
        return JSONResponse(status_code=503, content={"status": "error", "error": str(exc).strip()})
    return {"items": rows, "hits": hits}


@app.get("/api/items")
def api_items():
    return _items()


@app.get("/items")
def items():
    return _items()
