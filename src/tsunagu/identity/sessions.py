"""Login sessions: opaque cookie tokens (stored hashed), expiry, logout and CSRF tokens.

The CSRF token is an HMAC of the session token under the deployment secret:
a page can embed it, a script on another site cannot compute it, and no
extra column is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.db import DriverQuery
from tsunagu.identity.access_models import BusinessAccount, BusinessMember, LoginSession
from tsunagu.identity.models import Official, OfficialRoleGrant, Person
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OfficialRole
from tsunagu.trust.models import Certificate

COOKIE = "tsunagu_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = timedelta(hours=2)


class Method:
    CARD = "card"
    PASSWORD_TOTP = "password_totp"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(secret_key: str, token: str) -> str:
    return hmac.new(
        secret_key.encode("utf-8"), b"csrf:" + token.encode("utf-8"), "sha256"
    ).hexdigest()


def csrf_ok(secret_key: str, token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret_key, token), presented or "")


@dataclass(frozen=True)
class Started:
    token: str
    expires_at: datetime
    actor: Actor


def start(
    session: Session,
    *,
    method: str,
    ial: int,
    aal: int,
    person_id: str | None = None,
    official_id: str | None = None,
    member_id: str | None = None,
    certificate_serial: str | None = None,
) -> Started:
    """Open a session for exactly one principal and audit the login."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession(
        id=token_hash(token),
        person_id=person_id,
        official_id=official_id,
        member_id=member_id,
        method=method,
        ial=ial,
        aal=aal,
        certificate_serial=certificate_serial,
        created_at=now,
        expires_at=now + SESSION_TTL,
    )
    session.add(row)
    session.flush()
    actor = _actor(session, row)
    audit.record(
        session,
        actor=actor.label,
        action="identity.login",
        object_type="session",
        object_id=row.id[:16],
        data={"method": method, "ial": ial, "aal": aal},
    )
    return Started(token=token, expires_at=row.expires_at, actor=actor)


# Every request with a cookie runs this: the session with, for an official, the
# official and one row per role, for a resident their name and whether the card
# that opened the session is revoked, in one round trip (the ORM took three).
_RESOLVE = DriverQuery(
    select(
        LoginSession.official_id,
        LoginSession.person_id,
        LoginSession.member_id,
        LoginSession.ial,
        LoginSession.aal,
        LoginSession.certificate_serial,
        LoginSession.expires_at,
        LoginSession.ended_at,
        Official.person_id.label("official_person_id"),
        Official.organization_id,
        Official.display_name,
        Official.active,
        OfficialRoleGrant.role,
        Person.family_name,
        Person.given_name,
        Certificate.serial.label("certificate_known"),
        Certificate.revoked_at.label("certificate_revoked_at"),
    )
    .select_from(LoginSession)
    .outerjoin(Official, Official.id == LoginSession.official_id)
    .outerjoin(OfficialRoleGrant, OfficialRoleGrant.official_id == LoginSession.official_id)
    .outerjoin(Person, Person.id == LoginSession.person_id)
    .outerjoin(Certificate, Certificate.serial == LoginSession.certificate_serial)
    .where(LoginSession.id == bindparam("id"))
)


def resolve(session: Session, token: str | None) -> Actor | None:
    """The actor of a live session, or None (unknown, ended, expired, card revoked)."""
    if not token or len(token) > 100:
        return None
    # On the connection: a lookup needs no flush and no ORM execution set-up.
    rows = _RESOLVE.rows(session.connection(), {"id": token_hash(token)})
    if not rows:
        return None
    row = rows[0]
    if row.ended_at is not None or row.expires_at <= utcnow():
        return None
    # A card unknown to the platform counts as revoked.
    if row.certificate_serial and (
        row.certificate_known is None or row.certificate_revoked_at is not None
    ):
        return None
    if row.official_id is not None:
        return Actor(
            kind=ActorKind.OFFICIAL,
            ial=row.ial,
            aal=row.aal,
            official_id=row.official_id,
            person_id=row.official_person_id,
            organization_id=row.organization_id,
            roles=frozenset(OfficialRole(r.role) for r in rows if r.role is not None)
            if row.active
            else frozenset(),
            display_name=row.display_name or "",
        )
    if row.member_id is None:
        return _person_actor(row, row.family_name, row.given_name)
    return _actor(session, row)


def end(session: Session, token: str | None) -> None:
    """Log out (idempotent)."""
    if not token:
        return
    row = session.get(LoginSession, token_hash(token))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        actor = _actor(session, row)
        audit.record(
            session,
            actor=actor.label,
            action="identity.logout",
            object_type="session",
            object_id=row.id[:16],
        )


def end_for_person(session: Session, person_id: str) -> None:
    """End every session of a person (after their card was revoked)."""
    session.execute(
        update(LoginSession)
        .where(LoginSession.person_id == person_id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def end_for_member(session: Session, member_id: str) -> None:
    session.execute(
        update(LoginSession)
        .where(LoginSession.member_id == member_id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )


class _Principal(Protocol):
    """Who a session is for: a stored session row or a row of ``_RESOLVE``."""

    official_id: str | None
    member_id: str | None
    person_id: str | None
    ial: int
    aal: int


def _actor(session: Session, row: _Principal) -> Actor:
    if row.official_id is not None:
        official = session.get(Official, row.official_id)
        roles = (
            frozenset(
                OfficialRole(r)
                for r in session.execute(
                    select(OfficialRoleGrant.role).where(
                        OfficialRoleGrant.official_id == row.official_id
                    )
                ).scalars()
            )
            if official is not None and official.active
            else frozenset()
        )
        return Actor(
            kind=ActorKind.OFFICIAL,
            ial=row.ial,
            aal=row.aal,
            official_id=row.official_id,
            person_id=official.person_id if official else None,
            organization_id=official.organization_id if official else None,
            roles=roles,
            display_name=official.display_name if official else "",
        )
    if row.member_id is not None:
        member = session.get(BusinessMember, row.member_id)
        account = session.get(BusinessAccount, member.account_id) if member else None
        return Actor(
            kind=ActorKind.MEMBER,
            ial=row.ial,
            aal=row.aal,
            member_id=row.member_id,
            person_id=member.person_id if member else None,
            business_account_id=account.id if account else None,
            organization_id=account.organization_id if account else None,
            is_prime=bool(member and member.is_prime),
            display_name=member.display_name if member else "",
        )
    person = session.get(Person, row.person_id) if row.person_id else None
    if person is None:
        return _person_actor(row, None, None)
    return _person_actor(row, person.family_name, person.given_name)


def _person_actor(row: _Principal, family_name: str | None, given_name: str | None) -> Actor:
    return Actor(
        kind=ActorKind.PERSON,
        ial=row.ial,
        aal=row.aal,
        person_id=row.person_id,
        display_name=f"{family_name}\u3000{given_name}" if family_name is not None else "",
    )
