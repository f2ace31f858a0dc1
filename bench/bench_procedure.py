"""Signed submission end to end, and the form page.

One submission is what ``POST /api/applications/{id}/submit`` does: validate
the form, verify the applicant's CMS signature against the platform PKI, fetch
the evidence through the once-only exchange (sealed request and answer, access
log), start the business-day clock, let the rules decide and apply the
register change (a 国民健康保険 enrolment numbers a new member), audit every
step — all in one transaction. The signed decision notice is issued after
commit by the outbox worker (``procedure.decided``), so it is not part of a
submission. Drafts and signatures are made beforehand (the client's side).

- SQLite, in process: submissions one after another, each its own transaction.
- PostgreSQL over HTTP: ``tsunagu serve --workers 2`` and wrk sending the
  pre-signed submissions, each application filed by its own resident's session.
- The form page ``GET /applications/{id}/form`` (server-rendered from the
  schema, prefilled from the registers), p95 over sequential requests.

Throughput is taken from the database (first submission to last decision);
wrk is interrupted once every submission is answered (``-d`` is only a cap).
CPU per submission is reported too: the machine is shared, so rates are lower
bounds.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench import floor
from bench.bench_exchange import _resident
from bench.common import (
    children,
    cpu_seconds,
    free_port,
    percentile,
    postgres_pids,
    postgres_url,
    sqlite_url,
    wait_listening,
)
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import AddressIn, PersonIn, Sex
from tsunagu.procedure import service
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import ISSUER_OF, CertKind, PersonAttributes, generate_key
from tsunagu.trust.pki import person_signing_name as signing_name

RESIDENTS = 100
# Over HTTP each resident files a few applications, far apart in the sequence: concurrent
# changes of one person's record race in the registry (see the report in the module doc).
HTTP_RESIDENTS = 1000
SQLITE_SUBMISSIONS = 1000
HTTP_SUBMISSIONS = 2000
FORM_GETS = 300
WORKERS = 2
WRK_THREADS = 2
WRK_CONNECTIONS = 16
PASSWORD = "bench-ca-password"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "submit.lua"
PROCEDURE = "kokuho"  # 国民健康保険の加入: decided by the rules, changes the register


@dataclass
class Filing:
    application_id: str
    person_id: str
    cms: bytes


@dataclass
class World:
    settings: Settings
    factory: sessionmaker[Session]
    store: sealing.SealStore
    tokens: dict[str, str]  # person → session token
    filings: list[Filing]


def _form() -> dict[str, Any]:
    day = (tokyo_today() - timedelta(days=3)).isoformat()
    return {"change": "加入", "reason": "職場の健康保険の喪失", "event_date": day}


def _signer(session: Session, settings: Settings, person_id: str) -> Callable[[bytes], bytes]:
    key = generate_key()
    attributes = PersonAttributes("山田 花子", date(1980, 1, 2), "女", "東京都千代田区永田町1-1")
    row = trust.issue(
        session, settings, kind=CertKind.SIGNING, public_key=key.public_key(),
        subject=lambda _serial: signing_name(attributes), subject_ref=person_id, actor="bench",
    )  # fmt: skip
    cert, chain = bytes(row.der), trust.trust_store(session).chain(ISSUER_OF[CertKind.SIGNING])

    def sign(content: bytes) -> bytes:
        return cms.sign_detached(
            content, sign=lambda data: cms.raw_signature(key, data), signer_cert_der=cert,
            chain_ders=chain, signing_time=utcnow(),
        )  # fmt: skip

    return sign


def _world(url: str, workdir: Path, submissions: int, residents: int = RESIDENTS) -> World:
    """A municipality, residents with signing keys and sessions, and signed drafts."""
    settings = Settings(
        database_url=url, var_dir=workdir / "var", pki_key_password=PASSWORD,
        base_url="http://127.0.0.1",
    )  # fmt: skip
    factory = make_session_factory(make_engine(url))
    store = sealing.store_for(settings)
    vault = MyNumberVault.from_settings(settings)
    signers, tokens = {}, {}
    with transaction(factory) as session:
        trust.init_pki(session, settings)
        chiyoda = identity.ensure_local_government(session, "131016", actor="bench").id
        store.ensure(session, chiyoda, actor="bench")
        for i in range(residents):
            person = identity.create_person(
                session,
                PersonIn(
                    family_name="山田", given_name=f"花子{i}", family_name_kana="ヤマダ",
                    given_name_kana="ハナコ", birth_date=date(1980, 1, 2), sex=Sex.FEMALE,
                    address=AddressIn(municipality_code="131016", town="永田町", block="1-1"),
                ),
                actor="bench", vault=vault,
            ).id  # fmt: skip
            registry.assert_fact(
                session, "juki", person, _resident(i), keeper_id=chiyoda, actor="bench",
                valid_from=date(2010, 4, 1),
            )  # fmt: skip
            signers[person] = _signer(session, settings, person)
            tokens[person] = sessions.start(
                session, method="card", ial=3, aal=2, person_id=person
            ).token
    people = list(signers)
    filings = []
    with transaction(factory) as session:
        for n in range(submissions):
            person = people[n % len(people)]
            actor = Actor(kind=ActorKind.PERSON, ial=3, aal=2, person_id=person)
            draft = service.create(session, actor, PROCEDURE, _form())
            signature = signers[person](protocol.canonical_json(service.document(draft)))
            filings.append(Filing(draft.id, person, signature))
    return World(settings, factory, store, tokens, filings)


def _decided(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(Application.status, func.count()).group_by(Application.status)
        ).all()
    return {status: count for status, count in rows}


def _span_seconds(factory: sessionmaker[Session]) -> float:
    """From the first submission's start (its evidence fetch opened the case) to the last
    decision, as the database recorded them."""
    with factory() as session:
        first, last = session.execute(
            select(func.min(Application.submitted_at), func.max(Application.decided_at))
        ).one()
    return float((last - first).total_seconds()) if first and last else 0.0


def sqlite_run(workdir: Path) -> dict[str, Any]:
    url = sqlite_url(workdir, "procedure")
    world = _world(url, workdir, SQLITE_SUBMISSIONS)
    samples = []
    started, cpu = time.perf_counter(), time.process_time()
    for filing in world.filings:
        actor = Actor(kind=ActorKind.PERSON, ial=3, aal=2, person_id=filing.person_id)
        began = time.perf_counter()
        with transaction(world.factory) as session:
            app = service.submit(
                session, actor, filing.application_id, filing.cms, store=world.store
            ).application
            assert app.status == "approved", app.status
        samples.append((time.perf_counter() - began) * 1000)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "submissions": len(samples),
        "per_second": round(len(samples) / elapsed, 1),
        # what one submission costs, whatever else the machine runs meanwhile
        "cpu_ms_per_submission": round(1000 * cpu / len(samples), 2),
        "per_second_if_one_core_were_free": round(len(samples) / cpu, 1),
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "statuses": _decided(world.factory),
    }


def _server_cpu(server_pid: int) -> tuple[float, float]:
    """(uvicorn workers, PostgreSQL) CPU seconds so far."""
    workers = sum(cpu_seconds(pid) for pid in children(server_pid))
    return workers, sum(cpu_seconds(pid) for pid in postgres_pids())


def _serve(world: World, url: str, port: int) -> subprocess.Popen[bytes]:
    """``tsunagu serve --workers 2`` as an operator would start it (no access log), once
    every worker has started (each parses the packs then)."""
    env = os.environ | {
        "TSUNAGU_DATABASE_URL": url,
        "TSUNAGU_VAR_DIR": str(world.settings.var_dir),
        "TSUNAGU_PKI_KEY_PASSWORD": PASSWORD,
        "TSUNAGU_SECRET_KEY": world.settings.secret_key,
        "TSUNAGU_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = world.settings.var_dir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", "from tsunagu.cli import main; main()", "serve",
             "--workers", str(WORKERS), "--port", str(port), "--no-access-log"],
            env=env, stderr=out,
        )  # fmt: skip
    for _ in range(300):
        started = log.read_text(errors="replace").count("Application startup complete")
        if started >= WORKERS and len(children(server.pid)) >= WORKERS:
            httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=5).raise_for_status()
            return server
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start; see {log}")


def _cookie(world: World, person: str) -> tuple[str, str]:
    token = world.tokens[person]
    return f"{sessions.COOKIE}={token}", sessions.csrf_token(world.settings.secret_key, token)


def _form_page(world: World, base: str) -> dict[str, Any]:
    """p95 of GET /applications/{id}/form, one request after another (drafts still open)."""
    samples = []
    with httpx2.Client(base_url=base, timeout=30) as client:
        for filing in world.filings[: FORM_GETS + 20]:
            cookie, _csrf = _cookie(world, filing.person_id)
            began = time.perf_counter()
            response = client.get(
                f"/applications/{filing.application_id}/form", headers={"Cookie": cookie}
            )
            samples.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
    samples = samples[20:]  # warm-up
    return {
        "requests": len(samples),
        "p50_ms": round(percentile(samples, 50), 2),
        "p95_ms": round(percentile(samples, 95), 2),
        "client": "python httpx2, sequential",
    }


def _lines(world: World, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for filing in world.filings:
            cookie, csrf = _cookie(world, filing.person_id)
            body = json.dumps({"cms": protocol.b64(filing.cms)}, separators=(",", ":"))
            route = f"/api/applications/{filing.application_id}/submit"
            out.write(f"{route}\t{cookie}\t{csrf}\t{body}\n")
    return path


def _wrk(base: str, lines: Path) -> dict[str, Any]:
    """wrk sending every submission once; interrupted as soon as each thread has all its
    answers (wrk's main thread otherwise sleeps until ``-d``, which is only a cap)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk = subprocess.Popen(
        ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", "300s",
         "--timeout", "20s", "-s", str(WRK_SCRIPT), base, "--", str(lines), str(WRK_THREADS)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert wrk.stdout is not None
    output, finished = [], 0
    for line in wrk.stdout:
        output.append(line)
        finished += line.strip() == "thread done"
        if finished == WRK_THREADS:
            wrk.send_signal(signal.SIGINT)
            break
    output.extend(wrk.stdout)
    if wrk.wait():
        raise subprocess.CalledProcessError(wrk.returncode, wrk.args, "".join(output))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = json.loads(output[-1])
    summary["client_cpu_s"] = round(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2
    )
    return summary


def http_run(workdir: Path, url: str) -> dict[str, Any]:
    world = _world(url, workdir, HTTP_SUBMISSIONS, HTTP_RESIDENTS)
    lines = _lines(world, workdir / "submissions.tsv")
    port = free_port()
    server = _serve(world, url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        form = _form_page(world, base)
        if shutil.which("wrk") is None:
            return {"form_page": form, "skipped": "wrk not installed (make bench installs it)"}
        started, cpu_before = time.perf_counter(), _server_cpu(server.pid)
        summary = _wrk(base, lines)
        elapsed, cpu_after = time.perf_counter() - started, _server_cpu(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    statuses = _decided(world.factory)
    approved = statuses.get("approved", 0)
    span = _span_seconds(world.factory)
    return {
        "submissions": len(world.filings),
        "approved": approved,
        "per_second": round(approved / span, 1) if span else None,
        "seconds": round(span, 2),
        "wrk_seconds": round(elapsed, 2),
        # CPU per submission: both workers, and PostgreSQL (all its processes, others' too)
        "server_cpu_ms_per_submission": {
            "workers": round(1000 * (cpu_after[0] - cpu_before[0]) / max(approved, 1), 2),
            "postgres": round(1000 * (cpu_after[1] - cpu_before[1]) / max(approved, 1), 2),
        },
        "wrk": summary,
        "statuses": statuses,
        "form_page": form,
        "client": f"wrk, {WRK_THREADS} threads, {WRK_CONNECTIONS} keep-alive connections",
        "stack_floor": _floor(workdir, url),
    }


def _floor(workdir: Path, url: str) -> dict[str, Any]:
    """``bench/floor.py``'s stand-in submission on the same machine, server and client: the
    rate no implementation of the submission exceeds here (see that module)."""
    address = floor.dsn(url)
    floor.prepare(address, _resident)
    lines = floor.write_submissions(address, workdir / "floor.tsv", HTTP_SUBMISSIONS, _form())
    port = free_port()
    server = floor.serve(port, address)
    try:
        wait_listening(port)
        cpu_before = _server_cpu(server.pid)
        summary = _wrk(f"http://127.0.0.1:{port}", lines)
        cpu_after = _server_cpu(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    done = summary["requests"] - summary["non_2xx"]
    return {
        "what": "bench/floor.py: one read and one write statement, one signature verified, "
        "the two fetches' seals made; no ORM, CMS, certificates, rules or validation",
        "submissions": done,
        "per_second": round(done / (summary["duration_us"] / 1e6), 1),
        "server_cpu_ms_per_submission": {
            "workers": round(1000 * (cpu_after[0] - cpu_before[0]) / max(done, 1), 2),
            "postgres": round(1000 * (cpu_after[1] - cpu_before[1]) / max(done, 1), 2),
        },
        "non_2xx": summary["non_2xx"],
    }


def _load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def run(workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "targets": {
            "sqlite_submissions_per_second": 200,
            "postgres_http_two_workers_submissions_per_second": 300,
            "form_page_p95_ms": 50,
        },
        "procedure": PROCEDURE,
        "cpus": os.cpu_count(),
        "load_before": _load(),
    }
    result["sqlite_in_process"] = sqlite_run(workdir / "sqlite")
    with postgres_url() as pg:
        if pg is None:
            result["postgres_http_two_workers"] = "skipped: no PostgreSQL server"
        else:
            result["postgres_http_two_workers"] = http_run(workdir / "pg", pg)
    result["load_after"] = _load()
    return result
