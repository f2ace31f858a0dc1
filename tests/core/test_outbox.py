"""Outbox: transactional publish, retries with backoff, dead letters, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.db import transaction
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.models import OutboxEvent, OutboxHandled

REPO = Path(__file__).resolve().parents[2]
calls: list[str] = []
failures_left: dict[str, int] = {}


@outbox.handler("test.count", name="tests.count")
def count_handler(session: Session, event: outbox.Event) -> None:
    calls.append(event.id)


@outbox.handler("test.flaky", name="tests.flaky")
def flaky_handler(session: Session, event: outbox.Event) -> None:
    if failures_left.get(event.id, 0) > 0:
        failures_left[event.id] -= 1
        raise ConnectionError("receiver down")
    calls.append(event.id)


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    failures_left.clear()


def _dispatcher(factory: sessionmaker[Session], **kwargs: object) -> outbox.Dispatcher:
    return outbox.Dispatcher(factory, backoff_base=0.0, **kwargs)  # type: ignore[arg-type]


def _statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(factory) as session:
        return outbox.counts_by_status(session)


def test_event_exists_only_if_business_transaction_commits(
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        outbox.publish(session, "test.count", {"n": 1})
        raise RuntimeError("business rule failed")
    with transaction(session_factory) as session:
        outbox.publish(session, "test.count", {"n": 2})
    assert _dispatcher(session_factory).run_once().done == 1
    assert len(calls) == 1


def test_handler_runs_once_even_if_event_is_redelivered(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        event_id = outbox.publish(session, "test.count", {})
    dispatcher = _dispatcher(session_factory)
    dispatcher.run_once()
    with transaction(session_factory) as session:  # simulate at-least-once redelivery
        session.execute(update(OutboxEvent).values(status="pending", next_attempt_at=utcnow()))
    dispatcher.run_once()
    assert calls == [event_id]


def test_failure_retries_with_backoff_then_succeeds(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        event_id = outbox.publish(session, "test.flaky", {})
    failures_left[event_id] = 2
    dispatcher = outbox.Dispatcher(session_factory, backoff_base=30.0)
    assert dispatcher.run_once().retried == 1
    with transaction(session_factory) as session:
        row = session.get(OutboxEvent, event_id)
        assert (
            row is not None
            and row.status == "pending"
            and "receiver down" in (row.last_error or "")
        )
        delay = (row.next_attempt_at - utcnow()).total_seconds()
    assert 25 < delay <= 30  # first retry after base · 2^0
    assert dispatcher.run_once().claimed == 0  # not due yet
    for _ in range(2):
        with transaction(session_factory) as session:
            session.execute(update(OutboxEvent).values(next_attempt_at=utcnow()))
        dispatcher.run_once()
    assert calls == [event_id]
    assert _statuses(session_factory) == {"done": 1}


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [outbox.backoff_delay(n, 2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert outbox.backoff_delay(40, 2.0) == outbox.MAX_BACKOFF_SECONDS


def test_dead_letter_after_max_attempts_and_requeue(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        event_id = outbox.publish(session, "test.flaky", {})
    failures_left[event_id] = 3
    dispatcher = _dispatcher(session_factory, max_attempts=3)
    for _ in range(3):
        dispatcher.run_once()
    assert _statuses(session_factory) == {"dead": 1}
    assert dispatcher.run_once().claimed == 0
    with transaction(session_factory) as session:
        assert outbox.requeue_dead(session, event_id)
    dispatcher.run_once()
    assert calls == [event_id]


def test_expired_lease_of_a_dead_worker_is_taken_over(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        outbox.publish(session, "test.count", {})
    crashed = _dispatcher(session_factory, lease_seconds=0.0, worker_id="crashed")
    assert len(crashed.claim()) == 1  # claimed, then the worker "dies"
    time.sleep(0.01)
    assert _dispatcher(session_factory, worker_id="survivor").run_once().done == 1
    assert len(calls) == 1


def test_a_live_lease_is_not_stolen(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        outbox.publish(session, "test.count", {})
    assert len(_dispatcher(session_factory, worker_id="a").claim()) == 1
    assert _dispatcher(session_factory, worker_id="b").run_once().claimed == 0


def _start_worker(database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_OUTBOX_LEASE_SECONDS": "1",
        "TSUNAGU_WORKER_BATCH_SIZE": "50",
        "TSUNAGU_WORKER_POLL_INTERVAL": "0.05",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tsunagu",
            "worker",
            "--until-idle",
            "--handlers",
            "tests.core.outbox_crash_handlers",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _effects(factory: sessionmaker[Session]) -> dict[str, int]:
    with transaction(factory) as session:
        rows = session.execute(
            text("SELECT event_id, COUNT(*) FROM crash_effects GROUP BY event_id")
        ).all()
    return {event_id: count for event_id, count in rows}


def test_worker_killed_mid_batch_loses_and_repeats_nothing(
    database_url: str, session_factory: sessionmaker[Session]
) -> None:
    total = 300
    with transaction(session_factory) as session:
        session.execute(
            text(
                "CREATE TABLE IF NOT EXISTS crash_effects"
                " (event_id VARCHAR(36), worker_pid INTEGER)"
            )
        )
        ids = [outbox.publish(session, "test.crash", {"n": n}) for n in range(total)]
    first = _start_worker(database_url)
    deadline = time.monotonic() + 60
    while len(_effects(session_factory)) < 60 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_before_restart = len(_effects(session_factory))
    assert 0 < done_before_restart < total, "the kill must land mid-run"
    assert _statuses(session_factory).get("processing", 0) > 0, (
        "some events were claimed but unfinished"
    )

    second = _start_worker(database_url)
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr.decode()

    effects = _effects(session_factory)
    assert sorted(effects) == sorted(ids), "every event handled"
    assert set(effects.values()) == {1}, "no event handled twice"
    assert _statuses(session_factory) == {"done": total}
    with transaction(session_factory) as session:
        markers = session.execute(select(OutboxHandled.event_id)).scalars().all()
    assert sorted(markers) == sorted(ids)
