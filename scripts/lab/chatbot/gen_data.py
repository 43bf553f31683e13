#!/usr/bin/env python3
"""Deterministic test-data generator for the chm-chatbot lab.

    python3 gen_data.py --dir DIR [--size 10M] [--seed 1]

Creates (wiping any previous copy of exactly these three directories):

    DIR/chroma_db/      ChromaDB 0.4+ shaped persist dir: chroma.sqlite3 (WAL mode)
                        plus one HNSW segment dir (uuid5 name) per collection
    DIR/pdfs/           valid PDF files: thousands of small ones, a few large ones,
                        names with spaces and non-ASCII characters, subdirectories
    DIR/transcripts/    .txt and .json transcripts

Same --seed and --size => byte-identical files and identical SQLite logical
content, so the backend's /api/stats digest is identical after regenerating.

Budget split (approximate): pdfs 50%, chroma index files 35%, transcripts 10%,
sqlite 5%.  Python 3 stdlib only.
"""

import argparse
import hashlib
import json
import math
import os
import pickle
import random
import re
import shutil
import sqlite3
import struct
import sys
import time
import unicodedata
import uuid

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

from src.api.chroma_format import (  # noqa: E402  (the chatbot dir is this script's dir)
    DATABASE_ID,
    DIM,
    HNSW_M,
    HNSW_MAXM0,
    METADATA_SEGMENT_TYPE,
    REC_SIZE,
    VECTOR_SEGMENT_TYPE,
    doc_vector,
    hnsw_header,
)

NAMESPACE = uuid.UUID("8a0f4a52-5c1e-4f59-9a3e-2f1d6c0b7e11")
COLLECTIONS = [("transcripts", 0.50), ("pdf_chunks", 0.35), ("faq", 0.15)]
BASE_TS = 1709294400  # 2024-03-01 12:00:00 UTC
WRITE_CHUNK = 8 * MIB

VOCAB = (
    "the a to of and in is that for it on with as you this be are we have at "
    "chatbot museum collection exhibit visitor ticket opening hours archive "
    "computer history mainframe punch card transistor silicon valley storage "
    "question answer customer support refund booking group tour volunteer "
    "report annual budget revenue growth quarter board meeting minutes "
    "Müller über Größe Straße café naïve résumé façade Zoë Ångström São Paulo "
    "Übersicht Unternehmen Bericht Rechnung Vertrag Kundengespräch Führung "
    "data migration docker container volume backup restore rollback cutover "
    "latency throughput embedding vector index query retrieval transcript pdf"
).split()
SPEAKERS = ["Interviewer", "Guest", "Docent", "Visitor", "Moderator", "Zoë", "Jürgen"]


# ----------------------------------------------------------------------------
def parse_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r (use e.g. 10M, 100M, 1G, 5G)" % text)
    mult = {"": 1, "K": KIB, "M": MIB, "G": GIB, "T": 1024 * GIB}[m.group(2).upper()]
    value = int(float(m.group(1)) * mult)
    if value < 1 * MIB:
        raise argparse.ArgumentTypeError("size must be at least 1M")
    return value


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def write_random(fh, rng, n):
    while n > 0:
        k = min(n, WRITE_CHUNK)
        fh.write(rng.randbytes(k))
        n -= k


def ts(offset):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(BASE_TS + offset))


class Stats:
    def __init__(self):
        self.files = 0
        self.bytes = 0
        self.by_part = {}

    def add(self, part, path):
        size = os.path.getsize(path)
        self.files += 1
        self.bytes += size
        f, b = self.by_part.get(part, (0, 0))
        self.by_part[part] = (f + 1, b + size)


# ----------------------------------------------------------------------------
class Corpus:
    """A few MB of deterministic text; files take slices of it."""

    def __init__(self, rng, chars=2 * MIB):
        lines = []
        total = 0
        while total < chars:
            words = rng.choices(VOCAB, k=rng.randint(6, 28))
            words[0] = words[0].capitalize()
            line = "%s: %s." % (rng.choice(SPEAKERS), " ".join(words))
            lines.append(line)
            total += len(line) + 1
        self.lines = lines
        self.text = "\n".join(lines) + "\n"

    def slice(self, rng, n_chars):
        out = []
        need = n_chars
        while need > 0:
            off = rng.randrange(len(self.text))
            piece = self.text[off : off + need]
            out.append(piece)
            need -= len(piece)
        return "".join(out)

    def take_lines(self, rng, n):
        start = rng.randrange(len(self.lines))
        return [self.lines[(start + i) % len(self.lines)] for i in range(n)]


# ----------------------------------------------------------------------------
def pdf_escape(text):
    b = text.encode("latin-1", "replace")
    return b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def pdf_utf16(text):
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def pdf_bytes(title, lines, target, rng):
    """A valid single-page PDF 1.4 of exactly `target` bytes (when achievable).

    Object 6 is an unreferenced binary stream used as deterministic padding.
    """
    content = [
        b"BT",
        b"/F1 18 Tf",
        b"72 720 Td",
        b"(" + pdf_escape(title) + b") Tj",
        b"/F1 10 Tf",
        b"0 -28 Td",
        b"14 TL",
    ]
    for line in lines:
        content.append(b"(" + pdf_escape(line[:95]) + b") '")
    content.append(b"ET")
    content_stream = b"\n".join(content)

    def layout(pad_len):
        objs = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content_stream) + content_stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            None,  # padding stream
            b"<< /Title " + pdf_utf16(title) + b" /Producer (cutover lab gen_data.py) "
            b"/CreationDate (D:20240301120000Z) >>",
        ]
        head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
        chunks = [head]
        pos = len(head)
        offsets = []
        for i, body in enumerate(objs, start=1):
            offsets.append(pos)
            if body is None:
                pre = b"%d 0 obj\n<< /Length %d >>\nstream\n" % (i, pad_len)
                post = b"\nendstream\nendobj\n"
                chunks.extend([pre, pad_len, post])
                pos += len(pre) + pad_len + len(post)
            else:
                obj = b"%d 0 obj\n" % i + body + b"\nendobj\n"
                chunks.append(obj)
                pos += len(obj)
        xref = [b"xref\n0 %d\n" % (len(objs) + 1), b"0000000000 65535 f \n"]
        xref += [b"%010d 00000 n \n" % o for o in offsets]
        tail = b"".join(xref) + (
            b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, pos)
        )
        chunks.append(tail)
        return chunks, pos + len(tail)

    pad = 0
    for _ in range(6):
        _, total = layout(pad)
        if total == target:
            break
        pad = max(0, pad + target - total)
    chunks, _ = layout(pad)
    padding = rng.randbytes(pad)
    return b"".join(padding if isinstance(c, int) else c for c in chunks)


SMALL_PDF_DIRS = ["reports", "manuals", "Verträge", "invoices", "archive/2022", "archive/2023"]
SMALL_PDF_PREFIXES = [
    "Invoice",
    "Meeting notes",
    "Rechnung",
    "Résumé",
    "Bericht Q",
    "Exhibit label",
    "報告書",
    "Visitor survey",
    "Führung Ablauf",
]
LARGE_PDF_NAMES = [
    "Annual Report 2023.pdf",
    "archive/Scanned Contracts 2019.pdf",
    "manuals/Produktkatalog Größen.pdf",
    "reports/Collection Inventory Full.pdf",
]


def gen_pdfs(root, budget, seed, corpus, stats):
    rng = random.Random("%s:pdfs" % seed)
    os.makedirs(root)
    for d in SMALL_PDF_DIRS:
        os.makedirs(os.path.join(root, d), exist_ok=True)

    files = []  # (relpath, size)
    n_small = max(12, budget // (30 * KIB))
    small_cap = int(budget * 0.8)
    small_total = 0
    fixed_small = ["Ünternehmens Übersicht.pdf", "café menu (final).pdf"]
    for i in range(n_small):
        size = int(4 * KIB * (16 ** rng.random()))  # log-uniform 4..64 KiB
        if small_total + size > small_cap:
            break
        if i < len(fixed_small):
            rel = fixed_small[i]
        else:
            d = SMALL_PDF_DIRS[i % len(SMALL_PDF_DIRS)]
            rel = "%s/%s %05d.pdf" % (d, SMALL_PDF_PREFIXES[i % len(SMALL_PDF_PREFIXES)], i)
        files.append((rel, size))
        small_total += size

    large_budget = max(256 * KIB, budget - small_total)
    n_large = max(1, min(16, round(large_budget / (8 * MIB))))
    weights = [0.75 + rng.random() / 2 for _ in range(n_large)]
    wsum = sum(weights)
    for j in range(n_large):
        size = int(large_budget * weights[j] / wsum)
        if j < len(LARGE_PDF_NAMES):
            rel = LARGE_PDF_NAMES[j]
        else:
            rel = "archive/Digitised Catalogue Vol %02d.pdf" % (j + 1)
        files.append((rel, size))

    for rel, size in files:
        rel = unicodedata.normalize("NFC", rel)
        title = os.path.splitext(os.path.basename(rel))[0]
        data = pdf_bytes(title, corpus.take_lines(rng, rng.randint(3, 12)), size, rng)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb", buffering=0) as fh:
            fh.write(data)
        stats.add("pdfs", path)


# ----------------------------------------------------------------------------
def gen_transcripts(root, budget, seed, corpus, stats):
    rng = random.Random("%s:transcripts" % seed)
    os.makedirs(root)
    total = 0
    i = 0
    shows = ["Kundengespräch", "Docent tour", "Oral history", "Support call", "Café chat"]
    while total < budget:
        size = int(2 * KIB * (128 ** rng.random()))  # log-uniform 2..256 KiB
        size = min(size, max(512, budget - total))
        year = 2022 + (i % 3)
        day = "%d-%02d-%02d" % (year, 1 + (i * 7) % 12, 1 + (i * 13) % 28)
        show = shows[i % len(shows)]
        base = "%d/%s %s %04d" % (year, day, show, i) if i else "Interview – Zoë Ångström"
        if i % 5 in (1, 3):
            rel = base + ".json"
            segments = []
            t = 0.0
            est = 200
            while est < size:
                line = corpus.take_lines(rng, 1)[0]
                speaker, _, text = line.partition(": ")
                dur = round(1.5 + rng.random() * 9, 2)
                seg = {"start": round(t, 2), "end": round(t + dur, 2), "speaker": speaker, "text": text}
                segments.append(seg)
                est += len(text.encode("utf-8")) + len(speaker) + 60
                t += dur
            doc = {
                "id": "tr-%s-%05d" % (seed, i),
                "title": os.path.basename(base),
                "language": "de" if i % 2 else "en",
                "duration_s": round(t, 2),
                "segments": segments,
            }
            data = json.dumps(doc, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
        else:
            rel = base + ".txt"
            header = "# %s\n# recorded %s\n\n" % (os.path.basename(base), day)
            data = (header + corpus.slice(rng, max(64, size - len(header)))).encode("utf-8")
        rel = unicodedata.normalize("NFC", rel)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb", buffering=0) as fh:
            fh.write(data)
        stats.add("transcripts", path)
        total += len(data)
        i += 1


# ----------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE migrations (dir TEXT NOT NULL, version INTEGER NOT NULL, filename TEXT NOT NULL,
    sql TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (dir, version));
CREATE TABLE tenants (id TEXT PRIMARY KEY, UNIQUE (id));
CREATE TABLE databases (id TEXT PRIMARY KEY, name TEXT NOT NULL, tenant_id TEXT NOT NULL
    REFERENCES tenants(id) ON DELETE CASCADE, UNIQUE (tenant_id, name));
CREATE TABLE collections (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, topic TEXT NOT NULL,
    dimension INTEGER, database_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE);
CREATE TABLE collection_metadata (collection_id TEXT REFERENCES collections(id) ON DELETE CASCADE,
    key TEXT NOT NULL, str_value TEXT, int_value INTEGER, float_value REAL,
    PRIMARY KEY (collection_id, key));
CREATE TABLE segments (id TEXT PRIMARY KEY, type TEXT NOT NULL, scope TEXT NOT NULL, topic TEXT,
    collection TEXT REFERENCES collections(id));
CREATE TABLE segment_metadata (segment_id TEXT REFERENCES segments(id) ON DELETE CASCADE,
    key TEXT NOT NULL, str_value TEXT, int_value INTEGER, float_value REAL,
    PRIMARY KEY (segment_id, key));
CREATE TABLE embeddings (id INTEGER PRIMARY KEY, segment_id TEXT NOT NULL, embedding_id TEXT NOT NULL,
    seq_id BLOB NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (segment_id, embedding_id));
CREATE TABLE embedding_metadata (id INTEGER REFERENCES embeddings(id), key TEXT NOT NULL,
    string_value TEXT, int_value INTEGER, float_value REAL, PRIMARY KEY (id, key));
CREATE INDEX embedding_metadata_string_value ON embedding_metadata (key, string_value)
    WHERE string_value IS NOT NULL;
CREATE TABLE embeddings_queue (seq_id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, operation INTEGER NOT NULL,
    topic TEXT NOT NULL, id TEXT NOT NULL, vector BLOB, encoding TEXT, metadata TEXT);
CREATE TABLE max_seq_id (segment_id TEXT PRIMARY KEY, seq_id BLOB NOT NULL);
"""

TENANT = "default_tenant"


def ids_for(seed, name):
    return (
        str(uuid.uuid5(NAMESPACE, "%s:%s:collection" % (seed, name))),
        str(uuid.uuid5(NAMESPACE, "%s:%s:vector" % (seed, name))),
        str(uuid.uuid5(NAMESPACE, "%s:%s:metadata" % (seed, name))),
    )


def gen_chroma(root, sqlite_budget, index_budget, size, seed, corpus, stats):
    rng = random.Random("%s:chroma" % seed)
    os.makedirs(root)
    db_path = os.path.join(root, "chroma.sqlite3")
    n_total = int(min(6000, max(30, round(200 * math.sqrt(size / (10 * MIB))))))
    # per embedding: vector blob in the queue (1.5 KiB) + the document three times
    # (metadata row, its string_value index, queue metadata JSON) + row overhead
    doc_chars = int(min(32 * KIB, max(160, (sqlite_budget / n_total - 1800) / 3)))

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA page_size=4096")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise SystemExit("could not switch %s to WAL (got %s)" % (db_path, mode))
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("INSERT INTO tenants VALUES (?)", (TENANT,))
    conn.execute("INSERT INTO databases VALUES (?,?,?)", (DATABASE_ID, "default_database", TENANT))
    for v, fn in enumerate(["00001-embeddings.sqlite.sql", "00002-embeddings-queue-config.sqlite.sql"], 1):
        conn.execute(
            "INSERT INTO migrations VALUES (?,?,?,?,?)",
            ("embeddings_queue", v, fn, "-- lab", hashlib.md5(fn.encode()).hexdigest()),
        )

    seq = 0
    emb_row = 0
    for ci, (name, frac) in enumerate(COLLECTIONS):
        coll_id, vec_id, meta_id = ids_for(seed, name)
        topic = "persistent://%s/default_database/%s" % (TENANT, coll_id)
        conn.execute("INSERT INTO collections VALUES (?,?,?,?,?)", (coll_id, name, topic, DIM, DATABASE_ID))
        conn.execute(
            "INSERT INTO collection_metadata VALUES (?,?,?,?,?)", (coll_id, "hnsw:space", "cosine", None, None)
        )
        conn.execute("INSERT INTO segments VALUES (?,?,?,?,?)", (vec_id, VECTOR_SEGMENT_TYPE, "VECTOR", topic, coll_id))
        conn.execute(
            "INSERT INTO segments VALUES (?,?,?,?,?)", (meta_id, METADATA_SEGMENT_TYPE, "METADATA", None, coll_id)
        )

        n_live = max(5, round(n_total * frac))
        emb_rows, meta_rows, queue_rows, vectors = [], [], [], []
        id_to_label, label_to_id, id_to_seq = {}, {}, {}
        for i in range(n_live):
            seq += 1
            emb_row += 1
            eid = "%s-%06d" % (name, i)
            doc = "[%s #%d] %s" % (name, i, corpus.slice(rng, doc_chars))
            vec = doc_vector(doc)
            vectors.append(vec)
            source = "transcripts/%s" % i if name == "transcripts" else "pdfs/doc-%d.pdf" % (i % 97)
            score = round(rng.random(), 6)
            created = ts(seq)
            emb_rows.append((emb_row, meta_id, eid, seq.to_bytes(8, "big"), created))
            meta_rows += [
                (emb_row, "chroma:document", doc, None, None),
                (emb_row, "source", source, None, None),
                (emb_row, "chunk", None, i, None),
                (emb_row, "score", None, None, score),
            ]
            md = {"chroma:document": doc, "source": source, "chunk": i, "score": score}
            queue_rows.append(
                (seq, created, 0, topic, eid, vec, "FLOAT32", json.dumps(md, ensure_ascii=False, sort_keys=True))
            )
            id_to_label[eid] = i + 1
            label_to_id[i + 1] = eid
            id_to_seq[eid] = seq
        conn.executemany("INSERT INTO embeddings VALUES (?,?,?,?,?)", emb_rows)
        conn.executemany("INSERT INTO embedding_metadata VALUES (?,?,?,?,?)", meta_rows)
        conn.executemany("INSERT INTO embeddings_queue VALUES (?,?,?,?,?,?,?,?)", queue_rows)
        conn.execute("INSERT INTO max_seq_id VALUES (?,?)", (vec_id, seq.to_bytes(8, "big")))
        conn.execute("INSERT INTO segment_metadata VALUES (?,?,?,?,?)", (vec_id, "hnsw:M", None, HNSW_M, None))

        # --- segment dir -------------------------------------------------------
        seg_dir = os.path.join(root, vec_id)
        os.makedirs(seg_dir)
        share = int(index_budget * frac)
        link_bytes = share // 50
        n_elems = max(n_live, (share - link_bytes) // (REC_SIZE + 4))
        with open(os.path.join(seg_dir, "data_level0.bin"), "wb", buffering=WRITE_CHUNK) as fh:
            for i, vec in enumerate(vectors):
                k = min(n_live - 1, HNSW_MAXM0)
                neigh = [rng.randrange(n_live) for _ in range(k)] + [0] * (HNSW_MAXM0 - k)
                fh.write(struct.pack("<I%dI" % HNSW_MAXM0, k, *neigh) + vec + struct.pack("<Q", i + 1))
            write_random(fh, rng, (n_elems - n_live) * REC_SIZE)
        with open(os.path.join(seg_dir, "length.bin"), "wb") as fh:
            fh.write(b"\0" * (4 * n_elems))
        with open(os.path.join(seg_dir, "link_lists.bin"), "wb", buffering=WRITE_CHUNK) as fh:
            write_random(fh, rng, link_bytes)
        with open(os.path.join(seg_dir, "header.bin"), "wb") as fh:
            fh.write(hnsw_header(n_elems))
        meta = {
            "dimensionality": DIM,
            "total_elements_added": n_elems,
            "max_seq_id": seq,
            "id_to_label": id_to_label,
            "label_to_id": label_to_id,
            "id_to_seq_id": id_to_seq,
        }
        with open(os.path.join(seg_dir, "index_metadata.pickle"), "wb") as fh:
            pickle.dump(meta, fh, protocol=4)
        for fn in sorted(os.listdir(seg_dir)):
            stats.add("chroma_db", os.path.join(seg_dir, fn))

    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'embeddings_queue'", (seq,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    stats.add("chroma_db", db_path)


# ----------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="output directory (chroma_db/, pdfs/, transcripts/ are recreated)")
    ap.add_argument("--size", type=parse_size, default=parse_size("10M"), help="total size, e.g. 10M, 100M, 1G, 5G")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    t0 = time.time()
    out = os.path.abspath(args.dir)
    os.makedirs(out, exist_ok=True)
    for sub in ("chroma_db", "pdfs", "transcripts"):
        p = os.path.join(out, sub)
        if os.path.lexists(p):
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)

    size = args.size
    corpus = Corpus(random.Random("%s:corpus" % args.seed))
    stats = Stats()
    gen_chroma(os.path.join(out, "chroma_db"), int(size * 0.05), int(size * 0.35), size, args.seed, corpus, stats)
    gen_pdfs(os.path.join(out, "pdfs"), int(size * 0.50), args.seed, corpus, stats)
    gen_transcripts(os.path.join(out, "transcripts"), int(size * 0.10), args.seed, corpus, stats)

    parts = ", ".join("%s: %d files %s" % (k, f, human(b)) for k, (f, b) in sorted(stats.by_part.items()))
    print(
        "gen_data: %d files, %d bytes (%s) in %s [%s] seed=%d in %.2fs"
        % (stats.files, stats.bytes, human(stats.bytes), out, parts, args.seed, time.time() - t0)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
