"""JSON endpoints for login, sessions and the digital card (who may call each is in its
docstring and enforced by the service functions it calls).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tsunagu.core.errors import PermissionDenied
from tsunagu.core.web import DbSession
from tsunagu.identity import auth, business, card, delegation, sessions
from tsunagu.identity.deps import (
    CurrentActor,
    clear_session_cookie,
    csrf_for,
    require_login,
    require_official,
    require_person,
    session_token,
    set_session_cookie,
    settings_of,
)
from tsunagu.identity.roles import Actor, Permission
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.schemas import ChallengeOut

router = APIRouter(prefix="/api/identity", tags=["identity: access"])

LoggedIn = Annotated[Actor, Depends(require_login)]
PersonActor = Annotated[Actor, Depends(require_person)]
OfficialActor = Annotated[Actor, Depends(require_official())]


class CardLoginIn(BaseModel):
    nonce: str = Field(min_length=10, max_length=100)
    certificate: str = Field(min_length=1, max_length=12_000, description="Base64 DER")
    signature: str = Field(min_length=1, max_length=800, description="Base64 (DER or r‖s)")


class PasswordLoginIn(BaseModel):
    login_name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)
    totp: str = Field(min_length=6, max_length=8)


class SessionOut(BaseModel):
    kind: str
    display_name: str
    person_id: str | None
    official_id: str | None
    member_id: str | None
    roles: list[str]
    ial: str
    aal: str
    csrf_token: str
    expires_at: datetime | None = None


def session_out(actor: Actor, csrf: str, expires_at: datetime | None = None) -> SessionOut:
    return SessionOut(
        kind=actor.kind.value,
        display_name=actor.display_name,
        person_id=actor.person_id,
        official_id=actor.official_id,
        member_id=actor.member_id,
        roles=sorted(r.value for r in actor.roles),
        ial=actor.ial_name,
        aal=actor.aal_name,
        csrf_token=csrf,
        expires_at=expires_at,
    )


def _logged_in(request: Request, started: sessions.Started) -> JSONResponse:
    csrf = sessions.csrf_token(settings_of(request).secret_key, started.token)
    body = session_out(started.actor, csrf, started.expires_at)
    response = JSONResponse(body.model_dump(mode="json"))
    set_session_cookie(request, response, started)
    return response


@router.post("/login/challenge", response_model=ChallengeOut)
def login_challenge(request: Request, db: DbSession) -> ChallengeOut:
    """Anyone: a fresh single-use nonce (2 minutes) bound to this site's origin."""
    issued = auth.login_challenge(db, settings_of(request))
    return ChallengeOut(nonce=issued.nonce, origin=issued.origin, expires_at=issued.expires_at)


@router.post("/login/card", response_model=SessionOut)
def login_card(body: CardLoginIn, request: Request, db: DbSession) -> JSONResponse:
    """Anyone holding a valid authentication key: signature over the challenge → session."""
    started = auth.login_with_card(
        db,
        settings_of(request),
        nonce=body.nonce,
        certificate=protocol.unb64(body.certificate, what="certificate"),
        signature=protocol.unb64(body.signature, what="signature"),
    )
    return _logged_in(request, started)


@router.post("/login/password", response_model=SessionOut)
def login_password(body: PasswordLoginIn, request: Request, db: DbSession) -> JSONResponse:
    """Officials and business members: password + TOTP (5 failures lock for 15 minutes)."""
    started = auth.login_with_password(
        db,
        settings_of(request),
        login_name=body.login_name,
        password=body.password,
        totp=body.totp,
    )
    if started is None:
        return JSONResponse(
            {
                "error": {
                    "code": "login_failed",
                    "message_ja": "ログイン名・パスワード・確認コードのいずれかが違います。",
                    "message_en": "Wrong login name, password or one-time code.",
                }
            },
            status_code=401,
        )
    return _logged_in(request, started)


@router.post("/logout", status_code=204)
def logout(request: Request, actor: CurrentActor, db: DbSession) -> JSONResponse:
    """The session's holder (CSRF-checked): end the session and clear the cookie."""
    sessions.end(db, session_token(request))
    response = JSONResponse(None, status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/session", response_model=SessionOut)
def current(request: Request, actor: LoggedIn) -> SessionOut:
    """The caller's own session: who, roles, assurance levels and the CSRF token."""
    return session_out(actor, csrf_for(request))


class CardCertificateOut(BaseModel):
    serial: str
    kind: str
    status: str
    reason: str | None
    not_before: datetime
    not_after: datetime
    revoked_at: datetime | None


@router.get("/card", response_model=list[CardCertificateOut])
def my_card(actor: PersonActor, db: DbSession) -> list[CardCertificateOut]:
    """A person: their own certificates and status (never anyone else's)."""
    return [CardCertificateOut(**c.__dict__) for c in card.my_certificates(db, actor)]


@router.post("/card/loss", response_model=list[str])
def report_loss(actor: PersonActor, db: DbSession) -> list[str]:
    """A person: report the device lost; both certificates are revoked at once."""
    return card.report_loss(db, actor)


class CounterEnrollmentIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=36)
    document: str = Field(min_length=1, max_length=40)
    scope: trust.Scope = trust.Scope.BOTH


class CodeOut(BaseModel):
    code: str
    expires_at: datetime


@router.post("/counter/enrollments", response_model=CodeOut)
def counter_enrollment(body: CounterEnrollmentIn, actor: OfficialActor, db: DbSession) -> CodeOut:
    """Counter staff of the person's municipality: record the check, get a one-time code."""
    issued = card.issue_at_counter(
        db, actor, person_id=body.person_id, document=body.document, scope=body.scope
    )
    return CodeOut(code=issued.code, expires_at=issued.expires_at)


class CardEventIn(BaseModel):
    person_id: str = Field(min_length=1, max_length=36)
    event: trust.Reason


@router.post("/counter/events", response_model=list[str])
def counter_event(body: CardEventIn, actor: OfficialActor, db: DbSession) -> list[str]:
    """Counter staff or registry keepers: apply the JPKI rule for a life event."""
    return card.record_event(db, actor, person_id=body.person_id, event=body.event)


@router.get("/counter/persons/{person_id}/card", response_model=list[CardCertificateOut])
def person_card(person_id: str, actor: OfficialActor, db: DbSession) -> list[CardCertificateOut]:
    """Counter staff or registry keepers of the person's municipality: their certificates."""
    card.counter_person(db, actor, person_id)
    return [CardCertificateOut(**c.__dict__) for c in card.certificates(db, person_id)]


# --- business accounts -------------------------------------------------------------


class SealAccountIn(BaseModel):
    corporate_number: str = Field(min_length=13, max_length=20)
    cms: str = Field(
        min_length=1, max_length=350_000, description="Base64 CMS over the account document"
    )


class CounterAccountIn(BaseModel):
    corporate_number: str = Field(min_length=13, max_length=20)
    person_id: str = Field(min_length=1, max_length=36)


class AccountOut(BaseModel):
    account_id: str
    organization_id: str
    verification: str
    prime_member_id: str


class MemberIn(BaseModel):
    login_name: str = Field(min_length=3, max_length=100)
    display_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=12, max_length=256)


class MemberOut(BaseModel):
    id: str
    login_name: str
    display_name: str
    is_prime: bool
    created_at: datetime


class NewMemberOut(MemberOut):
    totp_secret: str
    totp_uri: str


class SealIn(BaseModel):
    organization_id: str = Field(min_length=1, max_length=36)
    csr: str = Field(min_length=1, max_length=12_000)


def _account_out(found: business.Membership) -> AccountOut:
    return AccountOut(
        account_id=found.account.id,
        organization_id=found.account.organization_id,
        verification=found.account.verification,
        prime_member_id=found.member.id,
    )


@router.post("/business/accounts/seal", response_model=AccountOut)
def open_account_with_seal(body: SealAccountIn, actor: LoggedIn, db: DbSession) -> AccountOut:
    """The representative (card login, IAL3): corporate seal signature + 法人番号 → prime."""
    return _account_out(
        business.open_with_seal(
            db,
            actor,
            corporate_number=body.corporate_number,
            cms_der=protocol.unb64(body.cms, what="cms"),
        )
    )


@router.post("/business/accounts/counter", response_model=AccountOut)
def open_account_at_counter(
    body: CounterAccountIn, actor: OfficialActor, db: DbSession
) -> AccountOut:
    """Counter staff: documents checked in person → prime account for ``person_id``."""
    return _account_out(
        business.open_at_counter(
            db, actor, corporate_number=body.corporate_number, person_id=body.person_id
        )
    )


@router.post("/business/seals", response_model=str)
def issue_seal(body: SealIn, request: Request, actor: OfficialActor, db: DbSession) -> str:
    """Administrators and registry keepers: a seal certificate for an organization's key."""
    return business.issue_seal(
        db,
        settings_of(request),
        actor,
        organization_id=body.organization_id,
        csr=body.csr.encode("ascii", "replace"),
    )


@router.get("/business/members", response_model=list[MemberOut])
def list_members(actor: LoggedIn, db: DbSession) -> list[MemberOut]:
    """Any member of a business account: the members of their own account."""
    return [MemberOut(**business.member_view(m)) for m in business.members(db, actor)]


@router.post("/business/members", response_model=NewMemberOut)
def add_member(body: MemberIn, request: Request, actor: LoggedIn, db: DbSession) -> NewMemberOut:
    """The prime only: a member with password + TOTP (the secret is shown this once)."""
    member, enrolment = business.add_member(
        db,
        settings_of(request),
        actor,
        login_name=body.login_name,
        display_name=body.display_name,
        password=body.password,
    )
    return NewMemberOut(
        **business.member_view(member), totp_secret=enrolment.secret, totp_uri=enrolment.uri
    )


@router.delete("/business/members/{member_id}", status_code=204)
def remove_member(member_id: str, actor: LoggedIn, db: DbSession) -> JSONResponse:
    """The prime only: remove a member of the same account (their sessions end)."""
    business.remove_member(db, actor, member_id)
    return JSONResponse(None, status_code=204)


# --- powers of attorney ------------------------------------------------------------


class DelegationIn(BaseModel):
    document: dict[str, Any]
    cms: str = Field(min_length=1, max_length=350_000)


class DelegationOut(BaseModel):
    id: str
    document: dict[str, Any]
    signer_serial: str
    valid_from: datetime
    valid_until: datetime
    procedures: list[str]
    revoked_at: datetime | None
    status: str


class DelegationCheckIn(BaseModel):
    principal_kind: str = Field(pattern="^(person|organization)$")
    principal_id: str = Field(min_length=1, max_length=36)
    agent_kind: str = Field(pattern="^(person|organization)$")
    agent_id: str = Field(min_length=1, max_length=36)
    procedure: str = Field(min_length=1, max_length=64)


class DelegationCheckOut(BaseModel):
    valid: bool
    delegation_id: str | None
    valid_until: datetime | None


@router.post("/delegations", response_model=DelegationOut)
def register_delegation(body: DelegationIn, actor: LoggedIn, db: DbSession) -> DelegationOut:
    """The principal (person, or member of the corporation): register a signed power of attorney."""
    row = delegation.register(
        db, actor, document=body.document, cms_der=protocol.unb64(body.cms, what="cms")
    )
    return DelegationOut(**delegation.view(row))


@router.get("/delegations", response_model=list[DelegationOut])
def my_delegations(actor: LoggedIn, db: DbSession) -> list[DelegationOut]:
    """The caller's powers of attorney, as principal or as agent."""
    return [DelegationOut(**delegation.view(r)) for r in delegation.mine(db, actor)]


@router.get("/delegations/{delegation_id}", response_model=DelegationOut)
def get_delegation(delegation_id: str, actor: LoggedIn, db: DbSession) -> DelegationOut:
    """Principal side, agent, or officials who inspect delegations; 404 for anyone else."""
    return DelegationOut(**delegation.view(delegation.get(db, actor, delegation_id)))


@router.post("/delegations/{delegation_id}/revoke", response_model=DelegationOut)
def revoke_delegation(delegation_id: str, actor: LoggedIn, db: DbSession) -> DelegationOut:
    """The principal side only: revoke now."""
    return DelegationOut(**delegation.view(delegation.revoke(db, actor, delegation_id)))


@router.post("/delegations/check", response_model=DelegationCheckOut)
def check_delegation(body: DelegationCheckIn, actor: LoggedIn, db: DbSession) -> DelegationCheckOut:
    """Verification API: officials who inspect delegations, or the agent asking about itself."""
    is_agent = (body.agent_kind == "person" and actor.person_id == body.agent_id) or (
        body.agent_kind == "organization" and actor.organization_id == body.agent_id
    )
    if not (is_agent or actor.can(Permission.DELEGATION_INSPECT)):
        raise PermissionDenied(
            "permission_denied",
            "この操作を行う権限がありません。",
            "Only the agent or an inspecting official may check this.",
        )
    row = delegation.check(
        db,
        agent_kind=body.agent_kind,
        agent_id=body.agent_id,
        principal_kind=body.principal_kind,
        principal_id=body.principal_id,
        procedure=body.procedure,
    )
    return DelegationCheckOut(
        valid=row is not None,
        delegation_id=row.id if row else None,
        valid_until=row.valid_until if row else None,
    )
