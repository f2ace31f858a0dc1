"""Life-event webhook dispatcher: deliveries per second to a local receiver.

Setup (not measured): a PKI with the platform's seal, four companies
(電力・ガス・水道・銀行) subscribed to moves, residents who consented to all
four, and two ``notify("moved", …)`` per resident: two rounds of
``DELIVERIES`` rows. A receiver process (:mod:`tsunagu.lifeevent.receiver`,
uvicorn) listens on 127.0.0.1. Measured: one :class:`WebhookDispatcher`
draining the first round — claim, HMAC and seal (a detached CMS per
delivery), POSTs from eight threads over pooled keep-alive ``httpx2``
transports, outcomes recorded — until nothing is due; then the second round
drained by one such dispatcher process per CPU started together (how a
deployment scales: each claims its own batches). The receiver must have
accepted every delivery exactly once. Runs on SQLite and, when reachable,
PostgreSQL. The machine's CPUs and load are reported with the figures, and
the CPU time per delivery of dispatcher and receiver, which does not depend
on what else the machine runs.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import func, select, update

from bench.common import cpu_seconds, free_port, postgres_url, sqlite_url
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import (
    OfficialRole,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Sex,
)
from tsunagu.lifeevent import notices
from tsunagu.lifeevent.models import NoticeDelivery
from tsunagu.lifeevent.webhooks import WebhookDispatcher
from tsunagu.trust import service as trust

DELIVERIES = int(os.environ.get("TSUNAGU_BENCH_LIFEEVENT_DELIVERIES", "8000"))  # per round
COMPANIES = (
    ("electricity", "つなぐ電力", "ツナグデンリョク", "1180301018771"),
    ("gas", "つなぐガス", "ツナグガス", "4011105001589"),
    ("water", "つなぐ水道サービス", "ツナグスイドウサービス", "7020005008492"),
    ("bank", "つなぐ銀行", "ツナグギンコウ", "2000012010019"),
)
PLATFORM_NUMBER = "7000012050002"
# Two rounds of the same size: one drained by one dispatcher, one by a process per CPU.
ROUNDS = ("bench-one", "bench-many")
TARGET_PER_SECOND = 500.0


def _start_receiver(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tsunagu.lifeevent.receiver", "--port", str(port)]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/stats", timeout=1.0)
            return process
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the receiver did not start")


def _prepare(url: str, workdir: Path, webhook: str) -> tuple[Any, Settings]:
    settings = Settings(
        database_url=url,
        var_dir=workdir / "var",
        pki_key_password="bench-ca-password",
        platform_corporate_number=PLATFORM_NUMBER,
    )
    factory = make_session_factory(make_engine(url))
    residents = DELIVERIES // len(COMPANIES)
    with transaction(factory) as session:
        trust.init_pki(session, settings)
        platform = identity.create_organization(
            session,
            OrganizationIn(
                kind=OrganizationKind.MINISTRY, name_ja="デジタル庁", name_kana="デジタルチョウ",
                corporate_number=PLATFORM_NUMBER,
            ),
            actor="bench",
        ).id  # fmt: skip
        sealing.store_for(settings).ensure(session, platform, actor="bench")
        subscribers = []
        for sector, name, kana, number in COMPANIES:
            org = identity.create_organization(
                session,
                OrganizationIn(
                    kind=OrganizationKind.CORPORATION, name_ja=name, name_kana=kana,
                    corporate_number=number,
                ),
                actor="bench",
            ).id  # fmt: skip
            admin = Actor(
                ActorKind.OFFICIAL, 1, 1, official_id="bench", organization_id=org,
                roles=frozenset({OfficialRole.ADMINISTRATOR}),
            )  # fmt: skip
            registered = notices.register_subscriber(
                session, settings, admin, corporate_number=number, sector=sector,
                webhook_url=webhook, declared={"moved": ["name", "new_address", "move_date"]},
            )  # fmt: skip
            subscribers.append(registered.subscriber.id)
        people = [
            PersonIn(
                family_name="山田", given_name=f"花子{i}", family_name_kana="ヤマダ",
                given_name_kana="ハナコ", birth_date=date(1980, 1, 2), sex=Sex.FEMALE,
            )
            for i in range(residents)
        ]  # fmt: skip
        person_ids = identity.create_persons(
            session, people, actor="bench", vault=MyNumberVault.from_settings(settings)
        )
    with transaction(factory) as session:
        for person in person_ids:
            resident = Actor(ActorKind.PERSON, 3, 2, person_id=person)
            for subscriber in subscribers:
                notices.give_consent(session, resident, subscriber_id=subscriber, event="moved")
    data = {
        "name": "山田\u3000花子",
        "new_address": {"postal_code": "1000014", "text": "東京都千代田区永田町一丁目7番1号"},
        "move_date": "2025-05-01",
    }
    with transaction(factory) as session:
        for rounds in ROUNDS:
            for person in person_ids:
                notices.notify(session, "moved", person, data, source=f"{rounds}:{person}")
        # the second round waits (due tomorrow) until the first has been measured
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.source.like(f"{ROUNDS[1]}:%"))
            .values(next_attempt_at=utcnow() + timedelta(days=1))
        )
    return factory, settings


def _drain(dispatcher: WebhookDispatcher) -> int:
    """Deliver until nothing is due now (the held round is due tomorrow)."""
    delivered = 0
    while (stats := dispatcher.run_once()).claimed:
        delivered += stats.delivered
    return delivered


def _child(url: str, settings: Settings, start: Any, results: Any) -> None:
    """One dispatcher process: its own engine and connections, started with the others."""
    factory = make_session_factory(make_engine(url))
    with WebhookDispatcher(factory, settings, batch_size=500, concurrency=8) as dispatcher:
        start.wait()
        cpu = time.process_time()
        delivered = _drain(dispatcher)
        results.put((delivered, time.process_time() - cpu))


def _in_processes(url: str, settings: Settings, processes: int) -> tuple[int, float, float]:
    """Delivered, seconds and dispatcher CPU seconds of ``processes`` forked dispatchers."""
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes + 1), context.Queue()
    children = [
        context.Process(target=_child, args=(url, settings, start, results))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    start.wait()
    started = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in children]
    elapsed = time.perf_counter() - started
    for child in children:
        child.join(timeout=30)
    return sum(d for d, _ in outcomes), elapsed, sum(c for _, c in outcomes)


def _measure(url: str, workdir: Path) -> dict[str, Any]:
    port = free_port()
    receiver = _start_receiver(port)
    try:
        factory, settings = _prepare(url, workdir, f"http://127.0.0.1:{port}/notices")
        with factory() as session:
            waiting = session.scalar(select(func.count()).select_from(NoticeDelivery)) or 0
        load_before = os.getloadavg()
        receiver_cpu = cpu_seconds(receiver.pid)
        with WebhookDispatcher(factory, settings, batch_size=500, concurrency=8) as dispatcher:
            started, cpu = time.perf_counter(), time.process_time()
            delivered = _drain(dispatcher)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        receiver_cpu = cpu_seconds(receiver.pid) - receiver_cpu
        with transaction(factory) as session:
            session.execute(update(NoticeDelivery).values(next_attempt_at=utcnow()))
        factory.kw["bind"].dispose()  # no pooled connection crosses the fork
        processes = os.cpu_count() or 2
        many = _in_processes(url, settings, processes)
        load_after = os.getloadavg()
        stats = httpx2.get(f"http://127.0.0.1:{port}/stats").json()
        with factory() as session:
            statuses = dict(
                session.execute(
                    select(NoticeDelivery.status, func.count()).group_by(NoticeDelivery.status)
                ).all()
            )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    rate = delivered / elapsed
    return {
        "deliveries": waiting,
        "receiver_accepted": stats["accepted"],
        "one_process": {
            "delivered": delivered,
            "seconds": round(elapsed, 3),
            "deliveries_per_second": round(rate, 1),
        },
        f"{processes}_processes": {
            "delivered": many[0],
            "seconds": round(many[1], 3),
            "deliveries_per_second": round(many[0] / many[1], 1),
            "dispatcher_cpu_ms_per_delivery": round(many[2] / many[0] * 1000, 3),
        },
        "statuses": {str(k): int(v) for k, v in statuses.items()},
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": max(rate, many[0] / many[1]) >= TARGET_PER_SECOND
        and stats["accepted"] == waiting,
        # CPU per delivery says what the machine's load hides: the rate one free core allows
        "dispatcher_cpu_ms_per_delivery": round(cpu / delivered * 1000, 3),
        "receiver_cpu_ms_per_delivery": round(receiver_cpu / delivered * 1000, 3),
        "deliveries_per_cpu_second": round(delivered / cpu, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


def run(workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "sqlite": _measure(sqlite_url(workdir, "lifeevent"), workdir / "sqlite"),
    }
    with postgres_url() as url:
        if url is not None:
            result["postgresql"] = _measure(url, workdir / "postgresql")
    return result
