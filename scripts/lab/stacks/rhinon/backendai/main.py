"""backendai stand-in (FastAPI): answers rtserver, counts its questions in Redis."""
import os

import redis
from fastapi import FastAPI

r = redis.Redis(
    host=os.environ["REDIS_HOST"],
    port=int(os.environ.get("REDIS_PORT", "6379")),
    socket_connect_timeout=3,
    socket_timeout=3,
)
app = FastAPI(title="backendai")


@app.get("/health")
def health():
    return {"status": "ok", "service": "backendai"}


@app.get("/api/answer")
def answer(q: str = ""):
    n = r.incr("backendai:questions")
    return {"answer": f"echo: {q}", "questions": n}
