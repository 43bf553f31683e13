"""chm-chatbot backend (lab replica).

Run from the project root (/home/ubuntu/chm-chatbot):

    python3 -m uvicorn src.api.main:app --host 127.0.0.1 --port 8000

Environment (defaults are relative to the working directory):
    CHROMA_PERSIST_DIRECTORY   ./chroma_db
    PDF_DIR                    ./pdfs
    TRANSCRIPTS_DIR            ./transcripts

Endpoints, each at the root and under /api/ (like the real backend, which serves its routes at the
root, behind nginx with chatbot.apiPrefix strip; the frontend and older scripts call /api/...):
    GET  /                     "chm-chatbot backend"
    GET  /health, /api/health  {"status":"ok","chroma":path}; 503 when chroma.sqlite3 is missing/unreadable
    GET  /stats, /api/stats    counts + a deterministic content digest of ALL data
    POST /ingest, /api/ingest  real ChromaDB-like writes (sqlite rows + HNSW segment files)
Every response carries X-Backend-Path: the path as the backend received it (what a proxy made of it).
"""

import datetime
import hashlib
import json
import logging
import os
import pickle
import sqlite3
import struct
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

log = logging.getLogger("chm-chatbot")

CHROMA_DIR = os.path.abspath(os.environ.get("CHROMA_PERSIST_DIRECTORY", "./chroma_db"))
PDF_DIR = os.path.abspath(os.environ.get("PDF_DIR", "./pdfs"))
TRANSCRIPTS_DIR = os.path.abspath(os.environ.get("TRANSCRIPTS_DIR", "./transcripts"))
DB_NAME = "chroma.sqlite3"
DB_PATH = os.path.join(CHROMA_DIR, DB_NAME)
SQLITE_SIDE_FILES = {DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", DB_NAME + "-journal"}
DIGEST_TABLES = ["collections", "segments", "embeddings", "embedding_metadata", "embeddings_queue"]

from .chroma_format import (  # noqa: E402
    DIM,
    HEADER_FMT,
    HNSW_MAXM0,
    METADATA_SEGMENT_TYPE,
    REC_SIZE,
    VECTOR_SEGMENT_TYPE,
    doc_vector,
    hnsw_header as _hnsw_header,
)
from .chroma_format import DATABASE_ID as DEFAULT_DATABASE_ID  # noqa: E402

app = FastAPI(title="chm-chatbot backend")


class BackendPath:
    """ASGI middleware: X-Backend-Path on every response, the request path exactly as received."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("raw_path") or scope["path"].encode("utf-8")

        async def send_with_path(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [(b"x-backend-path", path)]
            await send(message)

        await self.app(scope, receive, send_with_path)


app.add_middleware(BackendPath)

# One lock for everything that touches the data: ingests serialize, and a stats
# digest never sees a half-applied ingest.
DATA_LOCK = threading.Lock()
# (path, size, mtime_ns, inode) -> sha256 hex
_HASH_CACHE = {}
_HASH_CACHE_LOCK = threading.Lock()
_HASH_POOL = ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2)))


class IngestRequest(BaseModel):
    collection: str
    document: str
    id: Optional[str] = None
    transcript: Optional[str] = None


# -----------------------------------------------------------------------------
def _connect():
    if not os.path.isfile(DB_PATH):
        raise FileNotFoundError("%s does not exist" % DB_PATH)
    conn = sqlite3.connect(DB_PATH, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _error(status, message):
    return JSONResponse(status_code=status, content={"status": "error", "error": message})


# --- digest ------------------------------------------------------------------
def _sql_value(v):
    if isinstance(v, bytes):
        return {"$b": v.hex()}
    if isinstance(v, float):
        return {"$f": repr(v)}
    return v


def _digest_sqlite(conn, h):
    """Logical content of the chroma tables, rows ordered by all columns."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in DIGEST_TABLES:
        h.update(b"table\0" + table.encode() + b"\0")
        if table not in names:
            h.update(b"<missing>\n")
            continue
        cols = [r[1] for r in conn.execute('PRAGMA table_info("%s")' % table)]
        h.update(json.dumps(cols).encode() + b"\n")
        order = ", ".join(str(i + 1) for i in range(len(cols)))
        for row in conn.execute('SELECT * FROM "%s" ORDER BY %s' % (table, order)):
            h.update(
                json.dumps([_sql_value(v) for v in row], ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
            )


def _list_files(root, skip_top=()):
    """[(relpath_bytes, abspath, stat)] of regular files under root, sorted by relpath bytes."""
    out = []
    if not os.path.isdir(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            rel = os.path.relpath(full, root)
            if dirpath == root and fn in skip_top:
                continue
            try:
                st = os.stat(full)
            except FileNotFoundError:
                continue
            if not os.path.isfile(full):
                continue
            out.append((os.fsencode(rel.replace(os.sep, "/")), full, st))
    out.sort(key=lambda t: t[0])
    return out


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        while True:
            chunk = fh.read(4 * 1024 * 1024)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _file_hashes(files):
    keys = [(full, st.st_size, st.st_mtime_ns, st.st_ino) for _, full, st in files]
    with _HASH_CACHE_LOCK:
        missing = [k for k in keys if k not in _HASH_CACHE]
    if missing:
        for k, digest in zip(missing, _HASH_POOL.map(lambda k: _sha256_file(k[0]), missing)):
            with _HASH_CACHE_LOCK:
                _HASH_CACHE[k] = digest
    with _HASH_CACHE_LOCK:
        return [_HASH_CACHE[k] for k in keys]


def _digest_tree(h, label, files):
    h.update(b"tree\0" + label.encode() + b"\0")
    for (rel, _, st), digest in zip(files, _file_hashes(files)):
        h.update(rel + b"\0" + str(st.st_size).encode() + b"\0" + digest.encode() + b"\n")


def compute_stats():
    h = hashlib.sha256()
    conn = _connect()
    try:
        conn.execute("BEGIN")  # one read snapshot for counts and digest
        collections = {}
        rows = conn.execute(
            "SELECT c.name, COUNT(e.id) FROM collections c "
            "LEFT JOIN segments s ON s.collection = c.id AND s.scope = 'METADATA' "
            "LEFT JOIN embeddings e ON e.segment_id = s.id "
            "GROUP BY c.name ORDER BY c.name"
        ).fetchall()
        for name, count in rows:
            collections[name] = count
        _digest_sqlite(conn, h)
        conn.execute("COMMIT")
    finally:
        conn.close()

    chroma_files = _list_files(CHROMA_DIR, skip_top=SQLITE_SIDE_FILES)
    pdf_files = _list_files(PDF_DIR)
    transcript_files = _list_files(TRANSCRIPTS_DIR)
    _digest_tree(h, "chroma", chroma_files)
    _digest_tree(h, "pdfs", pdf_files)
    _digest_tree(h, "transcripts", transcript_files)

    # Prune cache entries for files that no longer exist in that form.
    live = {
        (full, st.st_size, st.st_mtime_ns, st.st_ino)
        for group in (chroma_files, pdf_files, transcript_files)
        for _, full, st in group
    }
    with _HASH_CACHE_LOCK:
        for k in [k for k in _HASH_CACHE if k not in live]:
            del _HASH_CACHE[k]

    total = sum(st.st_size for group in (chroma_files, pdf_files, transcript_files) for _, _, st in group)
    try:
        total += os.path.getsize(DB_PATH)
    except OSError:
        pass
    return {
        "collections": collections,
        "pdfs": len(pdf_files),
        "transcripts": len(transcript_files),
        "digest": h.hexdigest(),
        "bytes": total,
    }


# --- ingest ------------------------------------------------------------------
def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _ensure_collection(conn, name):
    """Return (collection_id, topic, vector_segment_id, metadata_segment_id), creating as needed."""
    row = conn.execute("SELECT id, topic FROM collections WHERE name = ?", (name,)).fetchone()
    if row is None:
        coll_id = str(uuid.uuid4())
        db = conn.execute("SELECT id FROM databases LIMIT 1").fetchone() if _has_table(conn, "databases") else None
        topic = "persistent://default_tenant/default_database/%s" % coll_id
        conn.execute(
            "INSERT INTO collections (id, name, topic, dimension, database_id) VALUES (?,?,?,?,?)",
            (coll_id, name, topic, DIM, db[0] if db else DEFAULT_DATABASE_ID),
        )
    else:
        coll_id, topic = row
    segs = dict(conn.execute("SELECT scope, id FROM segments WHERE collection = ?", (coll_id,)).fetchall())
    if "VECTOR" not in segs:
        segs["VECTOR"] = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO segments (id, type, scope, topic, collection) VALUES (?,?,?,?,?)",
            (segs["VECTOR"], VECTOR_SEGMENT_TYPE, "VECTOR", topic, coll_id),
        )
    if "METADATA" not in segs:
        segs["METADATA"] = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO segments (id, type, scope, topic, collection) VALUES (?,?,?,?,?)",
            (segs["METADATA"], METADATA_SEGMENT_TYPE, "METADATA", None, coll_id),
        )
    return coll_id, topic, segs["VECTOR"], segs["METADATA"]


def _has_table(conn, name):
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def _segment_append(seg_dir, embedding_id, seq_id, vector):
    """Append one element to the segment's HNSW files; returns the new element count."""
    os.makedirs(seg_dir, exist_ok=True)
    header_path = os.path.join(seg_dir, "header.bin")
    n = 0
    if os.path.exists(header_path):
        with open(header_path, "rb") as fh:
            raw = fh.read()
        if len(raw) >= struct.calcsize(HEADER_FMT):
            n = struct.unpack_from(HEADER_FMT, raw)[2]
    meta_path = os.path.join(seg_dir, "index_metadata.pickle")
    meta = {
        "dimensionality": DIM,
        "total_elements_added": n,
        "max_seq_id": 0,
        "id_to_label": {},
        "label_to_id": {},
        "id_to_seq_id": {},
    }
    if os.path.exists(meta_path):
        with open(meta_path, "rb") as fh:
            meta.update(pickle.load(fh))  # local, trusted file written by us/gen_data.py
    label = int(meta.get("total_elements_added", n)) + 1

    record = struct.pack("<I%dI" % HNSW_MAXM0, 0, *([0] * HNSW_MAXM0)) + vector + struct.pack("<Q", label)
    assert len(record) == REC_SIZE
    with open(os.path.join(seg_dir, "data_level0.bin"), "ab") as fh:
        fh.write(record)
        fh.flush()
        os.fsync(fh.fileno())
    with open(os.path.join(seg_dir, "length.bin"), "ab") as fh:
        fh.write(b"\0\0\0\0")
    link_lists = os.path.join(seg_dir, "link_lists.bin")
    if not os.path.exists(link_lists):
        open(link_lists, "wb").close()
    _write_atomic(header_path, _hnsw_header(n + 1))

    meta["total_elements_added"] = label
    meta["max_seq_id"] = max(int(meta.get("max_seq_id") or 0), seq_id)
    meta["id_to_label"][embedding_id] = label
    meta["label_to_id"][label] = embedding_id
    meta["id_to_seq_id"][embedding_id] = seq_id
    _write_atomic(meta_path, pickle.dumps(meta, protocol=4))
    return n + 1


def _safe_transcript_name(name):
    base = os.path.basename(name.replace("\\", "/"))
    if not base or base in (".", "..") or base != name or "\0" in name:
        raise ValueError("transcript must be a plain file name, got %r" % name)
    return base


def do_ingest(req):
    transcript = _safe_transcript_name(req.transcript) if req.transcript else None
    embedding_id = req.id or str(uuid.uuid4())
    vector = doc_vector(req.document)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    conn = _connect()
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            coll_id, topic, vec_seg, meta_seg = _ensure_collection(conn, req.collection)
            if conn.execute(
                "SELECT 1 FROM embeddings WHERE segment_id = ? AND embedding_id = ?", (meta_seg, embedding_id)
            ).fetchone():
                conn.execute("ROLLBACK")
                return 409, {"status": "error", "error": "id %r already exists in %r" % (embedding_id, req.collection)}
            metadata = {"chroma:document": req.document}
            if transcript:
                metadata["source"] = "transcripts/" + transcript
            cur = conn.execute(
                "INSERT INTO embeddings_queue (created_at, operation, topic, id, vector, encoding, metadata) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    now,
                    0,
                    topic,
                    embedding_id,
                    vector,
                    "FLOAT32",
                    json.dumps(metadata, ensure_ascii=False, sort_keys=True),
                ),
            )
            seq_id = cur.lastrowid
            cur = conn.execute(
                "INSERT INTO embeddings (segment_id, embedding_id, seq_id, created_at) VALUES (?,?,?,?)",
                (meta_seg, embedding_id, seq_id.to_bytes(8, "big"), now),
            )
            row_id = cur.lastrowid
            for key, value in metadata.items():
                conn.execute(
                    "INSERT INTO embedding_metadata (id, key, string_value) VALUES (?,?,?)", (row_id, key, value)
                )
            if _has_table(conn, "max_seq_id"):
                conn.execute(
                    "INSERT OR REPLACE INTO max_seq_id (segment_id, seq_id) VALUES (?,?)",
                    (vec_seg, seq_id.to_bytes(8, "big")),
                )
            _segment_append(os.path.join(CHROMA_DIR, vec_seg), embedding_id, seq_id, vector)
            count = conn.execute("SELECT COUNT(*) FROM embeddings WHERE segment_id = ?", (meta_seg,)).fetchone()[0]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    if transcript:
        os.makedirs(TRANSCRIPTS_DIR, exist_ok=True)
        _write_atomic(os.path.join(TRANSCRIPTS_DIR, transcript), req.document.encode("utf-8"))
    return 200, {"id": embedding_id, "collection": req.collection, "count": count}


# --- routes ------------------------------------------------------------------
@app.get("/", response_class=PlainTextResponse)
def root():
    return "chm-chatbot backend\n"


@app.get("/health")
@app.get("/api/health")
def health():
    try:
        conn = _connect()
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            conn.execute("SELECT COUNT(*) FROM collections").fetchone()
        finally:
            conn.close()
    except Exception as exc:  # missing, unreadable, not a database, ...
        return JSONResponse(status_code=503, content={"status": "error", "chroma": CHROMA_DIR, "error": str(exc)})
    return {"status": "ok", "chroma": CHROMA_DIR}


@app.get("/stats")
@app.get("/api/stats")
def stats():
    try:
        with DATA_LOCK:
            return compute_stats()
    except (FileNotFoundError, sqlite3.DatabaseError) as exc:
        return _error(503, str(exc))


@app.post("/ingest")
@app.post("/api/ingest")
def ingest(req: IngestRequest):
    if not req.collection or not req.collection.strip():
        return _error(400, "collection must not be empty")
    try:
        with DATA_LOCK:
            status, body = do_ingest(req)
    except ValueError as exc:
        return _error(400, str(exc))
    except (FileNotFoundError, sqlite3.DatabaseError) as exc:
        return _error(503, str(exc))
    if status != 200:
        return JSONResponse(status_code=status, content=body)
    return body
