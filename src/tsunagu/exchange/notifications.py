"""Change notifications: agencies with a legal basis are told, sealed, through the outbox.

When a register changes (:data:`tsunagu.registry.service.CHANGED_TOPIC`),
:func:`fan_out` finds the active subscriptions to the events it fired and,
for each subscriber, seals a message with the *keeper's* seal holding only
the fields the notification basis allows. :func:`deliver` is the receiver:
it verifies the seal, files the message in the subscriber's inbox and writes
the access-log entry the resident will see. Both run as outbox handlers, so
each does its work exactly once in effect even if a worker dies mid-way (the
handler's effects and its completion marker commit together, and the inbox
id is derived from the change and the subscription).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.service import Event
from tsunagu.exchange import sealing
from tsunagu.exchange.definitions import NotificationBasis, matrix
from tsunagu.exchange.models import InboxMessage, Subscription
from tsunagu.exchange.service import LogFacts, functions_of, write_log
from tsunagu.registry import service as registry
from tsunagu.trust import protocol

NOTIFY_TOPIC = "exchange.notification"
NOTIFICATION_TYPE = "tsunagu.exchange.notification/1"
_NAMESPACE = uuid.UUID("6f1c8a52-5d1e-4c55-9a57-3f8f0a3b7e21")


@dataclass(frozen=True)
class SubscriptionOut:
    id: str
    subscriber_id: str
    basis_id: str
    registry_id: str
    event_id: str
    created_at: datetime
    ended_at: datetime | None


def _out(row: Subscription) -> SubscriptionOut:
    return SubscriptionOut(
        row.id, row.subscriber_id, row.basis_id, row.registry_id, row.event_id,
        row.created_at, row.ended_at,
    )  # fmt: skip


def _basis(basis_id: str) -> NotificationBasis:
    basis = matrix().notifications.get(basis_id)
    if basis is None:
        raise NotFoundError(
            "unknown_basis",
            f"通知の根拠「{basis_id}」は定義されていません。",
            f"There is no notification basis {basis_id!r}.",
        )
    return basis


def subscribe(
    session: Session, *, subscriber_id: str, basis_id: str, event_id: str, actor: str
) -> SubscriptionOut:
    """Subscribe an organization to one event under a notification basis it qualifies for."""
    basis = _basis(basis_id)
    if event_id not in basis.events:
        raise ValidationError(
            "event_not_in_basis",
            f"この根拠で通知を受けられる事由ではありません: {event_id}",
            f"The basis {basis_id} does not cover the event {event_id}.",
        )
    if not functions_of(session, subscriber_id) & set(basis.subscribers):
        raise PermissionDenied(
            "no_legal_basis",
            "この組織がこの通知を受ける法令上の根拠がありません。",
            "This organization has no legal basis to receive these notifications.",
        )
    active = session.execute(
        select(Subscription.id).where(
            Subscription.subscriber_id == subscriber_id,
            Subscription.basis_id == basis_id,
            Subscription.event_id == event_id,
            Subscription.ended_at.is_(None),
        )
    ).first()
    if active:
        raise ConflictError(
            "already_subscribed", "既に購読しています。", "This subscription already exists."
        )
    row = Subscription(
        id=str(uuid.uuid4()),
        subscriber_id=subscriber_id,
        basis_id=basis_id,
        registry_id=basis.registry_id,
        event_id=event_id,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor,
        action="exchange.subscribed",
        object_type="exchange_subscription",
        object_id=row.id,
        data={"subscriber_id": subscriber_id, "basis_id": basis_id, "event_id": event_id},
    )
    return _out(row)


def end_subscription(
    session: Session, subscription_id: str, *, subscriber_id: str, actor: str
) -> SubscriptionOut:
    """End one of the organization's own subscriptions (another's is "not found")."""
    row = session.get(Subscription, subscription_id)
    if row is None or row.subscriber_id != subscriber_id:
        raise NotFoundError(
            "unknown_subscription", "購読が見つかりません。", "No such subscription."
        )
    if row.ended_at is None:
        row.ended_at, row.ended_by = utcnow(), actor
        audit.record(
            session,
            actor=actor,
            action="exchange.unsubscribed",
            object_type="exchange_subscription",
            object_id=row.id,
            data={"subscriber_id": subscriber_id},
        )
    return _out(row)


def bases_for(session: Session, subscriber_id: str) -> list[NotificationBasis]:
    """The notification bases of the matrix under which the organization may subscribe."""
    performed = functions_of(session, subscriber_id)
    return [b for b in matrix().notifications.values() if performed & set(b.subscribers)]


def subscriptions_of(session: Session, subscriber_id: str) -> list[SubscriptionOut]:
    rows = session.execute(
        select(Subscription)
        .where(Subscription.subscriber_id == subscriber_id)
        .order_by(Subscription.created_at)
    ).scalars()
    return [_out(r) for r in rows]


def notification_id(change_id: str, subscriber_id: str, basis_id: str) -> str:
    """Stable id: the same change reaches the same subscriber under one basis once."""
    return str(uuid.uuid5(_NAMESPACE, f"{change_id}/{subscriber_id}/{basis_id}"))


@outbox.handler(registry.CHANGED_TOPIC, name="exchange.notifications.fan_out")
def fan_out(session: Session, event: Event) -> None:
    """Seal one message per (subscriber, basis) whose events the change fired."""
    change = event.payload
    rows = session.execute(
        select(Subscription)
        .where(
            Subscription.registry_id == change["registry_id"],
            Subscription.event_id.in_(change["events"]),
            Subscription.ended_at.is_(None),
        )
        .order_by(Subscription.subscriber_id, Subscription.basis_id, Subscription.created_at)
    ).scalars()
    grouped: dict[tuple[str, str], list[Subscription]] = {}
    for row in rows:
        grouped.setdefault((row.subscriber_id, row.basis_id), []).append(row)
    if not grouped:
        return
    version_id = change.get("version_id")
    data = registry.get_version(session, int(version_id)).data if version_id else None
    store = sealing.default_store()
    for (subscriber_id, basis_id), subscriptions in grouped.items():
        basis = _basis(basis_id)
        message_id = notification_id(change["change_id"], subscriber_id, basis_id)
        message = {
            "type": NOTIFICATION_TYPE,
            "notification_id": message_id,
            "subscription_id": subscriptions[0].id,
            "subscriber_id": subscriber_id,
            "publisher_id": change["keeper_id"],
            "change_id": change["change_id"],
            "registry_id": change["registry_id"],
            "events": sorted({s.event_id for s in subscriptions}),
            "subject_id": change["subject_id"],
            "party_id": change.get("party_id"),
            "valid_from": change["valid_from"],
            "recorded_at": change["recorded_at"],
            "basis_id": basis.id,
            "basis": {"ja": basis.basis.ja, "en": basis.basis.en},
            "data": basis.project(data),
        }
        envelope = store.seal(session, change["keeper_id"], message)
        outbox.publish(session, NOTIFY_TOPIC, {"envelope": envelope}, event_id=message_id)


@outbox.handler(NOTIFY_TOPIC, name="exchange.notifications.deliver")
def deliver(session: Session, event: Event) -> None:
    """The subscriber's side: verify the publisher's seal, file the message, log it."""
    envelope: Any = event.payload.get("envelope")
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    message: dict[str, Any] = payload if isinstance(payload, dict) else {}
    facts = LogFacts(
        kind="notification",
        outcome="rejected",
        party_id=message.get("party_id"),
        requester_id=message.get("subscriber_id"),
        owner_id=message.get("publisher_id"),
        registry_id=message.get("registry_id"),
        provision_id=message.get("basis_id"),
        request_id=message.get("notification_id"),
    )
    try:
        verified = sealing.verify(session, envelope)
    except ValidationError as exc:
        facts.reason = f"bad_seal:{exc.code}"[:50]
        write_log(session, facts)
        return
    if verified.organization_id != message.get("publisher_id") or message.get("type") != (
        NOTIFICATION_TYPE
    ):
        facts.reason = "seal_mismatch"
        write_log(session, facts)
        return
    if session.get(InboxMessage, message["notification_id"]) is not None:
        return
    basis = _basis(message["basis_id"])
    session.add(
        InboxMessage(
            id=message["notification_id"],
            subscription_id=message["subscription_id"],
            subscriber_id=message["subscriber_id"],
            publisher_id=message["publisher_id"],
            registry_id=message["registry_id"],
            events=",".join(message["events"]),
            subject_id=message["subject_id"],
            party_id=message.get("party_id"),
            payload=json.dumps(envelope, ensure_ascii=False),
            signature=protocol.unb64(envelope["cms"]),
            signer_serial=verified.serial,
            received_at=utcnow(),
        )
    )
    facts.outcome, facts.requester_verified = "delivered", True
    facts.basis, facts.fields = basis.basis, list(basis.fields)
    facts.reason = ",".join(message["events"])[:50]
    write_log(session, facts)


@dataclass(frozen=True)
class InboxItem:
    id: str
    publisher_id: str
    registry_id: str
    events: list[str]
    subject_id: str
    received_at: datetime
    message: dict[str, Any]


def inbox(session: Session, subscriber_id: str, *, limit: int = 100) -> list[InboxItem]:
    rows = session.execute(
        select(InboxMessage)
        .where(InboxMessage.subscriber_id == subscriber_id)
        .order_by(InboxMessage.received_at.desc())
        .limit(limit)
    ).scalars()
    return [
        InboxItem(
            r.id,
            r.publisher_id,
            r.registry_id,
            r.events.split(","),
            r.subject_id,
            r.received_at,
            json.loads(r.payload)["payload"],
        )
        for r in rows
    ]
