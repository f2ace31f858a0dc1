"""Publishing events and dispatching them to handlers.

Delivery is at-least-once; handlers become exactly-once *in effect* because
each handler's work and its ``outbox_handled`` marker commit together. A
worker that dies mid-batch leaves its claimed events locked only until their
lease runs out; another worker (or the same one restarted) then takes them and
skips every handler whose marker is already there.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.db import insert_on_driver
from tsunagu.core.outbox.models import OUTBOX_EVENTS, OutboxEvent, OutboxHandled

log = logging.getLogger(__name__)

PENDING, PROCESSING, DONE, DEAD = "pending", "processing", "done", "dead"
MAX_BACKOFF_SECONDS = 3600.0


@dataclass(frozen=True)
class Event:
    id: str
    topic: str
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[Session, Event], None]
_HANDLERS: dict[str, dict[str, Handler]] = {}


def handler(topic: str, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for ``topic``; its name keys the idempotency marker."""

    def register(fn: Handler) -> Handler:
        _HANDLERS.setdefault(topic, {})[name or f"{fn.__module__}.{fn.__qualname__}"] = fn
        return fn

    return register


def handlers_for(topic: str) -> dict[str, Handler]:
    return _HANDLERS.get(topic, {})


def load_handler_modules(modules: list[str]) -> None:
    """Import modules whose import registers handlers (the worker's plug-in point)."""
    for module in modules:
        importlib.import_module(module)


def publish(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    event_id: str | None = None,
    fresh_id: bool = False,
) -> str:
    """Queue an event in the caller's transaction; it exists only if that commits.

    Written on the session's connection rather than added to the session: nothing reads an
    event back through the ORM in the publishing transaction, and a unit of work for one
    row costs more than the row. An id that cannot clash (made here, or ``fresh_id``: one
    the caller has just made) lets the row be written late (see ``core.db``); a given id
    may repeat one already queued (a provider's event delivered twice), and the caller is
    told at once.
    """
    now = utcnow()
    fresh = fresh_id or event_id is None
    event_id = event_id or str(uuid.uuid4())
    event = {
        "id": event_id,
        "topic": topic,
        "payload": json.dumps(payload, ensure_ascii=False),
        "created_at": now,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
    }
    insert_on_driver(session.connection(), OUTBOX_EVENTS, [event], late=fresh)
    return event_id


def backoff_delay(attempts: int, base: float) -> float:
    """Exponential backoff: base · 2^(attempts-1), capped at an hour."""
    return float(min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF_SECONDS))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class DispatchStats:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    dead: int = 0


class Dispatcher:
    """Claims batches of due events and runs their handlers."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease_seconds: float = 60.0,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
    ) -> None:
        self.factory = factory
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base

    def claim(self) -> list[Event]:
        """Lock up to ``batch_size`` due events for this worker (SKIP LOCKED on PostgreSQL)."""
        now = utcnow()
        due = or_(
            and_(OutboxEvent.status == PENDING, OutboxEvent.next_attempt_at <= now),
            and_(OutboxEvent.status == PROCESSING, OutboxEvent.locked_until < now),
        )
        with self.factory.begin() as session:
            query = (
                select(OutboxEvent)
                .where(due)
                .order_by(OutboxEvent.created_at, OutboxEvent.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).scalars().all()
            for row in rows:
                row.status, row.locked_by, row.locked_until = (
                    PROCESSING,
                    self.worker_id,
                    now + self.lease,
                )
                row.attempts += 1
            return [Event(r.id, r.topic, json.loads(r.payload), r.attempts) for r in rows]

    def _completed(self, event_ids: list[str]) -> set[tuple[str, str]]:
        """(handler, event) pairs already done, read once per batch."""
        with self.factory() as session:
            rows = session.execute(
                select(OutboxHandled.handler, OutboxHandled.event_id).where(
                    OutboxHandled.event_id.in_(event_ids)
                )
            ).all()
        return {(handler, event_id) for handler, event_id in rows}

    def _run_handler(self, name: str, fn: Handler, event: Event) -> None:
        """Run one handler and write its marker in one transaction.

        The marker's primary key is the last line of defence: if another worker
        finished the same handler meanwhile, the insert fails and this
        handler's effects roll back with it.
        """
        try:
            with self.factory.begin() as session:
                fn(session, event)
                session.execute(
                    insert(OutboxHandled).values(
                        handler=name, event_id=event.id, handled_at=utcnow()
                    )
                )
        except IntegrityError:
            if (name, event.id) not in self._completed([event.id]):
                raise  # the handler's own constraint failed, not a concurrent completion
            log.info("handler %s already completed event %s elsewhere", name, event.id)

    def _process(self, event: Event, completed: set[tuple[str, str]]) -> None:
        for name, fn in handlers_for(event.topic).items():
            if (name, event.id) not in completed:
                self._run_handler(name, fn, event)

    def _fail(self, event: Event, exc: Exception) -> str:
        log.warning(
            "event %s (%s) failed on attempt %d: %s", event.id, event.topic, event.attempts, exc
        )
        error = f"{type(exc).__name__}: {exc}"[:2000]
        values: dict[str, Any] = {"locked_by": None, "locked_until": None, "last_error": error}
        if event.attempts >= self.max_attempts:
            status = DEAD
        else:
            status = PENDING
            values["next_attempt_at"] = utcnow() + timedelta(
                seconds=backoff_delay(event.attempts, self.backoff_base)
            )
        with self.factory.begin() as session:
            session.execute(self._held([event.id]).values(status=status, **values))
        return status

    def _held(self, event_ids: list[str]) -> Any:
        """UPDATE of events still held by this worker (a lost lease makes it a no-op)."""
        return update(OutboxEvent).where(
            OutboxEvent.id.in_(event_ids), OutboxEvent.locked_by == self.worker_id
        )

    def _mark_done(self, event_ids: list[str]) -> None:
        """One statement for the batch; a crash before it only causes skipped re-runs."""
        if not event_ids:
            return
        with self.factory.begin() as session:
            session.execute(
                self._held(event_ids).values(
                    status=DONE,
                    locked_by=None,
                    locked_until=None,
                    processed_at=utcnow(),
                    last_error=None,
                )
            )

    def run_once(self) -> DispatchStats:
        """Claim one batch and process it; the unit a worker loop repeats."""
        events = self.claim()
        stats = DispatchStats(claimed=len(events))
        if not events:
            return stats
        completed = self._completed([e.id for e in events])
        finished: list[str] = []
        for event in events:
            try:
                self._process(event, completed)
            except Exception as exc:
                if self._fail(event, exc) == DEAD:
                    stats.dead += 1
                else:
                    stats.retried += 1
                continue
            finished.append(event.id)
        self._mark_done(finished)
        stats.done = len(finished)
        return stats


def requeue_dead(session: Session, event_id: str) -> bool:
    """Give a dead-lettered event another full set of attempts (operator action)."""
    event = session.get(OutboxEvent, event_id)
    if event is None or event.status != DEAD:
        return False
    event.status, event.attempts, event.next_attempt_at, event.last_error = (
        PENDING,
        0,
        utcnow(),
        None,
    )
    return True


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)
    ).all()
    return {status: count for status, count in rows}


def next_due(session: Session) -> datetime | None:
    return session.execute(
        select(OutboxEvent.next_attempt_at)
        .where(OutboxEvent.status == PENDING)
        .order_by(OutboxEvent.next_attempt_at)
        .limit(1)
    ).scalar()
