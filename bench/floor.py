"""The least a fetch and a submission can cost on this machine: stand-ins doing only what
none can skip.

Issues #4 and #5 ask for ≥ 1,000 fetches/s and ≥ 300 submissions/s over HTTP
with two workers on PostgreSQL. On a small machine where the workers,
PostgreSQL and the client share the cores, a rate is bounded by the CPU one
request costs all three. These stand-ins are served like ``tsunagu serve
--workers 2`` (uvicorn, one SO_REUSEPORT socket per worker, one psycopg
connection each, work on the event loop) and driven by the same wrk scripts,
but do only the work below: no ORM, no CMS or certificates, no matrix,
consent, projection, rules or validation, fewer statements and indexes than
any real implementation. Their rates are upper bounds for every
implementation of the fetch and the submission on this stack and machine.

- ``POST /fetch``: parse the JSON body; verify one ECDSA P-256 signature; one
  statement reading the caller's session, the replay check, the case, its
  subject's record and locking the audit chain's head; the log entry hashed
  onto the chain; one statement writing it and advancing the head, pipelined
  with the commit; sign the answer; answer JSON.
- ``POST /submit/{id}``: one statement reading the resident's session, the
  application (locked), the two registers' records and the chain head; verify
  the resident's signature of the application; the two evidence fetches of a
  国民健康保険 enrolment as the real one makes them in process (request
  sealed, and the answer for the record found; a seal made in the process is
  not verified again by it, see ``cms.sign_vouched``); one statement writing
  the application's decision, the case, two evidence rows, the new register
  record, two outbox events and nine chained log rows (two access-log
  entries, seven audit records), pipelined with the commit; answer JSON.

``python -m bench.floor PORT`` serves them (``TSUNAGU_FLOOR_DSN``: a database
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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

FETCH_PATH = "/fetch"
OFFICIAL_TOKEN = "bench-session"
OFFICIAL_COOKIE = f"floor={OFFICIAL_TOKEN}"
WORKERS = 2
CASES = 2000
SUBJECTS = 10_000
SIGNATURE = ec.ECDSA(hashes.SHA256())


def _key(name: bytes) -> ec.EllipticCurvePrivateKey:
    """A fixed key, so workers and body writers agree without sharing a file (bench only)."""
    return ec.derive_private_key(int.from_bytes(hashlib.sha256(name).digest()) >> 8, ec.SECP256R1())


SEAL = _key(b"tsunagu floor seal")
SEAL_PUBLIC = SEAL.public_key()
RESIDENT = _key(b"tsunagu floor resident")
RESIDENT_PUBLIC = RESIDENT.public_key()
SCHEMA = [
    "CREATE TABLE floor_sessions (token text PRIMARY KEY, party text NOT NULL)",
    "CREATE TABLE floor_cases (ref text PRIMARY KEY, subject text NOT NULL)",
    "CREATE TABLE floor_records (subject text PRIMARY KEY, data jsonb NOT NULL)",
    "CREATE TABLE floor_head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)",
    "CREATE TABLE floor_log (seq bigint PRIMARY KEY, request_id text NOT NULL, entry text NOT NULL,"
    " at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX ix_floor_log_request ON floor_log (request_id)",
    "CREATE TABLE floor_applications (id text PRIMARY KEY, person text NOT NULL,"
    " status text NOT NULL, form jsonb NOT NULL, signature bytea, case_id text,"
    " decided_at timestamptz)",
    "CREATE INDEX ix_floor_applications_status ON floor_applications (status)",
    "CREATE TABLE floor_evidence (id bigserial PRIMARY KEY, application_id text NOT NULL,"
    " type text NOT NULL, outcome text NOT NULL, records jsonb NOT NULL)",
    "CREATE TABLE floor_outbox (id text PRIMARY KEY, topic text NOT NULL, payload text NOT NULL)",
]
READ_FETCH = """
SELECT (SELECT party FROM floor_sessions WHERE token = %(token)s),
       EXISTS (SELECT 1 FROM floor_log WHERE request_id = %(request)s),
       record.data, head.seq, head.hash
FROM floor_cases AS c JOIN floor_records AS record ON record.subject = c.subject, floor_head AS head
WHERE c.ref = %(ref)s AND head.id = 1
FOR UPDATE OF head
"""
WRITE_FETCH = """
WITH advanced AS (UPDATE floor_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1)
INSERT INTO floor_log (seq, request_id, entry) VALUES (%(seq)s, %(request)s, %(entry)s)
"""
READ_SUBMISSION = """
SELECT (SELECT party FROM floor_sessions WHERE token = %(token)s),
       a.person, a.status, a.form, resident.data,
       (SELECT data FROM floor_records WHERE subject = 'kenpo:' || a.person), head.seq, head.hash
FROM floor_applications AS a LEFT JOIN floor_records AS resident ON resident.subject = a.person,
     floor_head AS head
WHERE a.id = %(application)s AND head.id = 1
FOR UPDATE OF a, head
"""
WRITE_SUBMISSION = """
WITH decided AS (
  UPDATE floor_applications SET status = 'approved', signature = %(signature)s,
         case_id = %(case)s, decided_at = now() WHERE id = %(application)s),
advanced AS (UPDATE floor_head SET seq = %(seq)s, hash = %(hash)s WHERE id = 1),
opened AS (INSERT INTO floor_cases VALUES (%(case)s, %(person)s)),
evidence AS (
  INSERT INTO floor_evidence (application_id, type, outcome, records)
  VALUES (%(application)s, 'juminhyo', 'provided', %(records)s),
         (%(application)s, 'kenpo_shikaku', 'not_found', '[]')),
enrolled AS (INSERT INTO floor_records VALUES ('kokuho:' || %(person)s, %(enrolment)s)),
announced AS (
  INSERT INTO floor_outbox VALUES (%(event1)s, 'registry.changed', %(application)s),
                                  (%(event2)s, 'procedure.decided', %(application)s))
INSERT INTO floor_log (seq, request_id, entry) VALUES {log_rows}
"""
LOG_ROWS = 9  # two access-log entries and seven audit records, as a real submission writes
# what a real submission audits besides its two fetches (case opened, submitted, approved …)
_AUDITED = [f"step-{i}" for i in range(LOG_ROWS - 2)]


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _sign(key: ec.EllipticCurvePrivateKey, value: Any) -> str:
    return base64.b64encode(key.sign(_canonical(value), SIGNATURE)).decode()


def _verify(key: ec.EllipticCurvePublicKey, signature: str, value: Any) -> None:
    key.verify(base64.b64decode(signature), _canonical(value), SIGNATURE)


def _chain(previous: str, seq: int, entries: list[dict[str, Any]]) -> tuple[list[Any], str]:
    """Log rows ``(seq, request id, entry)`` hashed onto the chain after ``previous``."""
    rows = []
    for entry in entries:
        seq += 1
        text = json.dumps({**entry, "seq": seq, "previous": previous}, ensure_ascii=False)
        previous = hashlib.sha256(previous.encode() + text.encode()).hexdigest()
        rows.append((seq, str(entry.get("request", "audit")), text))
    return rows, previous


def dsn(sqlalchemy_url: str) -> str:
    """A libpq address from the SQLAlchemy URL of the same database."""
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def prepare(address: str, record: Callable[[int], Any]) -> None:
    """The stand-ins' tables (``floor_``) in an existing database; the fetch's world."""
    with psycopg.connect(address) as connection, connection.cursor() as cursor:
        for statement in SCHEMA:
            cursor.execute(statement)
        cursor.execute("INSERT INTO floor_sessions VALUES (%s, 'official')", (OFFICIAL_TOKEN,))
        cursor.execute("INSERT INTO floor_head VALUES (1, 0, '')")
        cursor.executemany(
            "INSERT INTO floor_records VALUES (%s, %s)",
            [(f"s{i}", json.dumps(record(i), ensure_ascii=False)) for i in range(SUBJECTS)],
        )
        cursor.executemany(
            "INSERT INTO floor_cases VALUES (%s, %s)",
            [(f"c{i}", f"s{i * 7 % SUBJECTS}") for i in range(CASES)],
        )


def write_fetches(path: Path, count: int) -> Path:
    """``count`` signed fetch requests, one JSON body a line, each with its own request id."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            payload = {
                "request_id": str(uuid.uuid4()),
                "case": f"c{i % CASES}",
                "evidence_type": "juminhyo_kisai",
                "issued_at": time.time(),
            }
            body = {"payload": payload, "signature": _sign(SEAL, payload)}
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


def write_submissions(address: str, path: Path, count: int, form: dict[str, Any]) -> Path:
    """``count`` drafts, each of its own resident with a session, and their signed
    submissions as ``bench/wrk/submit.lua`` reads them (path, cookie, CSRF, body)."""
    drafts = [(f"a{i}", f"p{i}", f"t{i}") for i in range(count)]
    with psycopg.connect(address) as connection, connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO floor_applications (id, person, status, form)"
            " VALUES (%s, %s, 'draft', %s)",
            [(a, p, json.dumps(form, ensure_ascii=False)) for a, p, _t in drafts],
        )
        cursor.executemany(
            "INSERT INTO floor_sessions VALUES (%s, %s)", [(t, p) for _a, p, t in drafts]
        )
        records = connection.execute(
            "SELECT data FROM floor_records WHERE subject = 's0'"
        ).fetchone()
        assert records is not None
        cursor.executemany(
            "INSERT INTO floor_records VALUES (%s, %s)",
            [(p, json.dumps(records[0], ensure_ascii=False)) for _a, p, _t in drafts],
        )
    with path.open("w", encoding="utf-8") as out:
        for application, _person, token in drafts:
            body = {"signature": _sign(RESIDENT, {"application": application, "form": form})}
            out.write(f"/submit/{application}\tfloor={token}\t\t{json.dumps(body)}\n")
    return path


_connection: psycopg.Connection[Any] | None = None


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global _connection
    _connection = psycopg.connect(os.environ["TSUNAGU_FLOOR_DSN"])
    yield
    _connection.close()


app = FastAPI(lifespan=_lifespan)


def _refused() -> JSONResponse:
    assert _connection is not None
    _connection.rollback()
    return JSONResponse({"error": "refused"}, status_code=403)


@app.post(FETCH_PATH)
async def fetch(document: dict[str, Any], request: Request) -> JSONResponse:
    assert _connection is not None
    payload = document["payload"]
    _verify(SEAL_PUBLIC, document["signature"], payload)
    token = request.cookies.get("floor")
    parameters = {"token": token, "request": payload["request_id"], "ref": payload["case"]}
    with _connection.cursor() as cursor:
        found = cursor.execute(READ_FETCH, parameters).fetchone()
        if found is None or found[0] is None or found[1]:
            return _refused()
        official, _seen, record, seq, previous = found
        rows, last = _chain(previous, seq, [{"request": payload["request_id"], "by": official}])
        with _connection.pipeline():
            entry = {"seq": rows[0][0], "request": rows[0][1], "entry": rows[0][2], "hash": last}
            cursor.execute(WRITE_FETCH, entry)
            _connection.commit()
    answer = {"record": record, "request_id": payload["request_id"], "at": time.time()}
    return JSONResponse({"payload": answer, "signature": _sign(SEAL, answer)})


def _exchange(subject: str, evidence_type: str, record: Any) -> dict[str, Any]:
    """An in-process evidence fetch's signatures: the request sealed, and for a record found
    the answer (both made here, so not verified here again); returns the access-log entry."""
    request = {"request_id": str(uuid.uuid4()), "subject": subject, "evidence": evidence_type}
    _sign(SEAL, request)
    if record is not None:
        answer = {"request_id": request["request_id"], "record": record, "at": time.time()}
        _sign(SEAL, answer)
    return {"request": request["request_id"], "evidence": evidence_type}


@app.post("/submit/{application}")
async def submit(application: str, document: dict[str, Any], request: Request) -> JSONResponse:
    assert _connection is not None
    parameters = {"token": request.cookies.get("floor"), "application": application}
    with _connection.cursor() as cursor:
        found = cursor.execute(READ_SUBMISSION, parameters).fetchone()
        if found is None or found[0] is None or found[0] != found[1] or found[2] != "draft":
            return _refused()
        _party, person, _status, form, resident, insured, seq, previous = found
        _verify(RESIDENT_PUBLIC, document["signature"], {"application": application, "form": form})
        fetched = [_exchange(person, "juminhyo", resident), _exchange(person, "kenpo", insured)]
        audit = [{"action": a, "application": application} for a in _AUDITED]
        rows, last = _chain(previous, seq, fetched + audit)
        values = ", ".join(f"(%(s{i})s, %(r{i})s, %(e{i})s)" for i in range(len(rows)))
        enrolment = {"insured": person, "from": form["event_date"], "kind": "国民健康保険"}
        write = {
            "signature": base64.b64decode(document["signature"]),
            "case": str(uuid.uuid4()),
            "application": application,
            "person": person,
            "records": json.dumps([resident], ensure_ascii=False),
            "enrolment": json.dumps(enrolment, ensure_ascii=False),
            "event1": str(uuid.uuid4()),
            "event2": str(uuid.uuid4()),
            "seq": rows[-1][0],
            "hash": last,
        }
        for i, (row_seq, row_request, row_entry) in enumerate(rows):
            write |= {f"s{i}": row_seq, f"r{i}": row_request, f"e{i}": row_entry}
        with _connection.pipeline():
            cursor.execute(WRITE_SUBMISSION.format(log_rows=values), write)
            _connection.commit()
    return JSONResponse({"id": application, "status": "approved", "evidence": fetched})


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """wrk's scripts end (fetch) or start (submissions) with a GET of /healthz."""
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
    """The stand-ins with two workers on ``port``, started like ``tsunagu serve``."""
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
