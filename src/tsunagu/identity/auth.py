"""Logging in: the digital card (challenge–response with the authentication key) and,
for officials and business members, password (argon2id) plus TOTP.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.identity import sessions
from tsunagu.identity.access_models import BusinessMember, PasswordCredential
from tsunagu.identity.models import Official, Person
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import CertKind

LOGIN_CHALLENGE_TTL = timedelta(minutes=2)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
_HASHER = PasswordHasher()

CARD_IAL, CARD_AAL = 3, 2
STAFF_IAL, STAFF_AAL = 2, 2


def origin(settings: Settings) -> str:
    return protocol.origin_of(settings.base_url)


def login_challenge(session: Session, settings: Settings) -> trust.IssuedChallenge:
    """A fresh nonce for the authentication key to sign (bound to our origin, 2 minutes)."""
    return trust.new_challenge(
        session, purpose=protocol.LOGIN_PURPOSE, origin=origin(settings), ttl=LOGIN_CHALLENGE_TTL
    )


def _login_failed() -> ValidationError:
    return ValidationError(
        "login_failed",
        "ログインできませんでした。証明書・署名・チャレンジを確認してください。",
        "Login failed: check the certificate, the signature and the challenge.",
    )


def login_with_card(
    session: Session, settings: Settings, *, nonce: str, certificate: bytes, signature: bytes
) -> sessions.Started:
    """Check the challenge (once), the authentication certificate and the signature."""
    expires = trust.consume_challenge(
        session, nonce=nonce, purpose=protocol.LOGIN_PURPOSE, origin=origin(settings)
    )
    valid = trust.validate_certificate(session, certificate, kind=CertKind.AUTHENTICATION)
    if len(signature) == 64:
        signature = cms.p1363_to_der(signature)
    cms.verify_raw(
        valid.public_key,
        signature,
        protocol.login_message(origin(settings), nonce, expires),
    )
    if valid.subject_ref is None or session.get(Person, valid.subject_ref) is None:
        raise _login_failed()
    return sessions.start(
        session,
        method=sessions.Method.CARD,
        ial=CARD_IAL,
        aal=CARD_AAL,
        person_id=valid.subject_ref,
        certificate_serial=valid.serial,
    )


# --- password + TOTP --------------------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    key = HKDF(hashes.SHA256(), 32, None, b"tsunagu/identity/totp").derive(
        settings.secret_key.encode("utf-8")
    )
    return Fernet(urlsafe_b64encode(key))


@dataclass(frozen=True)
class Enrolment:
    """What the holder needs once to set up their authenticator app."""

    secret: str
    uri: str


def set_password(
    session: Session,
    settings: Settings,
    *,
    password: str,
    official_id: str | None = None,
    member_id: str | None = None,
    label: str,
    actor: str,
) -> Enrolment:
    """Set (or reset) a password and a new TOTP secret for an official or a member."""
    if len(password) < MIN_PASSWORD or len(password) > 256:
        raise ValidationError(
            "weak_password",
            f"パスワードは {MIN_PASSWORD} 文字以上にしてください。",
            f"The password must be at least {MIN_PASSWORD} characters long.",
        )
    secret = pyotp.random_base32()
    holder = PasswordCredential.official_id if official_id else PasswordCredential.member_id
    row = session.execute(
        select(PasswordCredential).where(holder == (official_id or member_id))
    ).scalar_one_or_none()
    if row is None:
        row = PasswordCredential(official_id=official_id, member_id=member_id)
        session.add(row)
    row.password_hash = _HASHER.hash(password)
    row.totp_secret = _fernet(settings).encrypt(secret.encode()).decode()
    row.totp_last_step = 0
    row.failed_attempts = 0
    row.locked_until = None
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="identity.password_set",
        object_type="credential",
        object_id=str(row.id),
    )
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name="tsunagu"))


@dataclass(frozen=True)
class Holder:
    official_id: str | None
    member_id: str | None


def _holder(session: Session, login_name: str) -> Holder | None:
    name = login_name.strip().lower()
    official = session.execute(
        select(Official.id).where(Official.login_name == name, Official.active.is_(True))
    ).scalar_one_or_none()
    if official is not None:
        return Holder(official, None)
    member = session.execute(
        select(BusinessMember.id).where(
            BusinessMember.login_name == name, BusinessMember.removed_at.is_(None)
        )
    ).scalar_one_or_none()
    return Holder(None, member) if member is not None else None


def login_with_password(
    session: Session, settings: Settings, *, login_name: str, password: str, totp: str
) -> sessions.Started | None:
    """Password + current TOTP code; None on failure (the failure is recorded, not raised,
    so the caller's transaction keeps the attempt count and any lockout)."""
    holder = _holder(session, login_name)
    if holder is None:
        _HASHER.hash(password)  # same cost whether or not the account exists
        return None
    column = PasswordCredential.official_id if holder.official_id else PasswordCredential.member_id
    row = session.execute(
        select(PasswordCredential)
        .where(column == (holder.official_id or holder.member_id))
        .with_for_update()
    ).scalar_one_or_none()
    now = utcnow()
    if row is None or (row.locked_until is not None and row.locked_until > now):
        return None
    step = _totp_step(settings, row, totp)
    if not _password_ok(row, password) or step is None:
        row.failed_attempts += 1
        if row.failed_attempts >= MAX_FAILURES:
            row.locked_until = now + LOCKOUT
            row.failed_attempts = 0
        audit.record(
            session,
            actor=f"login:{login_name[:50]}",
            action="identity.login_failed",
            object_type="credential",
            object_id=str(row.id),
        )
        return None
    row.failed_attempts = 0
    row.totp_last_step = step
    return sessions.start(
        session,
        method=sessions.Method.PASSWORD_TOTP,
        ial=STAFF_IAL,
        aal=STAFF_AAL,
        official_id=holder.official_id,
        member_id=holder.member_id,
    )


def _password_ok(row: PasswordCredential, password: str) -> bool:
    try:
        return _HASHER.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _totp_step(settings: Settings, row: PasswordCredential, code: str) -> int | None:
    """The time step the code belongs to (±1 step), refusing one already used."""
    secret = _fernet(settings).decrypt(row.totp_secret.encode()).decode()
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for offset in (0, -1, 1):
        moment = now + timedelta(seconds=offset * totp.interval)
        step = int(moment.timestamp()) // totp.interval
        if step > row.totp_last_step and pyotp.utils.strings_equal(totp.at(moment), code.strip()):
            return step
    return None


def current_totp(settings: Settings, session: Session, login_name: str) -> str:
    """The current code of a holder (for demos and tests; never exposed over HTTP)."""
    holder = _holder(session, login_name)
    if holder is None:
        raise NotFoundError("unknown_login", "ログイン名が見つかりません。", "No such login name.")
    column = PasswordCredential.official_id if holder.official_id else PasswordCredential.member_id
    row = session.execute(
        select(PasswordCredential).where(column == (holder.official_id or holder.member_id))
    ).scalar_one()
    return pyotp.TOTP(_fernet(settings).decrypt(row.totp_secret.encode()).decode()).now()
