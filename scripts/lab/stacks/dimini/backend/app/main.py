"""Dimini backend stand-in (FastAPI): /health writes a row and reads it back from PostgreSQL."""
import os

import psycopg2
from fastapi import FastAPI
from fastapi.responses import JSONResponse

DATABASE_URL = os.environ["DATABASE_URL"]
app = FastAPI(title="dimini-backend")


def db():
    return psycopg2.connect(DATABASE_URL, connect_timeout=3)


SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (id serial PRIMARY KEY, note text NOT NULL, at timestamptz DEFAULT now())"


@app.get("/health")
def health():
    try:
        with db() as c, c.cursor() as cur:
            cur.execute(SCHEMA)
            cur.execute("INSERT INTO sessions (note) VALUES ('health') RETURNING id")
            (row_id,) = cur.fetchone()
            cur.execute("SELECT note FROM sessions WHERE id = %s", (row_id,))
            (note,) = cur.fetchone()
            cur.execute("DELETE FROM sessions WHERE id = %s", (row_id,))
        return {"status": "healthy", "db": "row written and read back" if note == "health" else note}
    except psycopg2.Error as e:
        return JSONResponse({"status": "unhealthy", "db": str(e).strip()}, status_code=503)


@app.post("/api/sessions")
def create_session(note: str = "session"):
    with db() as c, c.cursor() as cur:
        cur.execute(SCHEMA)
        cur.execute("INSERT INTO sessions (note) VALUES (%s) RETURNING id", (note,))
        return {"id": cur.fetchone()[0]}


@app.get("/api/sessions")
def list_sessions():
    with db() as c, c.cursor() as cur:
        cur.execute("SELECT id, note FROM sessions ORDER BY id")
        return [{"id": i, "note": n} for i, n in cur.fetchall()]
