"""Webhook delivery of life-event notices: signed twice, sent concurrently, retried, dead-lettered.

Each POST carries the notice JSON and two signatures over the exact body bytes:

- ``X-Tsunagu-Signature: t=<unix seconds>,v1=<hex>`` — HMAC-SHA256 with the
  subscriber's own secret over ``"<t>." + body``, so the company knows the
  request is from the platform and can refuse replays of old timestamps;
- ``X-Tsunagu-Seal`` — a detached CMS signature (Base64 DER) over the body made
  with the platform organization's seal certificate, which anyone holding the
  platform root can verify (``openssl cms -verify``) and keep as evidence.

The dispatcher claims a batch of due deliveries (``SKIP LOCKED`` on
PostgreSQL, so several dispatchers share the work), posts them concurrently
through one pooled ``httpx.AsyncClient`` running on an event loop of its own
thread, and records all outcomes in one transaction: a 2xx delivers; anything
else waits ``backoff_base · 2^(attempts-1)`` seconds (capped at an hour) and
after ``max_attempts`` the delivery is dead until the company replays it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox.service import backoff_delay, default_worker_id
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.lifeevent import notices
from tsunagu.lifeevent.models import NoticeDelivery, NoticeSubscriber
from tsunagu.trust import cms, protocol

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tsunagu-Signature"
SEAL_HEADER = "X-Tsunagu-Seal"
NOTICE_HEADER = "X-Tsunagu-Notice-Id"


def hmac_header(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_hmac(
    secret: bytes, body: bytes, header: str, *, now: float, tolerance: int = 300
) -> bool:
    """What a receiving company does with the HMAC header (also used by the sample receiver)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac_header(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


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


@dataclass(frozen=True)
class _Outgoing:
    id: str
    attempts: int
    url: str
    body: bytes
    headers: dict[str, str]


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
        concurrency: int = 64,
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
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client: httpx.AsyncClient | None = None

    def close(self) -> None:
        """Close the pooled connections and stop the loop thread."""
        if self._client is not None:
            asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result()
            self._client = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

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
        """Lock up to ``batch_size`` due deliveries and sign them (one transaction)."""
        now = utcnow()
        due = and_(
            NoticeDelivery.status.in_(notices.DUE),
            NoticeDelivery.next_attempt_at <= now,
            or_(NoticeDelivery.locked_until.is_(None), NoticeDelivery.locked_until < now),
        )
        with self.factory.begin() as session:
            query = (
                select(
                    NoticeDelivery.id, NoticeDelivery.attempts, NoticeDelivery.body,
                    NoticeDelivery.subscriber_id,
                )
                .where(due)
                .order_by(NoticeDelivery.next_attempt_at, NoticeDelivery.id)
                .limit(self.batch_size)
            )  # fmt: skip
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return []
            ids = [r.id for r in rows]
            session.execute(
                update(NoticeDelivery)
                .where(NoticeDelivery.id.in_(ids))
                .values(
                    locked_by=self.worker_id,
                    locked_until=now + self.lease,
                    attempts=NoticeDelivery.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            subscribers = {
                s.id: s
                for s in session.execute(
                    select(NoticeSubscriber).where(
                        NoticeSubscriber.id.in_({r.subscriber_id for r in rows})
                    )
                ).scalars()
            }
            seal = platform_seal(session, self.settings)
        stamp = int(time.time())
        outgoing = []
        for row in rows:
            subscriber = subscribers[row.subscriber_id]
            body = (row.body or "").encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                NOTICE_HEADER: row.id,
                SIGNATURE_HEADER: hmac_header(self._secret(subscriber), body, stamp),
                SEAL_HEADER: seal_body(seal, body),
            }
            outgoing.append(
                _Outgoing(row.id, row.attempts + 1, subscriber.webhook_url, body, headers)
            )
        return outgoing

    # --- sending ------------------------------------------------------------------------

    async def _post(
        self, client: httpx.AsyncClient, gate: asyncio.Semaphore, item: _Outgoing
    ) -> _Outcome:
        async with gate:
            try:
                response = await client.post(item.url, content=item.body, headers=item.headers)
            except httpx.HTTPError as exc:
                return _Outcome(item.id, item.attempts, None, f"{type(exc).__name__}: {exc}"[:500])
        error = None if response.is_success else f"HTTP {response.status_code}"
        return _Outcome(item.id, item.attempts, response.status_code, error)

    async def _send_all(self, items: Sequence[_Outgoing]) -> list[_Outcome]:
        if self._client is None:
            limits = httpx.Limits(
                max_connections=self.concurrency, max_keepalive_connections=self.concurrency
            )
            self._client = httpx.AsyncClient(
                timeout=self.timeout, limits=limits, follow_redirects=False
            )
        gate = asyncio.Semaphore(self.concurrency)
        return list(await asyncio.gather(*(self._post(self._client, gate, i) for i in items)))

    def send(self, items: Sequence[_Outgoing]) -> list[_Outcome]:
        return asyncio.run_coroutine_threadsafe(self._send_all(items), self._loop).result()

    # --- recording ----------------------------------------------------------------------

    def record(self, outcomes: Sequence[_Outcome]) -> DeliveryStats:
        """All outcomes in one transaction; a delivery cancelled meanwhile stays cancelled."""
        now = utcnow()
        stats = DeliveryStats(claimed=len(outcomes))
        rows: list[dict[str, Any]] = []
        for outcome in outcomes:
            values: dict[str, Any] = {
                "b_id": outcome.id, "b_code": outcome.status, "b_error": outcome.error,
                "b_status": notices.DELIVERED, "b_next": now, "b_at": None,
            }  # fmt: skip
            if outcome.ok:
                stats.delivered += 1
                values["b_at"] = now
            elif outcome.attempts >= self.max_attempts:
                stats.dead += 1
                values["b_status"] = notices.DEAD
            else:
                stats.retried += 1
                values["b_status"] = notices.FAILED
                delay = backoff_delay(outcome.attempts, self.backoff_base)
                values["b_next"] = now + timedelta(seconds=delay)
            rows.append(values)
        table = NoticeDelivery.__table__.c
        statement = (
            update(NoticeDelivery)
            .where(
                table.id == bindparam("b_id"),
                table.locked_by == self.worker_id,
                table.status.in_(notices.DUE),
            )
            .values(
                status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                delivered_at=bindparam("b_at"), last_error=bindparam("b_error"),
                last_status=bindparam("b_code"), locked_by=None, locked_until=None,
                # the body of a delivered notice is not kept (its personal data served its use)
                body=case((bindparam("b_status") == notices.DELIVERED, None), else_=table.body),
            )
        )  # fmt: skip
        with self.factory.begin() as session:
            session.connection().execute(statement, rows)
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
