"""The resident's inbox: decision notices and certificates of their applications.

An item belongs to a person when they filed the application or it is about
them (the same parties who may read the application). Items are the issued
documents themselves, newest first; opening one (downloading its PDF) marks
it read for that person only. Nothing here is copied: the inbox is a view
over :class:`Decision` and :class:`Certificate` plus the read markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError
from tsunagu.identity.roles import Actor, require_person
from tsunagu.procedure import certificates
from tsunagu.procedure.definitions import procedures
from tsunagu.procedure.models import Application, Certificate, Decision, InboxRead

KINDS = ("decision", "certificate")


@dataclass(frozen=True)
class Item:
    kind: str  # decision / certificate
    id: str  # decision id or certificate number
    application_id: str
    procedure_id: str
    procedure_ja: str
    procedure_en: str
    title_ja: str
    title_en: str
    outcome: str | None
    issued_at: datetime
    read: bool

    @property
    def download_url(self) -> str:
        return f"/api/me/inbox/{self.kind}/{self.id}.pdf"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "application_id": self.application_id,
            "procedure": {
                "id": self.procedure_id,
                "ja": self.procedure_ja,
                "en": self.procedure_en,
            },
            "title": {"ja": self.title_ja, "en": self.title_en},
            "outcome": self.outcome,
            "issued_at": self.issued_at.isoformat(),
            "read": self.read,
            "download_url": self.download_url,
        }


def _mine(actor: Actor) -> Any:
    person = require_person(actor).person_id
    return or_(Application.applicant == actor.label, Application.subject_id == person)


def _names(procedure_id: str) -> tuple[str, str]:
    definition = procedures().get(procedure_id)
    return (definition.name.ja, definition.name.en) if definition else (procedure_id, procedure_id)


def items(session: Session, actor: Actor) -> list[Item]:
    """Every notice and certificate of the person's applications, newest first."""
    person = require_person(actor).person_id
    read = {
        (kind, item)
        for kind, item in session.execute(
            select(InboxRead.item_kind, InboxRead.item_id).where(InboxRead.person_id == person)
        )
    }
    found: list[Item] = []
    decisions = session.execute(
        select(Decision.id, Decision.outcome, Decision.issued_at, Application.id,
               Application.procedure_id)
        .join(Application, Application.id == Decision.application_id)
        .where(_mine(actor))
    )  # fmt: skip
    for decision_id, outcome, issued_at, app_id, procedure_id in decisions:
        ja, en = _names(procedure_id)
        found.append(
            Item("decision", decision_id, app_id, procedure_id, ja, en, "決定通知書",
                 "Notice of decision", outcome, issued_at, ("decision", decision_id) in read)
        )  # fmt: skip
    issued = session.execute(
        select(Certificate.number, Certificate.kind, Certificate.issued_at, Application.id,
               Application.procedure_id)
        .join(Application, Application.id == Certificate.application_id)
        .where(_mine(actor))
    )  # fmt: skip
    for number, kind, issued_at, app_id, procedure_id in issued:
        ja, en = _names(procedure_id)
        title_ja, title_en = certificates.title_of(kind)
        found.append(
            Item("certificate", number, app_id, procedure_id, ja, en, title_ja, title_en, None,
                 issued_at, ("certificate", number) in read)
        )  # fmt: skip
    # A certificate and its notice share a moment: the certificate, issued last, comes first.
    found.sort(key=lambda item: (item.issued_at, item.kind == "certificate"), reverse=True)
    return found


def unread_count(session: Session, actor: Actor) -> int:
    return sum(not item.read for item in items(session, actor))


def _not_found() -> NotFoundError:
    return NotFoundError("inbox_item_not_found", "見つかりません。", "No such item in your inbox.")


def open_item(session: Session, actor: Actor, kind: str, item_id: str) -> tuple[str, bytes]:
    """The PDF of one of the person's items (file name, bytes); marks it read."""
    person = require_person(actor).person_id
    assert person is not None
    row: Decision | Certificate | None
    if kind == "decision":
        row = session.get(Decision, item_id)
        name = f"decision-{item_id}.pdf"
    elif kind == "certificate":
        row = session.get(Certificate, item_id)
        name = f"certificate-{item_id}.pdf"
    else:
        raise _not_found()
    app = session.get(Application, row.application_id) if row is not None else None
    if row is None or app is None or not (app.applicant == actor.label or app.subject_id == person):
        raise _not_found()
    mark_read(session, person, kind, item_id)
    return name, bytes(row.pdf)


def mark_read(session: Session, person_id: str, kind: str, item_id: str) -> None:
    """Idempotent: the first opening counts, concurrent ones do not fail."""
    key = {"person_id": person_id, "item_kind": kind, "item_id": item_id}
    if session.get(InboxRead, key) is not None:
        return
    try:
        with session.begin_nested():
            session.add(InboxRead(**key, read_at=utcnow()))
    except IntegrityError:
        pass


def mark_read_for(session: Session, actor: Actor, kind: str, item_id: str) -> None:
    """Mark read without downloading (the API's "read" flag); only the person's own items."""
    if not any(i.kind == kind and i.id == item_id for i in items(session, actor)):
        raise _not_found()
    person = actor.person_id
    assert person is not None
    mark_read(session, person, kind, item_id)
