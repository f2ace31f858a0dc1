"""Electronic powers of attorney (電子委任状): registered once, reused by every procedure.

The principal (a person, or a corporation through its business account) signs
a JSON document naming the agent (a person or an organization), the procedure
types and the validity period. Procedures call ``check`` with the agent and
the procedure; a revoked power of attorney fails at once.

Document (signed as canonical JSON, see ``trust.protocol.canonical_json``)::

    {"type": "tsunagu-power-of-attorney/1",
     "principal": {"kind": "person"|"organization", "id": "<uuid>"},
     "agent": {"kind": "person"|"organization", "id": "<uuid>"},
     "procedures": ["<procedure type>", …],
     "valid_from": "<ISO 8601>", "valid_until": "<ISO 8601>"}
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import TOKYO, utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.identity import business
from tsunagu.identity.access_models import BusinessAccount, Delegation
from tsunagu.identity.models import Organization, Person
from tsunagu.identity.roles import Actor, ActorKind, Permission
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import CertKind

DOCUMENT_TYPE = "tsunagu-power-of-attorney/1"
MAX_VALIDITY = timedelta(days=5 * 366)
PROCEDURE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KINDS = ("person", "organization")


def _bad(reason_ja: str, reason_en: str) -> ValidationError:
    return ValidationError("invalid_power_of_attorney", reason_ja, reason_en)


def _party(value: Any, role: str) -> tuple[str, str]:
    if (
        not isinstance(value, dict)
        or value.get("kind") not in KINDS
        or not isinstance(value.get("id"), str)
    ):
        raise _bad(f"{role} の指定が不正です。", f"The {role} must be {{kind, id}}.")
    return value["kind"], value["id"]


def _when(value: Any, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise _bad(f"{field} の日時が不正です。", f"{field} is not an ISO 8601 time.") from exc
    if moment.tzinfo is None:
        raise _bad(f"{field} にタイムゾーンが必要です。", f"{field} needs a time zone.")
    return moment


def _principal_side(session: Session, actor: Actor, kind: str, party_id: str) -> bool:
    """Whether ``actor`` speaks for the principal (the person, or a member of the corporation)."""
    if kind == "person":
        return actor.kind is ActorKind.PERSON and actor.person_id == party_id
    try:
        found = business.membership(session, actor)
    except PermissionDenied:
        return False
    return found.account.organization_id == party_id


@dataclass(frozen=True)
class _Document:
    """A power-of-attorney document that is well formed and names existing parties."""

    principal: tuple[str, str]
    agent: tuple[str, str]
    procedures: list[str]
    valid_from: datetime
    valid_until: datetime


def _checked(session: Session, document: dict[str, Any]) -> _Document:
    if document.get("type") != DOCUMENT_TYPE:
        raise _bad("委任状の種類が不正です。", f"The document type must be {DOCUMENT_TYPE}.")
    principal = _party(document.get("principal"), "principal")
    agent = _party(document.get("agent"), "agent")
    procedures = document.get("procedures")
    if (
        not isinstance(procedures, list)
        or not procedures
        or len(procedures) > 50
        or not all(isinstance(p, str) and PROCEDURE.match(p) for p in procedures)
    ):
        raise _bad(
            "委任する手続の指定が不正です。", "procedures must be 1–50 procedure type codes."
        )
    valid_from = _when(document.get("valid_from"), "valid_from")
    valid_until = _when(document.get("valid_until"), "valid_until")
    if not valid_from < valid_until <= valid_from + MAX_VALIDITY:
        raise _bad(
            "有効期間が不正です (最長 5 年)。", "The validity period is invalid (5 years at most)."
        )
    for kind, party_id in (principal, agent):
        model = Person if kind == "person" else Organization
        if session.get(model, party_id) is None:
            raise NotFoundError(
                "party_not_found", "委任者または代理人が見つかりません。", f"No {kind} {party_id}."
            )
    return _Document(principal, agent, sorted(set(procedures)), valid_from, valid_until)


def draft(
    session: Session,
    actor: Actor,
    *,
    agent_kind: str,
    agent: str,
    procedures: list[str],
    first_day: date,
    last_day: date,
) -> dict[str, Any]:
    """The document the caller is about to sign, built from what a form asks for.

    The caller is the principal (a person for themself; a business member for
    their corporation). An organization agent may be named by its 法人番号.
    The period runs from the start of ``first_day`` to the end of ``last_day``
    in Japan time.
    """
    if actor.kind is ActorKind.PERSON and actor.person_id is not None:
        principal = {"kind": "person", "id": actor.person_id}
    elif actor.kind is ActorKind.MEMBER and actor.organization_id is not None:
        principal = {"kind": "organization", "id": actor.organization_id}
    else:
        raise PermissionDenied(
            "not_principal",
            "本人または法人アカウントのメンバーとしてログインしてください。",
            "Log in as a person or as a member of a business account to give a power of attorney.",
        )
    agent_id = agent.strip()
    if agent_kind == "organization" and agent_id.isdigit():
        found = session.execute(
            select(Organization.id).where(Organization.corporate_number == agent_id)
        ).scalar_one_or_none()
        agent_id = found or agent_id
    document = {
        "type": DOCUMENT_TYPE,
        "principal": principal,
        "agent": {"kind": agent_kind, "id": agent_id},
        "procedures": sorted({p.strip() for p in procedures if p.strip()}),
        "valid_from": _tokyo_midnight(first_day).isoformat(),
        "valid_until": _tokyo_midnight(last_day + timedelta(days=1)).isoformat(),
    }
    _checked(session, document)
    return document


def _tokyo_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=TOKYO)


def register(
    session: Session, actor: Actor, *, document: dict[str, Any], cms_der: bytes
) -> Delegation:
    """Check the document and its signature, then register it (the principal side only)."""
    checked = _checked(session, document)
    (principal_kind, principal_id), (agent_kind, agent_id) = checked.principal, checked.agent
    if not _principal_side(session, actor, principal_kind, principal_id):
        raise PermissionDenied(
            "not_principal",
            "委任者本人のみ登録できます。",
            "Only the principal can register a power of attorney.",
        )
    verified = trust.verify_signature(session, cms_der, protocol.canonical_json(document))
    _check_signer(session, verified.signer, principal_kind, principal_id)
    row = Delegation(
        id=str(uuid.uuid4()),
        principal_person_id=principal_id if principal_kind == "person" else None,
        principal_organization_id=principal_id if principal_kind == "organization" else None,
        agent_person_id=agent_id if agent_kind == "person" else None,
        agent_organization_id=agent_id if agent_kind == "organization" else None,
        procedures=json.dumps(checked.procedures),
        valid_from=checked.valid_from,
        valid_until=checked.valid_until,
        document=protocol.canonical_json(document).decode("utf-8"),
        signature=cms_der,
        signer_serial=verified.signer.serial,
        created_by=actor.label,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor.label,
        action="identity.delegation_registered",
        object_type="delegation",
        object_id=row.id,
        data={"procedures": checked.procedures},
    )
    return row


def _check_signer(session: Session, signer: Any, kind: str, party_id: str) -> None:
    """A person signs with their own signing certificate; a corporation with its seal or
    with the signing certificate of its business account's prime (the representative)."""
    if kind == "person":
        ok = signer.kind is CertKind.SIGNING and signer.subject_ref == party_id
    elif signer.kind is CertKind.SEAL:
        ok = signer.subject_ref == party_id
    else:
        prime = session.execute(
            select(BusinessAccount.prime_person_id).where(
                BusinessAccount.organization_id == party_id
            )
        ).scalar_one_or_none()
        ok = signer.kind is CertKind.SIGNING and prime is not None and signer.subject_ref == prime
    if not ok:
        raise PermissionDenied(
            "wrong_signer",
            "委任者の署名ではありません。",
            "The power of attorney is not signed by the principal.",
        )


def _principal_of(row: Delegation) -> tuple[str, str]:
    if row.principal_person_id:
        return "person", row.principal_person_id
    return "organization", str(row.principal_organization_id)


def is_principal_side(session: Session, actor: Actor, row: Delegation) -> bool:
    """Whether ``actor`` speaks for the principal of ``row`` (and so may revoke it)."""
    return _principal_side(session, actor, *_principal_of(row))


def _visible(session: Session, actor: Actor, row: Delegation) -> bool:
    if actor.can(Permission.DELEGATION_INSPECT):
        return True
    if is_principal_side(session, actor, row):
        return True
    if row.agent_person_id is not None:
        return actor.person_id == row.agent_person_id and actor.kind is ActorKind.PERSON
    return _principal_side(session, actor, "organization", str(row.agent_organization_id))


def get(session: Session, actor: Actor, delegation_id: str) -> Delegation:
    row = session.get(Delegation, delegation_id)
    if row is None or not _visible(session, actor, row):
        raise NotFoundError(
            "delegation_not_found", "委任状が見つかりません。", "No such power of attorney."
        )
    return row


def mine(session: Session, actor: Actor) -> list[Delegation]:
    """Powers of attorney where the caller is principal or agent."""
    rows = session.execute(
        select(Delegation)
        .where(
            or_(
                Delegation.principal_person_id == actor.person_id,
                Delegation.agent_person_id == actor.person_id,
                Delegation.principal_organization_id == actor.organization_id,
                Delegation.agent_organization_id == actor.organization_id,
            )
        )
        .order_by(Delegation.created_at.desc())
    ).scalars()
    return [row for row in rows if _visible(session, actor, row)]


def revoke(session: Session, actor: Actor, delegation_id: str) -> Delegation:
    """The principal side revokes; every later ``check`` fails immediately."""
    row = get(session, actor, delegation_id)
    if not is_principal_side(session, actor, row):
        raise PermissionDenied(
            "not_principal",
            "委任者のみ取り消せます。",
            "Only the principal can revoke a power of attorney.",
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_by = actor.label
        audit.record(
            session,
            actor=actor.label,
            action="identity.delegation_revoked",
            object_type="delegation",
            object_id=row.id,
        )
    return row


def check(
    session: Session,
    *,
    agent_kind: str,
    agent_id: str,
    principal_kind: str,
    principal_id: str,
    procedure: str,
    at: datetime | None = None,
) -> Delegation | None:
    """The power of attorney letting ``agent`` act for ``principal`` in ``procedure`` now."""
    moment = at or utcnow()
    query = select(Delegation).where(Delegation.revoked_at.is_(None))
    query = query.where(
        (Delegation.agent_person_id if agent_kind == "person" else Delegation.agent_organization_id)
        == agent_id,
        (
            Delegation.principal_person_id
            if principal_kind == "person"
            else Delegation.principal_organization_id
        )
        == principal_id,
    )
    for row in session.execute(query).scalars():
        within = row.valid_from <= moment < row.valid_until
        if within and procedure in json.loads(row.procedures):
            return row
    return None


def view(row: Delegation) -> dict[str, Any]:
    return {
        "id": row.id,
        "document": json.loads(row.document),
        "signer_serial": row.signer_serial,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "procedures": json.loads(row.procedures),
        "revoked_at": row.revoked_at,
        "status": "revoked"
        if row.revoked_at
        else ("expired" if row.valid_until <= utcnow() else "valid"),
    }
