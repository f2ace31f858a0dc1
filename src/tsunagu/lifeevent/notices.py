"""Private-sector notices: companies told of a resident's life event, only under consent.

A company (電力・ガス・水道・銀行・携帯電話・郵便転送 …) registers with its 法人番号,
a webhook URL and, per life event, the minimal fields it needs. A resident
chooses, per event, which companies are told and which of the declared fields
they agree to; a notice carries only fields both declared and consented.
Consents are never deleted, only withdrawn, and withdrawing cancels every
delivery not yet made. Deliveries are sent by :mod:`tsunagu.lifeevent.webhooks`.

Triggers: the resident register's ``registry.changed`` events (a move, a
death, a change of name) through the outbox, and :func:`notify`, which the
life-event bundles call with data they already hold.
"""

from __future__ import annotations

import json
import secrets
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from ipaddress import ip_address
from typing import Any, cast
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.i18n import N_
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.service import Event
from tsunagu.identity import business
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OfficialRole
from tsunagu.lifeevent.models import NoticeConsent, NoticeDelivery, NoticeSubscriber
from tsunagu.registry import service as registry

NOTICE_TYPE = "tsunagu.lifeevent.notice/1"
_NAMESPACE = uuid.UUID("2b7f6a0e-3c1d-4f8e-9a41-6d2c5b8e7f10")
_SECRET_LABEL = b"tsunagu/lifeevent/webhook-secret"

PENDING, FAILED, DELIVERED, DEAD, CANCELLED = "pending", "failed", "delivered", "dead", "cancelled"
DUE = (PENDING, FAILED)

# Life events and the fields a company may ask for; a notice never carries more.
EVENTS: dict[str, str] = {
    "moved": N_("Moving"),
    "died": N_("Death"),
    "name_changed": N_("Change of name"),
}
FIELDS: dict[str, str] = {
    "name": N_("Name"),
    "name_kana": N_("Name in katakana"),
    "birth_date": N_("Date of birth"),
    "new_address": N_("New address"),
    "previous_address": N_("Previous address"),
    "move_date": N_("Date of the move"),
    "address": N_("Address"),
    "death_date": N_("Date of death"),
    "former_name": N_("Former name"),
    "change_date": N_("Date of the change"),
}
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "moved": ("name", "name_kana", "birth_date", "new_address", "previous_address", "move_date"),
    "died": ("name", "name_kana", "birth_date", "address", "death_date"),
    "name_changed": ("name", "name_kana", "former_name", "birth_date", "address", "change_date"),
}
SECTORS: dict[str, str] = {
    "electricity": N_("Electricity"),
    "gas": N_("Gas"),
    "water": N_("Water"),
    "bank": N_("Bank"),
    "mobile": N_("Mobile phone"),
    "postal_forwarding": N_("Postal forwarding"),
    "other": N_("Other"),
}


# --- the webhook secret, encrypted at rest -------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    key = HKDF(hashes.SHA256(), 32, None, _SECRET_LABEL).derive(settings.secret_key.encode())
    return Fernet(urlsafe_b64encode(key))


def seal_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode("ascii")


def open_secret(settings: Settings, ciphertext: str) -> bytes:
    """The HMAC key of a subscriber (decrypted only to sign a delivery)."""
    return _fernet(settings).decrypt(ciphertext.encode("ascii"))


# --- companies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriberOut:
    id: str
    organization_id: str
    corporate_number: str
    name: str
    sector: str
    webhook_url: str
    declared: dict[str, list[str]]
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class Registered:
    """A new subscriber and its HMAC secret, which is shown this once only."""

    subscriber: SubscriberOut
    secret: str


def _subscriber_out(row: NoticeSubscriber) -> SubscriberOut:
    return SubscriberOut(
        row.id, row.organization_id, row.corporate_number, row.name, row.sector,
        row.webhook_url, json.loads(row.declared), row.created_at, row.ended_at,
    )  # fmt: skip


def acting_for(session: Session, actor: Actor) -> str:
    """The organization the caller may manage notices for: its administrator's or member's."""
    if actor.kind is ActorKind.OFFICIAL:
        if OfficialRole.ADMINISTRATOR in actor.roles and actor.organization_id:
            return actor.organization_id
        raise PermissionDenied(
            "administrator_required",
            "組織の管理者としてのログインが必要です。",
            "You need to log in as an administrator of the organization.",
        )
    return business.membership(session, actor).account.organization_id


def _webhook_url(raw: str) -> str:
    """An https URL; plain http only to this machine (a company's test receiver)."""
    url = raw.strip()
    parts = urlsplit(url)
    loopback = False
    if parts.hostname:
        try:
            loopback = ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
    if (
        len(url) > 2000
        or not parts.hostname
        or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    ):
        raise ValidationError(
            "bad_webhook_url",
            "通知先 URL は https:// で始まる URL にしてください。",
            "The webhook URL must be an https:// URL (http only for this machine).",
        )
    return url


def _declared(declared: dict[str, list[str]]) -> dict[str, list[str]]:
    cleaned: dict[str, list[str]] = {}
    for event, fields in declared.items():
        if event not in EVENTS:
            raise ValidationError(
                "unknown_event",
                f"知らせを受けられない事由です: {event}",
                f"There is no life event {event!r}.",
            )
        allowed = EVENT_FIELDS[event]
        stray = sorted(set(fields) - set(allowed))
        if stray or not fields:
            raise ValidationError(
                "bad_fields",
                f"「{event}」で受け取れない項目か、項目が選ばれていません: {', '.join(stray)}",
                f"Choose one or more of the fields {event} offers ({', '.join(allowed)}).",
            )
        cleaned[event] = [f for f in allowed if f in fields]
    if not cleaned:
        raise ValidationError(
            "no_events", "事由を一つ以上選んでください。", "Choose at least one life event."
        )
    return cleaned


def _registered_name(session: Session, organization_id: str, number: str) -> str | None:
    """The trade name in the 商業・法人登記 if it holds the company (None if it does not).

    A closed company, or a record whose 法人番号 differs, is refused: notices go
    only to a company that exists as registered.
    """
    found = registry.as_of(session, "houjin", organization_id)
    if not found:
        return None
    record = found[0].data
    if record.get("corporate_number") != number or record.get("status") != "存続":
        raise ValidationError(
            "not_registered",
            "商業・法人登記の記録と一致しないか、閉鎖された法人です。",
            "The corporate register does not show this company as existing with that number.",
        )
    return str(record.get("trade_name"))


def register_subscriber(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    corporate_number: str,
    sector: str,
    webhook_url: str,
    declared: dict[str, list[str]],
) -> Registered:
    """Register the caller's own company (法人番号 checked and matched) as a notice receiver."""
    check = ids.check(ids.IdKind.CORPORATE, corporate_number)
    if not check.valid:
        raise ValidationError("invalid_corporate_number", check.reason_ja, check.reason_en)
    organization_id = acting_for(session, actor)
    organization = identity.get_organization(session, organization_id)
    if organization.corporate_number != check.normalized:
        raise PermissionDenied(
            "not_your_company",
            "自組織の法人番号ではありません。",
            "That corporate number is not your organization's.",
        )
    if sector not in SECTORS:
        raise ValidationError("unknown_sector", "業種が不正です。", f"Unknown sector {sector!r}.")
    url = _webhook_url(webhook_url)
    wanted = _declared(declared)
    name = _registered_name(session, organization_id, check.normalized) or organization.name_ja
    secret = secrets.token_urlsafe(32)
    row = NoticeSubscriber(
        id=str(uuid.uuid4()),
        organization_id=organization_id,
        corporate_number=check.normalized,
        name=name,
        sector=sector,
        webhook_url=url,
        secret_ciphertext=seal_secret(settings, secret),
        declared=json.dumps(wanted, sort_keys=True),
        created_at=utcnow(),
        created_by=actor.label,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.subscriber_registered",
        object_type="lifeevent_subscriber",
        object_id=row.id,
        data={"organization_id": organization_id, "sector": sector, "declared": wanted},
    )
    return Registered(_subscriber_out(row), secret)


def subscribers_of(session: Session, actor: Actor) -> list[SubscriberOut]:
    """The caller's organization's subscriptions."""
    organization_id = acting_for(session, actor)
    rows = session.execute(
        select(NoticeSubscriber)
        .where(NoticeSubscriber.organization_id == organization_id)
        .order_by(NoticeSubscriber.created_at)
    ).scalars()
    return [_subscriber_out(r) for r in rows]


def _own_subscriber(session: Session, actor: Actor, subscriber_id: str) -> NoticeSubscriber:
    row = session.get(NoticeSubscriber, subscriber_id)
    if row is None or row.organization_id != acting_for(session, actor):
        raise NotFoundError(
            "unknown_subscriber", "通知先が見つかりません。", "No such notice subscriber."
        )
    return row


def end_subscriber(session: Session, actor: Actor, subscriber_id: str) -> None:
    """The company stops receiving notices (e.g. a new endpoint is registered instead).

    Consents given to it stay on record but no longer deliver anything, since
    :func:`notify` only tells subscribers in force.
    """
    row = _own_subscriber(session, actor, subscriber_id)
    if row.ended_at is not None:
        return
    row.ended_at, row.ended_by = utcnow(), actor.label
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.subscriber_ended",
        object_type="lifeevent_subscriber",
        object_id=row.id,
        data={"organization_id": row.organization_id},
    )


@dataclass(frozen=True)
class PublicSubscriber:
    """What a resident sees of a company asking to be told (never its endpoint)."""

    id: str
    name: str
    corporate_number: str
    sector: str
    declared: dict[str, list[str]]


def public_subscribers(session: Session) -> list[PublicSubscriber]:
    rows = session.execute(
        select(NoticeSubscriber)
        .where(NoticeSubscriber.ended_at.is_(None))
        .order_by(NoticeSubscriber.sector, NoticeSubscriber.name, NoticeSubscriber.id)
    ).scalars()
    return [
        PublicSubscriber(r.id, r.name, r.corporate_number, r.sector, json.loads(r.declared))
        for r in rows
    ]


# --- residents' consents ---------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentOut:
    id: str
    subscriber_id: str
    event: str
    fields: list[str]
    given_at: datetime
    withdrawn_at: datetime | None


def _consent_out(row: NoticeConsent) -> ConsentOut:
    return ConsentOut(
        row.id, row.subscriber_id, row.event, json.loads(row.fields), row.given_at,
        row.withdrawn_at,
    )  # fmt: skip


def _person(actor: Actor) -> str:
    if actor.kind is not ActorKind.PERSON or actor.person_id is None:
        raise PermissionDenied(
            "person_required", "本人としてのログインが必要です。", "You need to log in as a person."
        )
    return actor.person_id


def consents_of(session: Session, person_id: str, *, history: bool = False) -> list[ConsentOut]:
    query = select(NoticeConsent).where(NoticeConsent.person_id == person_id)
    if not history:
        query = query.where(NoticeConsent.withdrawn_at.is_(None))
    rows = session.execute(query.order_by(NoticeConsent.given_at)).scalars()
    return [_consent_out(r) for r in rows]


def _in_force(
    session: Session, person_id: str, subscriber_id: str, event: str
) -> NoticeConsent | None:
    return session.execute(
        select(NoticeConsent).where(
            NoticeConsent.person_id == person_id,
            NoticeConsent.subscriber_id == subscriber_id,
            NoticeConsent.event == event,
            NoticeConsent.withdrawn_at.is_(None),
        )
    ).scalar_one_or_none()


def give_consent(
    session: Session, actor: Actor, *, subscriber_id: str, event: str,
    fields: list[str] | None = None,
) -> ConsentOut:  # fmt: skip
    """The resident agrees that the company be told of ``event`` (some or all declared fields).

    Giving consent again with other fields replaces the consent in force (the old
    one is withdrawn, so the history says what was agreed when).
    """
    person_id = _person(actor)
    subscriber = session.get(NoticeSubscriber, subscriber_id)
    if subscriber is None or subscriber.ended_at is not None:
        raise NotFoundError(
            "unknown_subscriber", "通知先が見つかりません。", "No such notice subscriber."
        )
    declared = json.loads(subscriber.declared).get(event)
    if not declared:
        raise ValidationError(
            "event_not_declared",
            "この事業者はこの事由の知らせを受け付けていません。",
            "This company does not ask to be told of this event.",
        )
    chosen = declared if fields is None else [f for f in declared if f in fields]
    if not chosen or (fields is not None and set(fields) - set(declared)):
        raise ValidationError(
            "bad_fields",
            "事業者が求める項目の中から一つ以上選んでください。",
            "Choose one or more of the fields the company asks for.",
        )
    previous = _in_force(session, person_id, subscriber_id, event)
    if previous is not None:
        _withdraw(session, previous, actor.label)
        session.flush()
    row = NoticeConsent(
        id=str(uuid.uuid4()),
        person_id=person_id,
        subscriber_id=subscriber_id,
        event=event,
        fields=json.dumps(chosen),
        given_at=utcnow(),
        given_by=actor.label,
    )
    session.add(row)
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.consent_given",
        object_type="lifeevent_consent",
        object_id=row.id,
        data={"subscriber_id": subscriber_id, "event": event, "fields": chosen},
    )
    return _consent_out(row)


def _withdraw(session: Session, row: NoticeConsent, actor_label: str) -> int:
    """Withdraw and cancel what has not been delivered yet; returns the cancelled count."""
    row.withdrawn_at, row.withdrawn_by = utcnow(), actor_label
    result = session.execute(
        update(NoticeDelivery)
        .where(NoticeDelivery.consent_id == row.id, NoticeDelivery.status.in_((*DUE, DEAD)))
        .values(status=CANCELLED, body=None, locked_by=None, locked_until=None)
    )
    cancelled = int(cast(CursorResult[Any], result).rowcount or 0)
    audit.record(
        session,
        actor=actor_label,
        action="lifeevent.consent_withdrawn",
        object_type="lifeevent_consent",
        object_id=row.id,
        data={"subscriber_id": row.subscriber_id, "event": row.event, "cancelled": cancelled},
    )
    return cancelled


def withdraw_consent(session: Session, actor: Actor, consent_id: str) -> ConsentOut:
    """Withdraw one of the resident's own consents (another's is "not found")."""
    person_id = _person(actor)
    row = session.get(NoticeConsent, consent_id)
    if row is None or row.person_id != person_id:
        raise NotFoundError("unknown_consent", "同意が見つかりません。", "No such consent.")
    if row.withdrawn_at is None:
        _withdraw(session, row, actor.label)
    return _consent_out(row)


# --- notices and their deliveries ------------------------------------------------------------


def delivery_id(source: str, subscriber_id: str, event: str) -> str:
    """Stable id: one source tells one company of one event once."""
    return str(uuid.uuid5(_NAMESPACE, f"{source}/{subscriber_id}/{event}"))


def notify(
    session: Session, event: str, person_id: str, data: dict[str, Any], *, source: str,
    occurred_on: date | None = None,
) -> list[str]:  # fmt: skip
    """Queue a notice of ``event`` to every company the person consented to tell.

    ``data`` holds field values by the names of :data:`FIELDS`; each company gets
    only those both declared (now) and consented (then). Returns the delivery ids.
    """
    if event not in EVENTS:
        raise ValidationError("unknown_event", f"不明な事由: {event}", f"Unknown event {event!r}.")
    rows = session.execute(
        select(NoticeConsent, NoticeSubscriber)
        .join(NoticeSubscriber, NoticeSubscriber.id == NoticeConsent.subscriber_id)
        .where(
            NoticeConsent.person_id == person_id,
            NoticeConsent.event == event,
            NoticeConsent.withdrawn_at.is_(None),
            NoticeSubscriber.ended_at.is_(None),
        )
        .order_by(NoticeSubscriber.id)
    ).all()
    now = utcnow()
    made: list[str] = []
    for consent, subscriber in rows:
        declared = json.loads(subscriber.declared).get(event, [])
        fields = [f for f in json.loads(consent.fields) if f in declared and f in data]
        if not fields:
            continue
        notice_id = delivery_id(source, subscriber.id, event)
        if session.get(NoticeDelivery, notice_id) is not None:
            continue
        body = {
            "type": NOTICE_TYPE,
            "notice_id": notice_id,
            "event": event,
            "occurred_on": occurred_on.isoformat() if occurred_on else None,
            "recipient": {"corporate_number": subscriber.corporate_number, "id": subscriber.id},
            "data": {f: data[f] for f in fields},
        }
        session.add(
            NoticeDelivery(
                id=notice_id, subscriber_id=subscriber.id, person_id=person_id,
                consent_id=consent.id, event=event, source=source[:200],
                body=json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
                status=PENDING, attempts=0, next_attempt_at=now, created_at=now,
            )
        )  # fmt: skip
        made.append(notice_id)
    if made:
        audit.record(
            session,
            actor="system:lifeevent",
            action="lifeevent.notices_queued",
            object_type="person",
            object_id=person_id,
            data={"event": event, "source": source, "deliveries": made},
        )
    return made


@dataclass(frozen=True)
class DeliveryOut:
    id: str
    subscriber_id: str
    subscriber_name: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None


def _delivery_out(row: NoticeDelivery, name: str) -> DeliveryOut:
    waiting = row.status in DUE
    return DeliveryOut(
        row.id, row.subscriber_id, name, row.event, row.status, row.attempts, row.created_at,
        row.delivered_at, row.next_attempt_at if waiting else None, row.last_status,
    )  # fmt: skip


def _deliveries(session: Session, *conditions: Any, limit: int = 200) -> list[DeliveryOut]:
    rows = session.execute(
        select(NoticeDelivery, NoticeSubscriber.name)
        .join(NoticeSubscriber, NoticeSubscriber.id == NoticeDelivery.subscriber_id)
        .where(*conditions)
        .order_by(NoticeDelivery.created_at.desc(), NoticeDelivery.id)
        .limit(limit)
    ).all()
    return [_delivery_out(row, name) for row, name in rows]


def deliveries_of_person(session: Session, person_id: str) -> list[DeliveryOut]:
    """What was (or will be) sent about the person, to whom, and how it went."""
    return _deliveries(session, NoticeDelivery.person_id == person_id)


def delivery_of_person(session: Session, person_id: str, delivery: str) -> DeliveryOut:
    found = _deliveries(
        session, NoticeDelivery.person_id == person_id, NoticeDelivery.id == delivery
    )
    if not found:
        raise NotFoundError("unknown_delivery", "通知が見つかりません。", "No such notice.")
    return found[0]


def deliveries_to(session: Session, actor: Actor, subscriber_id: str) -> list[DeliveryOut]:
    """A company's view of the deliveries to one of its subscriptions (no personal data)."""
    subscriber = _own_subscriber(session, actor, subscriber_id)
    return _deliveries(session, NoticeDelivery.subscriber_id == subscriber.id)


def replay(session: Session, actor: Actor, delivery: str) -> DeliveryOut:
    """Give a dead-lettered delivery a new set of attempts (the receiving company's admin).

    Only while the resident's consent is still in force: a withdrawn consent
    cancelled the delivery, and a cancelled delivery is never replayed.
    """
    row = session.get(NoticeDelivery, delivery)
    if row is None:
        raise NotFoundError("unknown_delivery", "通知が見つかりません。", "No such notice.")
    subscriber = _own_subscriber(session, actor, row.subscriber_id)
    if row.status != DEAD:
        raise ValidationError(
            "not_dead",
            "再送できるのは配信を打ち切った通知だけです。",
            "Only a notice whose delivery was given up can be replayed.",
        )
    row.status, row.attempts, row.next_attempt_at = PENDING, 0, utcnow()
    row.last_error, row.replayed_by = None, actor.label
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.delivery_replayed",
        object_type="lifeevent_delivery",
        object_id=row.id,
        data={"subscriber_id": row.subscriber_id},
    )
    return _delivery_out(row, subscriber.name)


# --- the resident register's changes as life events -----------------------------------------


def _address_text(address: dict[str, Any] | None) -> dict[str, str] | None:
    if not address:
        return None
    parts = [address.get(k) for k in ("prefecture", "municipality", "town", "block", "building")]
    return {
        "postal_code": str(address.get("postal_code") or ""),
        "text": "".join(str(p) for p in parts if p),
    }


def _name(record: dict[str, Any], key: str = "name") -> str:
    value = record.get(key) or {}
    return f"{value.get('family', '')}\u3000{value.get('given', '')}".strip()


def life_events_of(change: dict[str, Any], before: dict[str, Any] | None,
                   after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Life events a 住民基本台帳 change amounts to, each with the fields it can tell.

    A move is told when the new address is known: a 転居 within the municipality
    (``address_changed``) or a 転入 recorded by the new municipality (a new
    record whose ``moved_in.reason`` is 転入); the 転出 alone names no address.
    """
    events = set(change.get("events", []))
    found: dict[str, dict[str, Any]] = {}
    if after is None or "corrected" in events:  # fixing a record is not a life event
        return found
    common = {
        "name": _name(after),
        "name_kana": _name(after, "kana"),
        "birth_date": after.get("birth_date"),
    }
    moved_in = after.get("moved_in") or {}
    arrived = "created" in events and moved_in.get("reason") in ("転入", "国外からの転入")
    if "died" in events:
        gone = after.get("moved_out") or {}
        found["died"] = {
            **common,
            "address": _address_text(after.get("address")),
            "death_date": gone.get("date") or change.get("valid_from"),
        }
    elif "address_changed" in events or arrived:
        previous = _address_text((before or {}).get("address"))
        found["moved"] = {
            **common,
            "new_address": _address_text(after.get("address")),
            "previous_address": previous or (
                {"postal_code": "", "text": moved_in["previous_address"]}
                if moved_in.get("previous_address") else None
            ),
            "move_date": moved_in.get("date") or change.get("valid_from"),
        }  # fmt: skip
    if "name_changed" in events and "died" not in events:
        found["name_changed"] = {
            **common,
            "former_name": _name(before or {}),
            "address": _address_text(after.get("address")),
            "change_date": change.get("valid_from"),
        }
    return {event: {k: v for k, v in data.items() if v} for event, data in found.items()}


@outbox.handler(registry.CHANGED_TOPIC, name="lifeevent.notices.fan_out")
def fan_out(session: Session, event: Event) -> None:
    """A resident-register change that is a life event becomes notices to consented companies."""
    change = event.payload
    if change.get("registry_id") != "juki" or not change.get("party_id"):
        return
    version_id = change.get("version_id")
    after = registry.get_version(session, int(version_id)).data if version_id else None
    valid_from = date.fromisoformat(change["valid_from"])
    before_version = registry.version_at(
        session, "juki", change["subject_id"], valid_from - timedelta(days=1)
    )
    before = before_version.data if before_version else None
    for life_event, data in life_events_of(change, before, after).items():
        notify(
            session, life_event, change["party_id"], data,
            source=f"registry:{change['change_id']}", occurred_on=valid_from,
        )  # fmt: skip
