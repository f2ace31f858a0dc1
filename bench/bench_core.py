"""Foundation benchmarks: audit appends and outbox dispatch (issue #2 targets)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench.common import postgres_url, sqlite_url
from tsunagu.core.audit import service as audit
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.core.outbox import service as outbox

TARGETS = {
    "audit_batched_per_s": 20_000,
    "audit_one_tx_each_per_s": 2_000,
    "outbox_dispatch_per_s": 2_000,
}


@outbox.handler("bench.noop", name="bench.noop")
def _noop(session: Session, event: outbox.Event) -> None:
    """Does nothing: measures the dispatcher's own cost."""


def _record(session: Session, i: int) -> None:
    audit.record(
        session,
        actor="bench",
        action="bench.append",
        object_type="bench",
        object_id=str(i),
        data={"i": i, "note": "ベンチマーク"},
    )


def audit_batched(url: str, count: int) -> float:
    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    with transaction(factory) as session:
        for i in range(count):
            _record(session, i)
    return count / (time.perf_counter() - started)


def audit_one_tx_each(url: str, count: int) -> float:
    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    for i in range(count):
        with transaction(factory) as session:
            _record(session, i)
    return count / (time.perf_counter() - started)


def outbox_dispatch(url: str, count: int) -> float:
    factory = make_session_factory(make_engine(url))
    with transaction(factory) as session:
        for i in range(count):
            outbox.publish(session, "bench.noop", {"i": i})
    dispatcher = outbox.Dispatcher(factory, batch_size=500)
    started = time.perf_counter()
    handled = 0
    while handled < count:
        handled += dispatcher.run_once().done
    return count / (time.perf_counter() - started)


def _suite(url: str) -> dict[str, float]:
    return {
        "audit_batched_per_s": round(audit_batched(url, 50_000)),
        "audit_one_tx_each_per_s": round(audit_one_tx_each(url, 5_000)),
        "outbox_dispatch_per_s": round(outbox_dispatch(url, 5_000)),
    }


def run(workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {"targets_sqlite": TARGETS, "sqlite": _suite(sqlite_url(workdir))}
    with postgres_url() as pg:
        results["postgresql"] = _suite(pg) if pg else "unavailable"
    results["meets_targets_sqlite"] = all(results["sqlite"][k] >= v for k, v in TARGETS.items())
    return results
