"""Business accounts (gBizID-like): a prime account for the corporation's representative,
verified with the 法人番号 and a corporate seal signature or at a counter, and member
accounts the prime creates and removes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core import ids
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tsunagu.identity import auth, sessions
from tsunagu.identity.access_models import BusinessAccount, BusinessMember
from tsunagu.identity.models import Organization, Person
from tsunagu.identity.roles import (
    Actor,
    ActorKind,
    Permission,
    require,
    require_assurance,
    require_person,
)
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.oids import ORGANIZATION_IDENTIFIER
from tsunagu.trust.pki import CertKind, OrganizationAttributes

ACCOUNT_DOCUMENT = "tsunagu-business-account/1"


@dataclass(frozen=True)
class Membership:
    account: BusinessAccount
    member: BusinessMember


def _corporation(session: Session, corporate_number: str) -> Organization:
    check = ids.check(ids.IdKind.CORPORATE, corporate_number)
    if not check.valid:
        raise ValidationError("invalid_corporate_number", check.reason_ja, check.reason_en)
    organization = session.execute(
        select(Organization).where(Organization.corporate_number == check.normalized)
    ).scalar_one_or_none()
    if organization is None:
        raise NotFoundError(
            "corporation_not_found",
            "その法人番号の法人が登録されていません。",
            "No corporation with that corporate number is registered.",
        )
    return organization


def _open(
    session: Session, organization: Organization, person_id: str, how: str, ref: str, actor: str
) -> Membership:
    if session.execute(
        select(BusinessAccount.id).where(BusinessAccount.organization_id == organization.id)
    ).first():
        raise ConflictError(
            "account_exists",
            "この法人のアカウントは既にあります。",
            "This corporation already has a business account.",
        )
    now = utcnow()
    account = BusinessAccount(
        id=str(uuid.uuid4()),
        organization_id=organization.id,
        prime_person_id=person_id,
        verification=how,
        verification_ref=ref,
        created_at=now,
    )
    person = session.get(Person, person_id)
    if person is None:
        raise NotFoundError("person_not_found", "該当する人が見つかりません", "No such person.")
    member = BusinessMember(
        id=str(uuid.uuid4()),
        account_id=account.id,
        person_id=person_id,
        login_name=f"{organization.corporate_number}-prime",
        display_name=f"{person.family_name}\u3000{person.given_name}",
        is_prime=True,
        created_by=actor,
        created_at=now,
    )
    session.add(account)
    session.flush()
    session.add(member)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.business_account_opened",
        object_type="business_account",
        object_id=account.id,
        data={"organization_id": organization.id, "verification": how},
    )
    return Membership(account, member)


def open_with_seal(
    session: Session, actor: Actor, *, corporate_number: str, cms_der: bytes
) -> Membership:
    """The representative, logged in with the card, presents the corporation's seal signature
    over ``{"type": ACCOUNT_DOCUMENT, "corporate_number": …, "representative": <person id>}``."""
    require_assurance(require_person(actor), ial=3, aal=2)
    organization = _corporation(session, corporate_number)
    document = {
        "type": ACCOUNT_DOCUMENT,
        "corporate_number": organization.corporate_number,
        "representative": actor.person_id,
    }
    verified = trust.verify_signature(
        session, cms_der, protocol.canonical_json(document), kinds=(CertKind.SEAL,)
    )
    names = verified.signer.certificate.subject.get_attributes_for_oid(ORGANIZATION_IDENTIFIER)
    if not names or names[0].value != f"NTRJP-{organization.corporate_number}":
        raise PermissionDenied(
            "seal_mismatch",
            "電子印が別の法人のものです。",
            "The seal certificate belongs to another corporation.",
        )
    assert actor.person_id is not None
    return _open(
        session, organization, actor.person_id, "seal", verified.signer.serial, actor.label
    )


def open_at_counter(
    session: Session, actor: Actor, *, corporate_number: str, person_id: str
) -> Membership:
    """A counter official checked the registry certificate and the representative's ID."""
    require(actor, Permission.BUSINESS_VERIFY)
    organization = _corporation(session, corporate_number)
    return _open(session, organization, person_id, "counter", str(actor.official_id), actor.label)


def issue_seal(
    session: Session, settings: Settings, actor: Actor, *, organization_id: str, csr: bytes
) -> str:
    """An administrator or registry keeper issues a seal certificate to an organization."""
    require(actor, Permission.SEAL_ISSUE)
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFoundError(
            "organization_not_found", "組織が見つかりません。", "No such organization."
        )
    row = trust.issue_seal(
        session,
        settings,
        csr_data=csr,
        subject_ref=organization.id,
        actor=actor.label,
        organization=OrganizationAttributes(
            name=organization.name_ja, corporate_number=organization.corporate_number
        ),
    )
    return row.serial


def membership(session: Session, actor: Actor) -> Membership:
    """The caller's business membership: a member login, or a person who is a member."""
    query = select(BusinessMember).where(BusinessMember.removed_at.is_(None))
    if actor.kind is ActorKind.MEMBER:
        query = query.where(BusinessMember.id == actor.member_id)
    elif actor.person_id is not None and actor.kind is ActorKind.PERSON:
        query = query.where(BusinessMember.person_id == actor.person_id)
    else:
        raise _not_member()
    member = session.execute(query.limit(1)).scalar_one_or_none()
    if member is None:
        raise _not_member()
    account = session.get(BusinessAccount, member.account_id)
    assert account is not None
    return Membership(account, member)


def _not_member() -> PermissionDenied:
    return PermissionDenied(
        "not_a_business_member",
        "法人アカウントのメンバーではありません。",
        "You are not a member of a business account.",
    )


def _require_prime(session: Session, actor: Actor) -> Membership:
    found = membership(session, actor)
    if not found.member.is_prime:
        raise PermissionDenied(
            "prime_required",
            "この操作はプライムアカウントのみ行えます。",
            "Only the prime account can manage members.",
        )
    return found


def members(session: Session, actor: Actor) -> list[BusinessMember]:
    """Any member: the current members of their own account."""
    found = membership(session, actor)
    return list(
        session.execute(
            select(BusinessMember)
            .where(
                BusinessMember.account_id == found.account.id, BusinessMember.removed_at.is_(None)
            )
            .order_by(BusinessMember.created_at)
        ).scalars()
    )


def add_member(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    login_name: str,
    display_name: str,
    password: str,
) -> tuple[BusinessMember, auth.Enrolment]:
    """The prime creates a member with password + TOTP (the TOTP secret is shown once)."""
    found = _require_prime(session, actor)
    name = login_name.strip().lower()
    if not name or len(name) > 100 or not display_name.strip():
        raise ValidationError(
            "invalid_member",
            "ログイン名と氏名が必要です。",
            "A login name and a display name are required.",
        )
    if session.execute(select(BusinessMember.id).where(BusinessMember.login_name == name)).first():
        raise ConflictError(
            "duplicate_login_name", "そのログイン名は使われています。", "That login name is taken."
        )
    member = BusinessMember(
        id=str(uuid.uuid4()),
        account_id=found.account.id,
        person_id=None,
        login_name=name,
        display_name=display_name.strip()[:200],
        is_prime=False,
        created_by=actor.label,
        created_at=utcnow(),
    )
    session.add(member)
    session.flush()
    enrolment = auth.set_password(
        session, settings, password=password, member_id=member.id, label=name, actor=actor.label
    )
    audit.record(
        session,
        actor=actor.label,
        action="identity.business_member_added",
        object_type="business_member",
        object_id=member.id,
        data={"account_id": found.account.id},
    )
    return member, enrolment


def remove_member(session: Session, actor: Actor, member_id: str) -> None:
    """The prime removes a member of the same account; their sessions end at once."""
    found = _require_prime(session, actor)
    member = session.get(BusinessMember, member_id)
    if member is None or member.account_id != found.account.id or member.removed_at is not None:
        raise NotFoundError("member_not_found", "メンバーが見つかりません。", "No such member.")
    if member.is_prime:
        raise ValidationError(
            "cannot_remove_prime",
            "プライムは削除できません。",
            "The prime account cannot be removed.",
        )
    member.removed_at = utcnow()
    sessions.end_for_member(session, member.id)
    audit.record(
        session,
        actor=actor.label,
        action="identity.business_member_removed",
        object_type="business_member",
        object_id=member.id,
    )


def member_view(member: BusinessMember) -> dict[str, Any]:
    return {
        "id": member.id,
        "login_name": member.login_name,
        "display_name": member.display_name,
        "is_prime": member.is_prime,
        "created_at": member.created_at,
    }
