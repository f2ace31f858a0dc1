"""Once-only fetch: authorization + projection + both seals + access log, per fetch.

In-process on SQLite: a municipality keeps N residents in its 住民基本台帳;
each measured fetch is one transaction in which the requester seals its
request, the exchange checks seal, freshness, case, matrix and consent,
projects the record, seals the answer with the owner's seal and logs the
access in the hash-chained audit; the requester then verifies the answer.
Over HTTP on PostgreSQL: the same through ``POST /api/exchange/fetch`` served
by ``tsunagu serve --workers 2``, driven by wrk (a C client, so the client
takes little of the two cores) with requests sealed beforehand and each sent
once (the replay check refuses a second copy). Successful fetches are counted
in the access log, not by the client. Every run reports the CPU the workers,
PostgreSQL and the client used per request, and the same for the trivial
``/healthz``: on a small machine where all three share the cores, CPU per
request bounds the rate (cores / CPU per request), whatever the code does.
Beside them, ``stack_floor``: the same set-up serving ``bench/floor.py``, a
stand-in doing only the work no fetch can skip (the most any fetch can reach
on this machine).

Sizes: ``TSUNAGU_BENCH_EXCHANGE_SIZES`` (default ``100000``; add ``1000000``
to see how cost grows with the register).
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench import floor
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
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.exchange.models import ACCESS_LOG
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.schemas import OfficialIn, OfficialRole
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

FETCHES = 2000
CASES = 2000
HTTP_REQUESTS = 4000
WORKERS = 2
FETCH_PATH = "/api/exchange/fetch"
WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "fetch.lua"
WRK_THREADS = 1
WRK_CONNECTIONS = 16
WRK_SECONDS = 10
WRK_BODIES = 25_000
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


def _official_token(factory: sessionmaker[Session], chiyoda: str) -> str:
    with transaction(factory) as session:
        official = identity.create_official(
            session,
            OfficialIn(organization_id=chiyoda, display_name="bench", login_name="bench",
                       roles=[OfficialRole.COUNTER_STAFF]),
            actor="bench",
        )  # fmt: skip
        return sessions.start(session, method="bench", ial=2, aal=2, official_id=official.id).token


def _envelopes(
    factory: sessionmaker[Session], store: sealing.SealStore, chiyoda: str,
    cases: list[tuple[str, str]], count: int, path: Path,
) -> Path:  # fmt: skip
    """``count`` sealed fetch requests, one JSON body a line (each may be sent once)."""
    with factory() as session, path.open("w", encoding="utf-8") as out:
        for i in range(count):
            ref, subject = cases[i % len(cases)]
            envelope = exchange.request_envelope(
                session, store, requester_id=chiyoda, procedure_id="jidou_teate_nintei",
                application_ref=ref, evidence_type="juminhyo_kisai", subject_id=subject,
            )  # fmt: skip
            out.write(json.dumps(envelope, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:8]) - idle) / hz, sum(ticks[:8]) / hz


class _Cpu:
    """CPU seconds used by the server workers, PostgreSQL and the whole machine over a run."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def sample(self) -> dict[str, Any]:
        workers = [p for p in children(self.server_pid) if b"resource_tracker" not in _cmdline(p)]
        return {
            "workers": {pid: cpu_seconds(pid) for pid in workers},
            "postgres": sum(cpu_seconds(pid) for pid in postgres_pids()),
            "machine": _machine_busy(),
        }

    @staticmethod
    def used(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        workers = {
            pid: round(after["workers"][pid] - before["workers"].get(pid, 0.0), 2)
            for pid in after["workers"]
        }
        return {
            "workers_s": list(workers.values()),
            # backends that ended during the run take their CPU time with them
            "postgres_s": round(max(after["postgres"] - before["postgres"], 0.0), 2),
            "machine_busy_s": round(after["machine"][0] - before["machine"][0], 2),
            "machine_total_s": round(after["machine"][1] - before["machine"][1], 2),
        }


def _serve(url: str, var: Path, settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """``tsunagu serve --workers 2`` as an operator would start it (no access log)."""
    env = os.environ | {
        "TSUNAGU_DATABASE_URL": url,
        "TSUNAGU_VAR_DIR": str(var),
        "TSUNAGU_PKI_KEY_PASSWORD": PASSWORD,
        "TSUNAGU_SECRET_KEY": settings.secret_key,
    }
    server = subprocess.Popen(
        [sys.executable, "-c", "from tsunagu.cli import main; main()", "serve",
         "--workers", str(WORKERS), "--port", str(port), "--no-access-log"],
        env=env,
    )  # fmt: skip
    for _ in range(150):
        try:
            httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            if len(children(server.pid)) >= WORKERS:
                time.sleep(1.0)  # every worker has bound its socket
                return server
        except httpx2.HTTPError:
            pass
        time.sleep(0.2)
    return server


def _wrk(base: str, bodies: Path | None, path: str, cookie: str, csrf: str,
         seconds: int) -> dict[str, Any]:  # fmt: skip
    """One wrk run; returns its summary and the CPU wrk itself used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{seconds}s",
         "--timeout", "10s", "-s", str(WRK_SCRIPT), base, "--",
         str(bodies or ""), path, str(WRK_THREADS), cookie, csrf],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["client_cpu_s"] = round(
        after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2
    )
    return summary


def _provided(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(
            session.execute(
                select(func.count()).where(ACCESS_LOG.c.outcome == "provided")
            ).scalar_one()
        )


def _settled(count: Callable[[], int]) -> None:
    """Wait until ``count`` stops moving (requests wrk abandoned at its deadline complete)."""
    last = count()
    for _ in range(60):
        time.sleep(1.0)
        now = count()
        if now == last:
            return
        last = now


def _measured(
    cpu: _Cpu, run: Callable[[], dict[str, Any]], count: Callable[[], int] | None
) -> dict[str, Any]:
    """A run with the CPU every party used; per-request CPU is what bounds the rate on 2 cores.

    ``count`` reads how many requests really succeeded (for fetches: access-log rows
    with outcome provided); without it wrk's count of 2xx answers stands.
    """
    before_count, before = (count() if count else 0), cpu.sample()
    summary = run()
    used = cpu.used(before, cpu.sample())
    done = count() - before_count if count else summary["requests"] - summary["non_2xx"]
    seconds = summary["duration_us"] / 1e6
    per = sum(used["workers_s"]) + used["postgres_s"] + summary.get("client_cpu_s", 0.0)
    per_ms = 1000 * per / max(done, 1)
    return {
        **summary,
        "ok": done,
        "per_second": round(done / seconds, 1),
        "cpu": used,
        "cpu_ms_per_request": {
            "server_workers": round(1000 * sum(used["workers_s"]) / max(done, 1), 3),
            "postgres": round(1000 * used["postgres_s"] / max(done, 1), 3),
            "client": round(1000 * summary.get("client_cpu_s", 0.0) / max(done, 1), 3),
            "all_three": round(per_ms, 3),
        },
        # What the machine could do if its cores did nothing else: cores / CPU per request.
        "ceiling_per_second_all_cores": round((os.cpu_count() or 1) * 1000 / per_ms, 1),
        "worker_share": [
            round(w / max(sum(used["workers_s"]), 1e-9), 2) for w in used["workers_s"]
        ],
        "load_average": os.getloadavg(),
    }


def _floor(workdir: Path, url: str) -> dict[str, Any]:
    """``bench/floor.py``'s stand-in fetch on the same machine, server and client: the rate
    no implementation of the fetch exceeds here (see that module)."""
    address = floor.dsn(url)
    floor.prepare(address, _resident)
    bodies = floor.write_fetches(workdir / "floor.jsonl", WRK_BODIES)
    port = free_port()
    server = floor.serve(port, address)
    try:
        wait_listening(port)
        base = f"http://127.0.0.1:{port}"
        measured = _measured(
            _Cpu(server.pid),
            lambda: _wrk(base, bodies, floor.FETCH_PATH, floor.OFFICIAL_COOKIE, "", WRK_SECONDS),
            None,
        )
    finally:
        server.terminate()
        server.wait(20)
    return {
        "what": "bench/floor.py: JSON, one ECDSA verify and one sign, two statements and a "
        "pipelined commit; no ORM, CMS, certificates, matrix or validation",
        "per_second": measured["per_second"],
        "cpu_ms_per_request": measured["cpu_ms_per_request"],
        "non_2xx": measured["non_2xx"],
    }


def _python_client(base: str, bodies: Path, cookie: str, csrf: str) -> dict[str, Any]:
    """Fallback when wrk is missing: 8 threads of httpx2 (costs far more CPU than the server)."""
    lines = bodies.read_text(encoding="utf-8").splitlines()[:HTTP_REQUESTS]
    headers = {"x-csrf-token": csrf, "content-type": "application/json", "cookie": cookie}

    def send(batch: list[str]) -> list[int]:
        with httpx2.Client(base_url=base, headers=headers) as client:
            return [client.post("/api/exchange/fetch", content=b).status_code for b in batch]

    threads = 8
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        codes = [c for part in pool.map(send, [lines[i::threads] for i in range(threads)])
                 for c in part]  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "requests": len(codes),
        "duration_us": int(seconds * 1e6),
        "non_2xx": sum(c != 200 for c in codes),
    }


def http_run(workdir: Path, url: str, n: int) -> dict[str, Any]:
    var = workdir / f"var-pg-{n}"
    settings = Settings(database_url=url, var_dir=var, pki_key_password=PASSWORD)
    factory, chiyoda, cases, load = _world(url, settings, n)
    token = _official_token(factory, chiyoda)
    csrf = sessions.csrf_token(settings.secret_key, token)
    cookie = f"{sessions.COOKIE}={token}"
    store = sealing.store_for(settings)
    # The same fetch without HTTP, one thread: what one core does per fetch on PostgreSQL.
    in_process = _in_process(factory, store, chiyoda, cases)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(url, var, settings, port)
    result: dict[str, Any] = {"residents": n, "load_seconds": round(load, 1)}
    try:
        cpu = _Cpu(server.pid)
        if shutil.which("wrk"):
            warm = _envelopes(factory, store, chiyoda, cases, 2000, workdir / "warm.jsonl")
            _wrk(base, warm, FETCH_PATH, cookie, csrf, 3)
            _settled(lambda: _provided(factory))  # warm-up fetches still in flight finish
            # Sealed beforehand (requests are fresh for five minutes): more than can be sent.
            bodies = _envelopes(
                factory, store, chiyoda, cases, WRK_BODIES, workdir / "bodies.jsonl"
            )
            fetches = _measured(
                cpu, lambda: _wrk(base, bodies, FETCH_PATH, cookie, csrf, WRK_SECONDS),
                lambda: _provided(factory),
            )  # fmt: skip
            health = _measured(
                cpu, lambda: _wrk(base, None, "/healthz", cookie, csrf, WRK_SECONDS), None
            )  # fmt: skip
            result |= {
                "client": f"wrk, {WRK_THREADS} thread(s), {WRK_CONNECTIONS} keep-alive "
                f"connections, {WRK_SECONDS} s, each request sealed beforehand and sent once",
                "fetches_per_second": fetches["per_second"],
                "fetch": fetches,
                "trivial_endpoint_healthz": health,
                "stack_floor": _floor(workdir, url),
            }
        else:
            bodies = _envelopes(factory, store, chiyoda, cases, HTTP_REQUESTS, workdir / "b.jsonl")
            fetches = _measured(cpu, lambda: _python_client(base, bodies, cookie, csrf),
                                lambda: _provided(factory))  # fmt: skip
            result |= {
                "client": "python httpx2, 8 threads (wrk not installed: apt-get install wrk)",
                "fetches_per_second": fetches["per_second"],
                "fetch": fetches,
            }
    finally:
        server.terminate()
        server.wait(20)
    return {**result, "in_process_one_thread": in_process}


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
