"""Webhook delivery of life-event notices: signed twice, sent concurrently, retried, dead-lettered.

Each POST carries the notice JSON and two signatures over the exact body bytes:

- ``X-Tsunagu-Signature: t=<unix seconds>,v1=<hex>`` — HMAC-SHA256 with the
  subscriber's own secret over ``"<t>." + body``, so the company knows the
  request is from the platform and can refuse replays of old timestamps;
- ``X-Tsunagu-Seal`` — a detached CMS signature (Base64 DER) over the body made
  with the platform organization's seal certificate, which anyone holding the
  platform root can verify (``openssl cms -verify``) and keep as evidence.

The dispatcher claims a batch of due deliveries (``SKIP LOCKED`` on
PostgreSQL, so several dispatchers share the work), signs and posts them from
a pool of threads, each keeping its own ``httpx2.HTTPTransport`` with
keep-alive connections across batches (measured faster here than one
``AsyncClient`` with many connections), and records all outcomes in one statement: a 2xx
delivers; anything else waits ``backoff_base · 2^(attempts-1)`` seconds
(capped at an hour) and after ``max_attempts`` the delivery is dead until the
company replays it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import httpx2
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox.service import backoff_delay, default_worker_id
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.lifeevent import notices
from tsunagu.lifeevent.models import NoticeDelivery, NoticeSubscriber
from tsunagu.lifeevent.signatures import NOTICE_HEADER, SEAL_HEADER, SIGNATURE_HEADER, hmac_header
from tsunagu.trust import cms, protocol

log = logging.getLogger(__name__)


def platform_seal(session: Session, settings: Settings) -> sealing.Seal:
    """The seal of the organization operating the platform (``platform_corporate_number``)."""
    organization = (
        identity.find_organization(session, corporate_number=settings.platform_corporate_number)
        if settings.platform_corporate_number
        else None
    )
    if organization is None:
        raise ConflictError(
            "no_platform_organization",
            "基盤を運営する組織 (TSUNAGU_PLATFORM_CORPORATE_NUMBER) が設定されていません。",
            "The platform organization (TSUNAGU_PLATFORM_CORPORATE_NUMBER) is not configured.",
        )
    return sealing.store_for(settings).seal_for(session, organization.id)


def seal_body(seal: sealing.Seal, body: bytes) -> str:
    """Base64 detached CMS over ``body`` with the platform's seal certificate."""
    signature = cms.sign_detached(
        body,
        sign=lambda data: cms.raw_signature(seal.key, data),
        signer_cert_der=seal.cert_der,
        chain_ders=seal.chain,
        signing_time=utcnow().replace(microsecond=0),
    )
    return protocol.b64(signature)


@lru_cache(maxsize=1024)
def _url(url: str) -> httpx2.URL:
    """Parsed once per endpoint (parsing is a fair part of a request's CPU)."""
    return httpx2.URL(url)


@dataclass(frozen=True)
class _Outgoing:
    id: str
    attempts: int
    url: str
    body: bytes
    secret: bytes


@dataclass(frozen=True)
class _Outcome:
    id: str
    attempts: int
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class DeliveryStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0


class WebhookDispatcher:
    """Sends due deliveries; ``run_once`` is the unit a loop (or a test) repeats."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        *,
        batch_size: int = 500,
        concurrency: int = 8,
        max_attempts: int = 8,
        backoff_base: float = 30.0,
        timeout: float = 10.0,
        lease_seconds: float = 120.0,
        worker_id: str | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.timeout = timeout
        self.lease = timedelta(seconds=lease_seconds)
        self.worker_id = worker_id or default_worker_id()
        self._secrets: dict[tuple[str, str], bytes] = {}
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook")
        self._local = threading.local()
        self._timeout = httpx2.Timeout(timeout).as_dict()
        self._transports: list[httpx2.HTTPTransport] = []
        self._transports_lock = threading.Lock()
        self._seal: sealing.Seal | None = None

    def close(self) -> None:
        """Stop the threads and close their pooled connections."""
        self._pool.shutdown(wait=True)
        with self._transports_lock:
            for transport in self._transports:
                transport.close()
            self._transports.clear()

    def __enter__(self) -> WebhookDispatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- claiming -----------------------------------------------------------------------

    def _secret(self, subscriber: NoticeSubscriber) -> bytes:
        key = (subscriber.id, subscriber.secret_ciphertext)
        secret = self._secrets.get(key)
        if secret is None:
            secret = self._secrets[key] = notices.open_secret(
                self.settings, subscriber.secret_ciphertext
            )
        return secret

    def claim(self) -> list[_Outgoing]:
        """Lock up to ``batch_size`` due deliveries (one statement) and load what signing needs.

        One ``UPDATE … WHERE id IN (due ids) RETURNING``: on PostgreSQL the
        subquery skips rows other dispatchers hold (``SKIP LOCKED``); on SQLite the
        statement takes the write lock before it reads; and the outer condition
        re-checks that each row is still due. So two dispatchers never claim the
        same delivery, on either database.
        """
        now = utcnow()
        due = and_(
            NoticeDelivery.status.in_(notices.DUE),
            NoticeDelivery.next_attempt_at <= now,
            or_(NoticeDelivery.locked_until.is_(None), NoticeDelivery.locked_until < now),
        )
        with self.factory.begin() as session:
            candidates = (
                select(NoticeDelivery.id)
                .where(due)
                .order_by(NoticeDelivery.next_attempt_at, NoticeDelivery.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            rows = session.execute(
                update(NoticeDelivery)
                .where(NoticeDelivery.id.in_(candidates.scalar_subquery()), due)
                .values(
                    locked_by=self.worker_id,
                    locked_until=now + self.lease,
                    attempts=NoticeDelivery.attempts + 1,
                )
                .returning(
                    NoticeDelivery.id, NoticeDelivery.attempts, NoticeDelivery.body,
                    NoticeDelivery.subscriber_id,
                )
                .execution_options(synchronize_session=False)
            ).all()  # fmt: skip
            if not rows:
                return []
            subscribers = {
                s.id: s
                for s in session.execute(
                    select(NoticeSubscriber).where(
                        NoticeSubscriber.id.in_({r.subscriber_id for r in rows})
                    )
                ).scalars()
            }
            seal = platform_seal(session, self.settings)
        self._seal = seal
        return [
            _Outgoing(
                row.id, row.attempts, subscribers[row.subscriber_id].webhook_url,
                (row.body or "").encode("utf-8"), self._secret(subscribers[row.subscriber_id]),
            )
            for row in rows
        ]  # fmt: skip

    # --- sending ------------------------------------------------------------------------

    def _transport(self) -> httpx2.HTTPTransport:
        """This thread's pooled transport: keep-alive connections reused batch after batch.

        The transport, not a ``Client``: a notice needs no cookies, auth or
        redirects (a redirect is a failure), and skipping the client layer
        halves the CPU per request, which is what bounds deliveries per second.
        """
        transport: httpx2.HTTPTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = self._local.transport = httpx2.HTTPTransport(retries=0)
            with self._transports_lock:
                self._transports.append(transport)
        return transport

    def _post(self, item: _Outgoing) -> _Outcome:
        """Sign and post one notice (in a pool thread, so signing overlaps others' I/O)."""
        assert self._seal is not None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            NOTICE_HEADER: item.id,
            SIGNATURE_HEADER: hmac_header(item.secret, item.body, int(time.time())),
            SEAL_HEADER: seal_body(self._seal, item.body),
        }
        request = httpx2.Request(
            "POST", _url(item.url), content=item.body, headers=headers,
            extensions={"timeout": self._timeout},
        )  # fmt: skip
        try:
            response = self._transport().handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx2.HTTPError as exc:
            return _Outcome(item.id, item.attempts, None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if response.is_success else f"HTTP {response.status_code}"
        return _Outcome(item.id, item.attempts, response.status_code, error)

    def send(self, items: Sequence[_Outgoing]) -> list[_Outcome]:
        return list(self._pool.map(self._post, items))

    # --- recording ----------------------------------------------------------------------

    def record(self, outcomes: Sequence[_Outcome]) -> DeliveryStats:
        """All outcomes in one transaction; a delivery cancelled meanwhile stays cancelled.

        Deliveries are the common case and differ only in their id (and rarely
        the 2xx code), so they take one ``UPDATE … WHERE id IN`` per code;
        failures, each with its own retry time, one executemany.
        """
        now = utcnow()
        stats = DeliveryStats(claimed=len(outcomes))
        delivered: dict[int, list[str]] = {}
        failed: list[dict[str, Any]] = []
        for outcome in outcomes:
            if outcome.ok:
                delivered.setdefault(outcome.status or 200, []).append(outcome.id)
                continue
            dead = outcome.attempts >= self.max_attempts
            stats.dead += dead
            stats.retried += not dead
            delay = backoff_delay(outcome.attempts, self.backoff_base)
            failed.append(
                {
                    "b_id": outcome.id, "b_code": outcome.status, "b_error": outcome.error,
                    "b_status": notices.DEAD if dead else notices.FAILED,
                    "b_next": now + timedelta(seconds=delay),
                }
            )  # fmt: skip
        stats.delivered = sum(len(ids) for ids in delivered.values())
        table = NoticeDelivery.__table__.c
        # literal comparisons: an IN list cannot be expanded in an executemany
        held = (
            table.locked_by == self.worker_id,
            or_(table.status == notices.PENDING, table.status == notices.FAILED),
        )
        unlocked = {"locked_by": None, "locked_until": None}
        with self.factory.begin() as session:
            connection = session.connection()
            for code, ids in delivered.items():
                # the body of a delivered notice is not kept (its personal data served its use)
                connection.execute(
                    update(NoticeDelivery)
                    .where(table.id.in_(ids), *held)
                    .values(
                        status=notices.DELIVERED, delivered_at=now, body=None, last_error=None,
                        last_status=code, **unlocked,
                    )
                )  # fmt: skip
            if failed:
                connection.execute(
                    update(NoticeDelivery)
                    .where(table.id == bindparam("b_id"), *held)
                    .values(
                        status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"), last_status=bindparam("b_code"),
                        **unlocked,
                    ),
                    failed,
                )  # fmt: skip
        return stats

    def run_once(self) -> DeliveryStats:
        items = self.claim()
        if not items:
            return DeliveryStats()
        return self.record(self.send(items))

    def run(
        self, stop: threading.Event, *, poll_interval: float = 0.5, until_idle: bool = False
    ) -> int:
        """Deliver until ``stop`` is set (or, with ``until_idle``, nothing is due any more)."""
        delivered = 0
        while not stop.is_set():
            stats = self.run_once()
            delivered += stats.delivered
            if stats.claimed == 0:
                if until_idle and next_due(self.factory) is None:
                    break
                stop.wait(poll_interval)
        return delivered


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    """When the next delivery waiting to be sent is due (None: nothing waits)."""
    with factory() as session:
        return session.execute(
            select(NoticeDelivery.next_attempt_at)
            .where(NoticeDelivery.status.in_(notices.DUE))
            .order_by(NoticeDelivery.next_attempt_at)
            .limit(1)
        ).scalar()
