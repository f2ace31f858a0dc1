"""The worker process: dispatch outbox events until told to stop.

It also freezes the audit trail's daily Merkle roots once a day has closed,
because that is periodic background work that needs no other scheduler.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.audit import service as audit
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.outbox.service import (
    PENDING,
    PROCESSING,
    Dispatcher,
    counts_by_status,
    load_handler_modules,
)

log = logging.getLogger(__name__)
ROOTS_EVERY_SECONDS = 60.0


def install_stop_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT finish the event in hand, then stop."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current event", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def _queue_drained(factory: sessionmaker[Session]) -> bool:
    """Nothing pending and nothing held by a worker (alive, or dead until its lease ends)."""
    with transaction(factory) as session:
        counts = counts_by_status(session)
    return not counts.get(PENDING) and not counts.get(PROCESSING)


def run(
    factory: sessionmaker[Session],
    settings: Settings,
    stop: threading.Event,
    *,
    handler_modules: list[str],
    until_idle: bool = False,
) -> int:
    """Dispatch until ``stop`` is set (or, with ``until_idle``, the queue is drained).

    Pending events whose retry time lies in the future count as not drained, so
    ``until_idle`` waits for backoff; use it for tests and batch jobs.
    """
    load_handler_modules(handler_modules)
    dispatcher = Dispatcher(
        factory,
        batch_size=settings.worker_batch_size,
        max_attempts=settings.outbox_max_attempts,
        backoff_base=settings.outbox_backoff_base,
        lease_seconds=settings.outbox_lease_seconds,
    )
    handled, last_roots = 0, 0.0
    while not stop.is_set():
        if time.monotonic() - last_roots > ROOTS_EVERY_SECONDS:
            with transaction(factory) as session:
                audit.publish_closed_days(session)
            last_roots = time.monotonic()
        stats = dispatcher.run_once()
        handled += stats.done
        if stats.claimed == 0:
            if until_idle and _queue_drained(factory):
                break
            stop.wait(settings.worker_poll_interval)
    return handled
