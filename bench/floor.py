"""The least a sealed fetch can cost on this machine: a stand-in doing only what none can skip.

Issue #4 asks for ≥ 1,000 fetches/s over HTTP with two workers on PostgreSQL.
On a small machine where the workers, PostgreSQL and the client share the
cores, that rate is bounded by the CPU one request costs all three. This
stand-in is served like ``tsunagu serve --workers 2`` (uvicorn, one
SO_REUSEPORT socket per worker, one psycopg connection each, work on the event
loop) and driven by the same wrk script, but per request it only: parses the
JSON body; verifies one ECDSA P-256 signature; runs one statement that reads
the caller's session, the replay check, the case, its subject's record and
locks the audit chain's head; hashes the log entry onto the chain; runs one
statement writing the entry and advancing the head, pipelined with the commit;
signs the answer (ECDSA P-256); answers JSON. No ORM, no CMS or certificates,
no matrix, consent, projection or validation, fewer round trips and indexes
than any real fetch: its rate is an upper bound for every implementation of
the fetch on this stack and machine.

``python -m bench.floor PORT`` serves it (``TSUNAGU_FLOOR_DSN``: a database
:func:`prepare` filled).
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

PATH = "/fetch"
COOKIE = "floor=bench-session"
WORKERS = 2
CASES = 2000
SUBJECTS = 10_000
# A fixed key, so the workers and the body writer agree without sharing a file (bench only).
KEY = ec.derive_private_key(
    int.from_bytes(hashlib.sha256(b"tsunagu floor").digest()) >> 8, ec.SECP256R1()
)
PUBLIC = KEY.public_key()
SIGNATURE = ec.ECDSA(hashes.SHA256())
SCHEMA = [
    "CREATE TABLE floor_sessions (token text PRIMARY KEY, official_id text NOT NULL)",
    "CREATE TABLE floor_cases (ref text PRIMARY KEY, subject text NOT NULL)",
    "CREATE TABLE floor_records (subject text PRIMARY KEY, data jsonb NOT NULL)",
    "CREATE TABLE floor_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)",
    "CREATE TABLE floor_log (seq bigint PRIMARY KEY, request_id text NOT NULL, entry text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX ix_floor_log_request ON floor_log (request_id)",
]
READ = """
SELECT (SELECT official_id FROM floor_sessions WHERE token = %(token)s),
       EXISTS (SELECT 1 FROM floor_log WHERE request_id = %(request)s),
       record.data, head.seq, head.hash
FROM floor_cases AS c JOIN floor_records AS record ON record.subject = c.subject, floor_head AS head
WHERE c.ref = %(ref)s AND head.id = 1
FOR UPDATE OF head
"""
WRITE = """
WITH advanced AS (UPDATE floor_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1)
INSERT INTO floor_log (seq, request_id, entry) VALUES (%(seq)s, %(request)s, %(entry)s)
"""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def dsn(sqlalchemy_url: str) -> str:
    """A libpq address from the SQLAlchemy URL of the same database."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def prepare(address: str, record: Any) -> None:
    """The stand-in's tables (``floor_``) and data in an existing database."""
    with psycopg.connect(address) as connection, connection.cursor() as cursor:
        for statement in SCHEMA:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO floor_sessions VALUES (%s, 'official')", (COOKIE.split("=")[1],)
        )
        cursor.execute("INSERT INTO floor_head VALUES (1, 0, '')")
        cursor.executemany(
            "INSERT INTO floor_records VALUES (%s, %s)",
            [(f"s{i}", json.dumps(record(i), ensure_ascii=False)) for i in range(SUBJECTS)],
        )
        cursor.executemany(
            "INSERT INTO floor_cases VALUES (%s, %s)",
            [(f"c{i}", f"s{i * 7 % SUBJECTS}") for i in range(CASES)],
        )


def write_bodies(path: Path, count: int) -> Path:
    """``count`` signed requests, one JSON body a line, each with its own request id."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            payload = {
                "request_id": str(uuid.uuid4()),
                "case": f"c{i % CASES}",
                "evidence_type": "juminhyo_kisai",
                "issued_at": time.time(),
            }
            signature = KEY.sign(_canonical(payload), SIGNATURE)
            body = {"payload": payload, "signature": base64.b64encode(signature).decode()}
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


_connection: psycopg.Connection[Any] | None = None


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global _connection
    _connection = psycopg.connect(os.environ["TSUNAGU_FLOOR_DSN"])
    yield
    _connection.close()


app = FastAPI(lifespan=_lifespan)


@app.post(PATH)
async def fetch(document: dict[str, Any], request: Request) -> JSONResponse:
    assert _connection is not None
    payload = document["payload"]
    PUBLIC.verify(base64.b64decode(document["signature"]), _canonical(payload), SIGNATURE)
    token = request.cookies.get("floor")
    parameters = {"token": token, "request": payload["request_id"], "ref": payload["case"]}
    with _connection.cursor() as cursor:
        cursor.execute(READ, parameters)
        found = cursor.fetchone()
        if found is None or found[0] is None or found[1]:
            _connection.rollback()
            return JSONResponse({"error": "refused"}, status_code=403)
        official, _seen, record, seq, previous = found
        entry = json.dumps(
            {"seq": seq + 1, "previous": previous, "official": official, "request": payload},
            ensure_ascii=False,
        )
        digest = hashlib.sha256(previous.encode() + entry.encode()).hexdigest()
        with _connection.pipeline():
            cursor.execute(
                WRITE,
                {"seq": seq + 1, "hash": digest, "request": payload["request_id"], "entry": entry},
            )
            _connection.commit()
    answer = {"record": record, "request_id": payload["request_id"], "at": time.time()}
    signature = KEY.sign(_canonical(answer), SIGNATURE)
    return JSONResponse({"payload": answer, "signature": base64.b64encode(signature).decode()})


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """wrk's script ends with one GET of /healthz."""
    return {"status": "ok"}


def _worker(port: int) -> None:
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config("bench.floor:app", access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def serve(port: int, address: str) -> subprocess.Popen[bytes]:
    """The stand-in with two workers on ``port``, started like ``tsunagu serve``."""
    root = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = os.environ | {"TSUNAGU_FLOOR_DSN": address, "PYTHONPATH": path}
    return subprocess.Popen([sys.executable, "-m", "bench.floor", str(port)], env=env)


def main() -> None:
    port = int(sys.argv[1])
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker, args=(port,)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: [w.terminate() for w in workers])
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
