"""The on-disk format of the chatbot's ChromaDB-shaped vector segments, in one place: the backend
(src/api/main.py) writes records in it on /api/ingest and the lab's data generator (gen_data.py)
writes the initial files. Standard library only."""
import hashlib
import math
import struct

# --- HNSW-ish index layout -----------------------------------------------------
DIM = 384
HNSW_M = 16
HNSW_MAXM0 = 2 * HNSW_M
LINKS0_SIZE = HNSW_MAXM0 * 4 + 4  # uint32 count + 32 uint32 neighbours
DATA_SIZE = DIM * 4  # float32 vector
REC_SIZE = LINKS0_SIZE + DATA_SIZE + 8  # + uint64 label
# hnswlib header: offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, label_offset, offsetData, maxlevel, enterpoint_node,
# maxM, maxM0, M, mult, ef_construction
HEADER_FMT = "<QQQQQQiIQQQdQ"
VECTOR_SEGMENT_TYPE = "urn:chroma:segment/vector/hnsw-local-persisted"
METADATA_SEGMENT_TYPE = "urn:chroma:segment/metadata/sqlite"
DATABASE_ID = "00000000-0000-0000-0000-000000000000"


def doc_vector(document):
    """Unit float32 vector derived from sha256 of the document."""
    seed = hashlib.sha256(document.encode("utf-8")).digest()
    raw = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(DATA_SIZE // 32))
    vals = [(u / 4294967296.0) * 2.0 - 1.0 for u in struct.unpack("<%dI" % DIM, raw)]
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    return struct.pack("<%df" % DIM, *[v / norm for v in vals])


def hnsw_header(n_elements):
    return struct.pack(
        HEADER_FMT,
        0,  # offsetLevel0
        n_elements,  # max_elements
        n_elements,  # cur_element_count
        REC_SIZE,  # size_data_per_element
        LINKS0_SIZE + DATA_SIZE,  # label_offset
        LINKS0_SIZE,  # offsetData
        1 if n_elements else 0,  # maxlevel
        0,  # enterpoint_node
        HNSW_M,  # maxM
        HNSW_MAXM0,  # maxM0
        HNSW_M,  # M
        1.0 / math.log(HNSW_M),  # mult
        100,  # ef_construction
    )
