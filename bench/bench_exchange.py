"""Once-only fetch: authorization + projection + both seals + access log, per fetch.

In-process on SQLite: a municipality keeps N residents in its 住民基本台帳;
each measured fetch is one transaction in which the requester seals its
request, the exchange checks seal, freshness, case, matrix and consent,
projects the record, seals the answer with the owner's seal and logs the
access in the hash-chained audit; the requester then verifies the answer.
Over HTTP on PostgreSQL: the same through ``POST /api/exchange/fetch`` served
by uvicorn with two workers (requests sealed beforehand by the client side).

Sizes: ``TSUNAGU_BENCH_EXCHANGE_SIZES`` (default ``100000``; add ``1000000``
to see how cost grows with the register).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from bench.common import percentile, postgres_url, sqlite_url
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.schemas import OfficialIn, OfficialRole
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

FETCHES = 2000
CASES = 2000
HTTP_REQUESTS = 4000
PASSWORD = "bench-ca-password"
TOWNS = ["永田町", "霞が関", "丸の内", "大手町", "神田", "有楽町", "麹町", "番町"]


def _resident(i: int) -> dict[str, Any]:
    return {
        "resident_code": f"{10_000_000_000 + i:011d}",
        "name": {"family": "山田", "given": f"太郎{i % 1000}"},
        "kana": {"family": "ヤマダ", "given": "タロウ"},
        "birth_date": f"{1940 + i % 80}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "sex": "男" if i % 2 else "女",
        "address": {
            "postal_code": "1000014",
            "municipality_code": "131016",
            "prefecture": "東京都",
            "municipality": "千代田区",
            "town": TOWNS[i % len(TOWNS)],
            "block": f"{1 + i % 9}丁目{1 + i % 30}番{1 + i % 20}号",
        },
        "household": {
            "household_id": str(uuid.UUID(int=i // 3 + 1)),
            "head_name": "山田 太郎",
            "relationship": "世帯主" if i % 3 == 0 else "子",
        },
        "became_resident": "2000-04-01",
        "status": "住民",
    }


def _subject(i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-person-{i}"))


def _records(n: int, keeper: str) -> Iterator[registry.InitialRecord]:
    for i in range(n):
        yield registry.InitialRecord(_subject(i), keeper, _resident(i), date(2000, 4, 1))


def _world(
    url: str, settings: Settings, n: int
) -> tuple[sessionmaker[Session], str, list[tuple[str, str]], float]:
    """Load the register and open cases; returns (factory, municipality, cases, load seconds)."""
    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    with transaction(factory) as session:
        trust.init_pki(session, settings)
        chiyoda = identity.ensure_local_government(session, "131016", actor="bench").id
        sealing.store_for(settings).ensure(session, chiyoda, actor="bench")
    with transaction(factory) as session:
        registry.bulk_load(session, "juki", _records(n, chiyoda), actor="bench")
    load_seconds = time.perf_counter() - started
    rng = random.Random(4)
    cases = []
    with transaction(factory) as session:
        for c in range(CASES):
            subject = _subject(rng.randrange(n))
            ref = f"JT-{c:06d}"
            exchange.open_case(
                session, requester_id=chiyoda, procedure_id="jidou_teate_nintei",
                application_ref=ref, subjects={subject: "applicant"}, actor="bench",
            )  # fmt: skip
            cases.append((ref, subject))
    return factory, chiyoda, cases, load_seconds


def _in_process(factory: sessionmaker[Session], store: sealing.SealStore, chiyoda: str,
                cases: list[tuple[str, str]]) -> dict[str, Any]:  # fmt: skip
    samples = []
    for i in range(FETCHES):
        ref, subject = cases[i % len(cases)]
        started = time.perf_counter()
        with transaction(factory) as session:
            evidence = exchange.fetch_evidence(
                session, store, requester_id=chiyoda, procedure_id="jidou_teate_nintei",
                application_ref=ref, evidence_type="juminhyo_kisai", subject_id=subject,
            )  # fmt: skip
        samples.append((time.perf_counter() - started) * 1000)
        assert evidence.records
    samples = samples[100:]  # warm-up: key loading, caches
    return {
        "fetches": len(samples),
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "mean_ms": round(sum(samples) / len(samples), 3),
    }


def sqlite_run(workdir: Path, n: int) -> dict[str, Any]:
    url = sqlite_url(workdir, f"exchange-{n}")
    settings = Settings(database_url=url, var_dir=workdir / f"var-{n}", pki_key_password=PASSWORD)
    factory, chiyoda, cases, load = _world(url, settings, n)
    result = _in_process(factory, sealing.store_for(settings), chiyoda, cases)
    return {"residents": n, "load_seconds": round(load, 1), **result}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _official_token(factory: sessionmaker[Session], chiyoda: str) -> tuple[str, str]:
    with transaction(factory) as session:
        official = identity.create_official(
            session,
            OfficialIn(organization_id=chiyoda, display_name="bench", login_name="bench",
                       roles=[OfficialRole.COUNTER_STAFF]),
            actor="bench",
        )  # fmt: skip
        started = sessions.start(session, method="bench", ial=2, aal=2, official_id=official.id)
    return started.token, started.token


def http_run(workdir: Path, url: str, n: int) -> dict[str, Any]:
    var = workdir / f"var-pg-{n}"
    settings = Settings(database_url=url, var_dir=var, pki_key_password=PASSWORD)
    factory, chiyoda, cases, load = _world(url, settings, n)
    token, _ = _official_token(factory, chiyoda)
    csrf = sessions.csrf_token(settings.secret_key, token)
    store = sealing.store_for(settings)
    # The same fetch without HTTP, one thread: what one core does per fetch on PostgreSQL.
    in_process = _in_process(factory, store, chiyoda, cases)
    with factory() as session:
        envelopes = [
            exchange.request_envelope(
                session,
                store,
                requester_id=chiyoda,
                procedure_id="jidou_teate_nintei",
                application_ref=cases[i % len(cases)][0],
                evidence_type="juminhyo_kisai",
                subject_id=cases[i % len(cases)][1],
            )
            for i in range(HTTP_REQUESTS)
        ]
    port = _free_port()
    env = os.environ | {
        "TSUNAGU_DATABASE_URL": url,
        "TSUNAGU_VAR_DIR": str(var),
        "TSUNAGU_PKI_KEY_PASSWORD": PASSWORD,
        "TSUNAGU_SECRET_KEY": settings.secret_key,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tsunagu.web.app:create_app", "--factory",
         "--workers", "2", "--port", str(port), "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/audit/roots", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"x-csrf-token": csrf}
        cookies = {sessions.COOKIE: token}
        warm, measured = envelopes[:200], envelopes[200:]

        def send(batch: list[dict[str, Any]]) -> list[int]:
            with httpx.Client(base_url=base, headers=headers, cookies=cookies) as client:
                return [client.post("/api/exchange/fetch", json=e).status_code for e in batch]

        send(warm)
        threads = 8
        slices = [measured[i::threads] for i in range(threads)]
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            codes = [c for part in pool.map(send, slices) for c in part]
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    return {
        "residents": n,
        "load_seconds": round(load, 1),
        "requests": len(codes),
        "ok": sum(c == 200 for c in codes),
        "fetches_per_second": round(len(codes) / seconds, 1),
        "client": f"{threads} threads, keep-alive, requests sealed beforehand",
        "in_process_one_thread": in_process,
    }


def run(workdir: Path) -> dict[str, Any]:
    sizes = [int(s) for s in os.environ.get("TSUNAGU_BENCH_EXCHANGE_SIZES", "100000").split(",")]
    result: dict[str, Any] = {
        # The machine's size and how busy it was: HTTP throughput depends on both.
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "targets": {
            "sqlite_in_process_100k": {"p50_ms": 2.0, "p99_ms": 10.0},
            "postgres_http_two_workers": {"fetches_per_second": 1000},
        },
        "sqlite_in_process": [sqlite_run(workdir, n) for n in sizes],
    }
    http: list[Any] = []
    for n in sizes:
        with postgres_url() as url:
            http.append(http_run(workdir, url, n) if url else "PostgreSQL unreachable")
    result["postgres_http"] = http
    return result
