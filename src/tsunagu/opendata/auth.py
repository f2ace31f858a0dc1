"""Who is calling: API tokens, catalog users and their capacities in organizations.

Tokens are random secrets shown once; only their SHA-256 is stored, so a
database leak reveals no usable token. Capacities follow CKAN: ``member`` may
read the organization's private datasets, ``editor`` may also write them,
``admin`` may also manage members; a sysadmin may do anything.

Officials who log in to the web pages act through a catalog user of their
own (``official-<official id>``): holding the data-publisher role, they are
editors of every catalog organization linked to their organization by
``identity_org_id``, for as long as they hold the role.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied
from tsunagu.identity.roles import Actor as Party
from tsunagu.identity.roles import ActorKind, Permission
from tsunagu.opendata.models import OdApiToken, OdMember, OdOrganization, OdUser

CAPACITIES = ("member", "editor", "admin")
TOKEN_PREFIX = "tsod_"


@dataclass(frozen=True)
class Actor:
    """The caller of an action; ``user_id`` is None for anonymous callers."""

    user_id: str | None = None
    name: str = "anonymous"
    sysadmin: bool = False
    capacities: dict[str, str] = field(default_factory=dict)

    @property
    def audit_name(self) -> str:
        return f"opendata-user:{self.name}" if self.user_id else "anonymous"

    def can_read_org_private(self, org_id: str | None) -> bool:
        return self.sysadmin or (org_id is not None and org_id in self.capacities)

    def can_edit_org(self, org_id: str | None) -> bool:
        if self.sysadmin:
            return True
        return org_id is not None and self.capacities.get(org_id) in ("editor", "admin")

    def can_admin_org(self, org_id: str | None) -> bool:
        return self.sysadmin or (org_id is not None and self.capacities.get(org_id) == "admin")

    def readable_orgs(self) -> list[str]:
        return sorted(self.capacities)

    def editable_orgs(self) -> list[str]:
        return sorted(o for o, c in self.capacities.items() if c in ("editor", "admin"))


ANONYMOUS = Actor()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def actor_for_user(session: Session, user: OdUser) -> Actor:
    rows = session.execute(
        select(OdMember.organization_id, OdMember.capacity).where(OdMember.user_id == user.id)
    ).all()
    return Actor(user.id, user.name, user.sysadmin, {org: cap for org, cap in rows})


def official_user_name(official_id: str) -> str:
    return f"official-{official_id}"


def actor_for_official(session: Session, party: Party, *, create_user: bool = False) -> Actor:
    """The catalog actor of a logged-in official (anonymous for anyone else).

    ``create_user`` makes the official's catalog user on their first change;
    reading needs none.
    """
    if party.kind is not ActorKind.OFFICIAL or party.official_id is None:
        return ANONYMOUS
    name = official_user_name(party.official_id)
    user = session.execute(select(OdUser).where(OdUser.name == name)).scalar_one_or_none()
    if user is None and create_user:
        user = ensure_user(session, name, fullname=party.display_name, actor=party.label)
    capacities: dict[str, str] = {}
    if user is not None:
        capacities = dict(actor_for_user(session, user).capacities)
    if party.can(Permission.DATA_PUBLISH) and party.organization_id:
        linked = session.execute(
            select(OdOrganization.id).where(
                OdOrganization.identity_org_id == party.organization_id,
                OdOrganization.state == "active",
            )
        ).scalars()
        for org_id in linked:
            if capacities.get(org_id) != "admin":
                capacities[org_id] = "editor"
    if user is None:
        return Actor(None, name, False, capacities)
    return Actor(user.id, user.name, user.sysadmin, capacities)


def actor_from_token(session: Session, token: str | None) -> Actor:
    """The token's user, or anonymous when no token is given; a bad token is refused."""
    if not token:
        return ANONYMOUS
    token = token.strip().removeprefix("Bearer ").strip()
    row = session.execute(
        select(OdApiToken, OdUser)
        .join(OdUser, OdUser.id == OdApiToken.user_id)
        .where(OdApiToken.token_hash == hash_token(token), OdApiToken.revoked_at.is_(None))
    ).first()
    if row is None or row[1].state != "active":
        raise PermissionDenied(
            "opendata.bad_token",
            "API トークンが無効です。",
            "The API token is not valid.",
        )
    token_row, user = row
    token_row.last_used_at = utcnow()
    return actor_for_user(session, user)


def get_user(session: Session, name_or_id: str) -> OdUser:
    user = session.execute(
        select(OdUser).where((OdUser.name == name_or_id) | (OdUser.id == name_or_id))
    ).scalar_one_or_none()
    if user is None:
        raise NotFoundError(
            "opendata.user_not_found",
            f"利用者 {name_or_id} が見つかりません。",
            f"User {name_or_id} not found.",
        )
    return user


def ensure_user(
    session: Session,
    name: str,
    *,
    fullname: str = "",
    email: str | None = None,
    sysadmin: bool = False,
    actor: str = "system",
) -> OdUser:
    """The user called ``name``, created on first use (idempotent for CLI and seeding)."""
    existing = session.execute(select(OdUser).where(OdUser.name == name)).scalar_one_or_none()
    if existing is not None:
        if sysadmin and not existing.sysadmin:
            existing.sysadmin = True
        return existing
    user = OdUser(
        id=str(uuid.uuid4()),
        name=name,
        fullname=fullname or name,
        email=email,
        sysadmin=sysadmin,
        state="active",
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="opendata.user.create",
        object_type="opendata_user",
        object_id=user.id,
        data={"name": name, "sysadmin": sysadmin},
    )
    return user


def create_token(session: Session, user: OdUser, name: str, *, actor: str = "system") -> str:
    """A new token for ``user``; the returned secret is never stored."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = OdApiToken(
        id=str(uuid.uuid4()),
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    # Ids go in object_id, never in data: a UUID's last group can look like a 個人番号.
    audit.record(
        session,
        actor=actor,
        action="opendata.token.create",
        object_type="opendata_api_token",
        object_id=token.id,
        data={"user": user.name, "name": name},
    )
    return secret


def revoke_token(session: Session, token_id: str, *, actor: str = "system") -> None:
    token = session.get(OdApiToken, token_id)
    if token is None:
        raise NotFoundError(
            "opendata.token_not_found", "トークンが見つかりません。", "Token not found."
        )
    token.revoked_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="opendata.token.revoke",
        object_type="opendata_api_token",
        object_id=token_id,
        data={},
    )
