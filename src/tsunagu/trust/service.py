"""The PKI's behaviour: CAs, issuance at the counter, revocation, CRLs, status, signatures.

Plain functions taking a session. Persons are ``subject_ref`` strings given by
the identity module; the 基本4情報 to certify are handed in by the official's
counter workflow and kept only until the certificate is issued.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from time import monotonic
from typing import Any
from weakref import WeakKeyDictionary

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.db import DriverQuery, transaction_memo
from tsunagu.core.errors import ConflictError, NotFoundError, ValidationError
from tsunagu.trust import cms, protocol, tsa
from tsunagu.trust.models import Authority, Certificate, Challenge, Enrollment
from tsunagu.trust.pki import (
    ISSUER_OF,
    AuthorityRole,
    CertKind,
    OrganizationAttributes,
    PersonAttributes,
    PrivateKey,
    authority_key_identifier,
    build_ca_certificate,
    build_end_entity_certificate,
    check_public_key,
    generate_key,
    load_private_key,
    organization_name,
    person_authentication_name,
    person_signing_name,
    save_private_key,
)
from tsunagu.trust.validation import (
    Lookup,
    RegistryEntry,
    TrustStore,
    ValidCertificate,
    load_certificate,
    serial_hex,
)

ENROLLMENT_TTL = timedelta(minutes=30)
CHALLENGE_TTL = timedelta(minutes=5)
CRL_LIFETIME = timedelta(hours=24)
CRL_REFRESH = timedelta(hours=1)
ROOT_LIFETIME = timedelta(days=20 * 365)
ISSUING_LIFETIME = timedelta(days=10 * 365)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class Reason(StrEnum):
    """Why a certificate was revoked (JPKI events plus the RFC 5280 ones we need)."""

    LOSS = "loss"
    DEATH = "death"
    ABROAD = "abroad"
    ATTRIBUTE_CHANGE = "attribute_change"
    SUPERSEDED = "superseded"
    KEY_COMPROMISE = "key_compromise"
    HOLDER_REQUEST = "holder_request"


CRL_REASONS = {
    Reason.LOSS: x509.ReasonFlags.key_compromise,
    Reason.DEATH: x509.ReasonFlags.cessation_of_operation,
    Reason.ABROAD: x509.ReasonFlags.cessation_of_operation,
    Reason.ATTRIBUTE_CHANGE: x509.ReasonFlags.affiliation_changed,
    Reason.SUPERSEDED: x509.ReasonFlags.superseded,
    Reason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    Reason.HOLDER_REQUEST: x509.ReasonFlags.cessation_of_operation,
}

# JPKI: loss, death or leaving Japan end both certificates; a change of name or
# address ends only the signing certificate (it names them), the login one stays.
CARD_EVENT_REVOKES = {
    Reason.LOSS: (CertKind.SIGNING, CertKind.AUTHENTICATION),
    Reason.DEATH: (CertKind.SIGNING, CertKind.AUTHENTICATION),
    Reason.ABROAD: (CertKind.SIGNING, CertKind.AUTHENTICATION),
    Reason.ATTRIBUTE_CHANGE: (CertKind.SIGNING,),
    Reason.HOLDER_REQUEST: (CertKind.SIGNING, CertKind.AUTHENTICATION),
}


class Scope(StrEnum):
    """What an enrollment code lets the wallet obtain."""

    BOTH = "both"
    SIGNING = "signing"


def _rowcount(result: Any) -> int:
    """Rows touched by an UPDATE (the single-use guarantees rest on this)."""
    return int(result.rowcount)


def digest_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- CAs and keys -----------------------------------------------------------


def key_password(settings: Settings) -> bytes:
    """The CA key password: configured, else derived from the deployment secret."""
    if settings.pki_key_password:
        return settings.pki_key_password.encode("utf-8")
    derived = HKDF(hashes.SHA256(), 32, b"tsunagu-pki", b"ca-key-password").derive(
        settings.secret_key.encode("utf-8")
    )
    return derived.hex().encode("ascii")


def key_dir(settings: Settings) -> Path:
    return settings.var_dir / "pki"


@lru_cache(maxsize=64)
def _cached_key(path: str, mtime_ns: int, password: bytes) -> PrivateKey:
    return load_private_key(Path(path), password)


def authority_key(settings: Settings, authority: Authority) -> PrivateKey:
    path = key_dir(settings) / authority.key_file
    if not path.exists():
        raise NotFoundError(
            "ca_key_missing",
            "認証局の秘密鍵が見つかりません。",
            f"The private key of the {authority.role} authority is missing ({path}).",
        )
    return _cached_key(str(path), path.stat().st_mtime_ns, key_password(settings))


def _authorities(session: Session) -> dict[AuthorityRole, Authority]:
    rows = session.execute(select(Authority)).scalars()
    return {AuthorityRole(a.role): a for a in rows}


def init_pki(session: Session, settings: Settings, *, actor: str = "system") -> list[str]:
    """Create the root, the issuing CAs and the TSA key once; return the roles created."""
    existing = _authorities(session)
    created: list[str] = []
    now = utcnow() - timedelta(minutes=5)
    password = key_password(settings)

    def add(role: AuthorityRole, cert: x509.Certificate, key: PrivateKey) -> Authority:
        key_file = f"{role.value}.key.pem"
        save_private_key(key_dir(settings) / key_file, key, password)
        authority = Authority(
            role=role.value,
            cert_der=cert.public_bytes(serialization.Encoding.DER),
            key_file=key_file,
            created_at=utcnow(),
            crl_number=0,
        )
        session.add(authority)
        existing[role] = authority
        created.append(role.value)
        return authority

    if AuthorityRole.ROOT not in existing:
        root_key = generate_key()
        root_cert = build_ca_certificate(
            role=AuthorityRole.ROOT,
            key=root_key,
            issuer=None,
            not_before=now,
            lifetime=ROOT_LIFETIME,
            base_url=settings.base_url,
        )
        add(AuthorityRole.ROOT, root_cert, root_key)
    root = existing[AuthorityRole.ROOT]
    root_pair = (x509.load_der_x509_certificate(root.cert_der), authority_key(settings, root))
    for role in (AuthorityRole.SIGNING, AuthorityRole.AUTHENTICATION, AuthorityRole.ORGANIZATION):
        if role in existing:
            continue
        key = generate_key()
        cert = build_ca_certificate(
            role=role,
            key=key,
            issuer=root_pair,
            not_before=now,
            lifetime=ISSUING_LIFETIME,
            base_url=settings.base_url,
        )
        add(role, cert, key)
    session.flush()
    if AuthorityRole.TSA not in existing:
        tsa_key = generate_key()
        row = issue(
            session,
            settings,
            kind=CertKind.TSA,
            public_key=tsa_key.public_key(),
            subject=lambda _serial: organization_name(
                OrganizationAttributes(name="tsunagu Time-Stamping Unit")
            ),
            subject_ref=None,
            actor=actor,
        )
        add(AuthorityRole.TSA, x509.load_der_x509_certificate(row.der), tsa_key)
    session.flush()
    if created:
        _STORES.clear()
        audit.record(
            session,
            actor=actor,
            action="trust.pki_initialised",
            object_type="trust_authority",
            object_id=",".join(created),
            data={"roles": created},
        )
    return created


# By engine (one database each): a session's engine is found at once, where rendering its
# URL for a key cost more than the rest of a cache hit.
_STORES: WeakKeyDictionary[Engine, tuple[float, str, TrustStore]] = WeakKeyDictionary()
STORE_TTL_SECONDS = 60.0


def trust_store(session: Session) -> TrustStore:
    """The parsed CA set of this database, re-read at most once a minute.

    CAs change only at ``init_pki`` (which clears the cache in-process), so a
    short TTL is enough; revocation is *not* cached (see ``registry_lookup``).
    """
    key = session.get_bind().engine
    cached = _STORES.get(key)
    now = monotonic()
    if cached is not None and now - cached[0] < STORE_TTL_SECONDS:
        return cached[2]
    rows = session.connection().execute(select(Authority.role, Authority.cert_der)).all()
    ders = {AuthorityRole(role): bytes(der) for role, der in rows}
    fingerprint = hashlib.sha256(b"".join(ders[r] for r in sorted(ders))).hexdigest()
    store = cached[2] if cached is not None and cached[1] == fingerprint else TrustStore(ders)
    _STORES[key] = (now, fingerprint, store)
    return store


def authority_certificate(session: Session, role: str) -> bytes:
    """DER certificate of one of the platform's authorities."""
    try:
        wanted = AuthorityRole(role)
    except ValueError:
        wanted = None
    authority = _authorities(session).get(wanted) if wanted else None
    if authority is None:
        raise NotFoundError(
            "unknown_authority", "認証局が見つかりません。", f"No authority {role}."
        )
    return bytes(authority.cert_der)


def root_certificate_pem(session: Session) -> bytes:
    cert = x509.load_der_x509_certificate(authority_certificate(session, AuthorityRole.ROOT))
    return cert.public_bytes(serialization.Encoding.PEM)


# --- issuance ---------------------------------------------------------------


def issue(
    session: Session,
    settings: Settings,
    *,
    kind: CertKind,
    public_key: Any,
    subject: Any,
    subject_ref: str | None,
    actor: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Certificate:
    """Issue and register one certificate; ``subject`` maps the serial to the subject name."""
    authorities = _authorities(session)
    issuer = authorities.get(ISSUER_OF[kind])
    if issuer is None:
        raise ConflictError(
            "pki_not_initialised", "認証基盤が初期化されていません。", "The PKI is not initialised."
        )
    serial = x509.random_serial_number()
    start = not_before or utcnow() - timedelta(minutes=1)
    cert = build_end_entity_certificate(
        kind=kind,
        subject=subject(serial),
        public_key=check_public_key(public_key),
        serial=serial,
        issuer_cert=x509.load_der_x509_certificate(issuer.cert_der),
        issuer_key=authority_key(settings, issuer),
        not_before=start,
        not_after=not_after,
        base_url=settings.base_url,
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    row = Certificate(
        serial=serial_hex(serial),
        authority_id=issuer.id,
        kind=kind.value,
        subject_ref=subject_ref,
        fingerprint=hashlib.sha256(der).hexdigest(),
        der=der,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        issued_at=utcnow(),
        issued_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="trust.certificate_issued",
        object_type="certificate",
        object_id=row.serial,
        data={"kind": kind.value, "subject_ref": subject_ref},
    )
    return row


def issue_seal(
    session: Session,
    settings: Settings,
    *,
    csr_data: bytes,
    organization: OrganizationAttributes,
    subject_ref: str,
    actor: str,
) -> Certificate:
    """An organization seal certificate for a key whose CSR proves possession."""
    request = protocol.load_csr(csr_data)
    if not request.is_signature_valid:
        raise _forged_pop()
    return issue(
        session,
        settings,
        kind=CertKind.SEAL,
        public_key=request.public_key(),
        subject=lambda _serial: organization_name(organization),
        subject_ref=subject_ref,
        actor=actor,
    )


@dataclass(frozen=True)
class IssuedCode:
    """An enrollment code as handed to the person (shown once, stored hashed)."""

    code: str
    enrollment_id: int
    expires_at: datetime


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def create_enrollment(
    session: Session,
    *,
    subject_ref: str,
    person: PersonAttributes,
    municipality_code: str,
    identity_check: dict[str, Any],
    actor: str,
    scope: Scope = Scope.BOTH,
) -> IssuedCode:
    """Record the counter's in-person check and hand out a one-time code (30 min)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    now = utcnow()
    enrollment = Enrollment(
        code_hash=digest_hex(raw),
        subject_ref=subject_ref,
        subject_json=json.dumps(_person_json(person), ensure_ascii=False),
        municipality_code=municipality_code,
        scope=scope.value,
        identity_check=json.dumps(identity_check, ensure_ascii=False),
        created_by=actor,
        created_at=now,
        expires_at=now + ENROLLMENT_TTL,
    )
    session.add(enrollment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="trust.enrollment_created",
        object_type="enrollment",
        object_id=str(enrollment.id),
        data={
            "subject_ref": subject_ref,
            "scope": scope.value,
            "method": str(identity_check.get("method", "in_person")),
        },
    )
    code = "-".join(raw[i : i + 4] for i in range(0, 16, 4))
    return IssuedCode(code=code, enrollment_id=enrollment.id, expires_at=enrollment.expires_at)


def _person_json(person: PersonAttributes) -> dict[str, Any]:
    return {
        "name": person.name,
        "birth_date": person.birth_date.isoformat(),
        "sex": person.sex,
        "address": person.address,
        "former_surname": person.former_surname,
    }


def _person_from_json(text: str) -> PersonAttributes:
    data = json.loads(text)
    return PersonAttributes(
        name=data["name"],
        birth_date=date.fromisoformat(data["birth_date"]),
        sex=data["sex"],
        address=data["address"],
        former_surname=data.get("former_surname"),
    )


def _bad_code() -> ValidationError:
    return ValidationError(
        "bad_enrollment_code",
        "発行コードが正しくないか、使用済みか、有効期限 (30 分) が切れています。",
        "The enrollment code is wrong, already used or expired (codes last 30 minutes).",
    )


def _open_enrollment(session: Session, code: str) -> Enrollment:
    enrollment = session.execute(
        select(Enrollment).where(Enrollment.code_hash == digest_hex(normalise_code(code)))
    ).scalar_one_or_none()
    if enrollment is None or enrollment.used_at is not None or enrollment.expires_at <= utcnow():
        raise _bad_code()
    return enrollment


@dataclass(frozen=True)
class IssuedChallenge:
    nonce: str
    origin: str
    expires_at: datetime


def new_challenge(
    session: Session,
    *,
    purpose: str,
    origin: str,
    binding: str | None = None,
    ttl: timedelta = CHALLENGE_TTL,
) -> IssuedChallenge:
    """A fresh random nonce bound to a purpose, an origin and an expiry (stored hashed)."""
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    expires = (now + ttl).replace(microsecond=0)
    session.add(
        Challenge(
            nonce_hash=digest_hex(nonce),
            purpose=purpose,
            origin=origin,
            binding=binding,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return IssuedChallenge(nonce=nonce, origin=origin, expires_at=expires)


def consume_challenge(
    session: Session, *, nonce: str, purpose: str, origin: str, binding: str | None = None
) -> datetime:
    """Use a challenge exactly once; return its expiry (part of what was signed)."""
    now = utcnow()
    conditions = [
        Challenge.nonce_hash == digest_hex(nonce),
        Challenge.purpose == purpose,
        Challenge.origin == origin,
        Challenge.used_at.is_(None),
        Challenge.expires_at > now,
    ]
    if binding is not None:
        conditions.append(Challenge.binding == binding)
    # one statement: the row that is marked used is the one whose expiry we return
    expires = session.execute(
        update(Challenge)
        .where(*conditions)
        .values(used_at=now)
        .returning(Challenge.expires_at)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if expires is None:
        raise ValidationError(
            "bad_challenge",
            "チャレンジが無効です (使用済み・期限切れ・別サイト向け)。",
            "The challenge is invalid: already used, expired or issued for another origin.",
        )
    return expires


def enrollment_challenge(session: Session, settings: Settings, code: str) -> IssuedChallenge:
    """Step 1 of enrollment: a nonce the wallet must put into both CSRs."""
    enrollment = _open_enrollment(session, code)
    return new_challenge(
        session,
        purpose=protocol.ENROLL_PURPOSE,
        origin=protocol.origin_of(settings.base_url),
        binding=f"enrollment:{enrollment.id}",
    )


def _forged_pop() -> ValidationError:
    return ValidationError(
        "bad_proof_of_possession",
        "鍵の所持を証明できませんでした (CSR の署名またはチャレンジが不正)。",
        "Proof of possession failed: the CSR signature or challenge is not valid.",
    )


def _checked_csr(data: bytes, nonce: str) -> x509.CertificateSigningRequest:
    request = protocol.load_csr(data)
    check_public_key(request.public_key())
    if not request.is_signature_valid or protocol.csr_challenge(request) != nonce:
        raise _forged_pop()
    return request


def complete_enrollment(
    session: Session,
    settings: Settings,
    *,
    code: str,
    nonce: str,
    signing_csr: bytes,
    authentication_csr: bytes | None,
) -> list[Certificate]:
    """Step 2: check both proofs of possession, use up code and nonce, issue the certificates.

    All checks run before anything is written, so a bad request creates nothing.
    """
    enrollment = _open_enrollment(session, code)
    scope = Scope(enrollment.scope)
    signing = _checked_csr(signing_csr, nonce)
    authentication = None
    if scope is Scope.BOTH:
        if authentication_csr is None:
            raise ValidationError(
                "csr_missing",
                "利用者証明用の CSR がありません。",
                "The authentication key's CSR is missing.",
            )
        authentication = _checked_csr(authentication_csr, nonce)
        if authentication.public_key() == signing.public_key():
            raise ValidationError(
                "same_key",
                "署名用と利用者証明用には別々の鍵が必要です。",
                "The signing and authentication keys must be different key pairs.",
            )
    consume_challenge(
        session,
        nonce=nonce,
        purpose=protocol.ENROLL_PURPOSE,
        origin=protocol.origin_of(settings.base_url),
        binding=f"enrollment:{enrollment.id}",
    )
    used = session.execute(
        update(Enrollment)
        .where(Enrollment.id == enrollment.id, Enrollment.used_at.is_(None))
        .values(used_at=utcnow(), subject_json="{}")
        .execution_options(synchronize_session=False)
    )
    if _rowcount(used) != 1:
        raise _bad_code()
    person = _person_from_json(enrollment.subject_json)
    actor = f"enrollment:{enrollment.id}"
    superseded = [CertKind.SIGNING] + ([CertKind.AUTHENTICATION] if authentication else [])
    for row in _valid_certificates(session, enrollment.subject_ref, superseded):
        revoke(session, row.serial, Reason.SUPERSEDED, actor=actor)
    issued = [
        issue(
            session,
            settings,
            kind=CertKind.SIGNING,
            public_key=signing.public_key(),
            subject=lambda _serial: person_signing_name(person),
            subject_ref=enrollment.subject_ref,
            actor=actor,
        )
    ]
    if authentication is not None:
        municipality = enrollment.municipality_code
        issued.append(
            issue(
                session,
                settings,
                kind=CertKind.AUTHENTICATION,
                public_key=authentication.public_key(),
                subject=lambda serial: person_authentication_name(serial, municipality),
                subject_ref=enrollment.subject_ref,
                actor=actor,
            )
        )
    return issued


# --- validity ---------------------------------------------------------------


def _valid_certificates(
    session: Session, subject_ref: str, kinds: Sequence[CertKind]
) -> list[Certificate]:
    return list(
        session.execute(
            select(Certificate).where(
                Certificate.subject_ref == subject_ref,
                Certificate.kind.in_([k.value for k in kinds]),
                Certificate.revoked_at.is_(None),
            )
        ).scalars()
    )


def certificates_of(session: Session, subject_ref: str) -> list[Certificate]:
    """All certificates ever issued to a subject, newest first."""
    return list(
        session.execute(
            select(Certificate)
            .where(Certificate.subject_ref == subject_ref)
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        ).scalars()
    )


def revoke(session: Session, serial: str, reason: Reason, *, actor: str) -> Certificate:
    """Revoke one certificate now (idempotent: an already revoked one keeps its first reason)."""
    row = session.execute(
        select(Certificate).where(Certificate.serial == serial.lower())
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(
            "unknown_certificate", "証明書が見つかりません。", "No such certificate."
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revocation_reason = reason.value
        session.flush()
        transaction_memo(session, _LOOKED_UP).clear()
        audit.record(
            session,
            actor=actor,
            action="trust.certificate_revoked",
            object_type="certificate",
            object_id=row.serial,
            data={"reason": reason.value, "kind": row.kind, "subject_ref": row.subject_ref},
        )
    return row


def apply_card_event(session: Session, *, subject_ref: str, event: Reason, actor: str) -> list[str]:
    """Apply the JPKI rule for a life event; return the serials revoked."""
    kinds = CARD_EVENT_REVOKES.get(event)
    if kinds is None:
        raise ValidationError("unknown_event", "未対応の事由です。", f"Unknown card event {event}.")
    return [
        revoke(session, row.serial, event, actor=actor).serial
        for row in _valid_certificates(session, subject_ref, kinds)
    ]


_LOOKUP = DriverQuery(
    select(
        Certificate.kind,
        Certificate.subject_ref,
        Certificate.revoked_at,
        Certificate.revocation_reason,
    ).where(Certificate.serial == bindparam("serial"))
)


# Per transaction: serial → register entry as first read in it.
_LOOKED_UP = "tsunagu.trust.looked_up"


def registry_lookup(session: Session) -> Lookup:
    """Revocation lookup against the register, read once per certificate and transaction.

    Revocation is immediate: every transaction reads the register again, never
    a cache kept across requests. Within one transaction a certificate is read
    once: a submission verifies the same organization's seal on each evidence
    request and answer, and the transaction is judged as of its first check
    (revoking through ``revoke`` in the same transaction is seen at once).
    The query goes straight to the driver (``DriverQuery``), on the session's own
    connection so it sees the session's transaction: through SQLAlchemy's statement
    machinery the lookup cost more than the ECDSA check.
    """
    looked_up: dict[str, RegistryEntry | None] = transaction_memo(session, _LOOKED_UP)
    connection = session.connection()

    def lookup(serial: str) -> RegistryEntry | None:
        rows = _LOOKUP.rows(connection, {"serial": serial})
        if not rows:
            return None
        row = rows[0]
        return RegistryEntry(row.kind, row.subject_ref, row.revoked_at, row.revocation_reason)

    return _once_per_transaction(lookup, looked_up)


# The register columns a query of another module may read along with its own
# (joined on the serial), so that a signature checked later in the same
# transaction costs no lookup of its own: see ``remember_registry_entry``.
REGISTRY_ENTRY_COLUMNS = (
    Certificate.kind.label("certificate_kind"),
    Certificate.subject_ref.label("certificate_subject_ref"),
    Certificate.revoked_at.label("certificate_revoked_at"),
    Certificate.revocation_reason.label("certificate_revocation_reason"),
)


def remember_registry_entry(session: Session, serial: str, row: Any) -> None:
    """Take a certificate's register entry from a row with ``REGISTRY_ENTRY_COLUMNS``.

    Read in this transaction, so it counts as this transaction's lookup; an
    entry the transaction has already read stands (see ``registry_lookup``).
    """
    entry = (
        None
        if row.certificate_kind is None
        else RegistryEntry(
            row.certificate_kind,
            row.certificate_subject_ref,
            row.certificate_revoked_at,
            row.certificate_revocation_reason,
        )
    )
    transaction_memo(session, _LOOKED_UP).setdefault(serial, entry)


def signer_serial(session: Session, message: cms.SignedMessage) -> str | None:
    """The serial of the certificate that made ``message``, if this platform issued it."""
    try:
        return trust_store(session).serial_of(message.signer_cert)
    except ValidationError:
        return None


def _once_per_transaction(read: Lookup, looked_up: dict[str, RegistryEntry | None]) -> Lookup:
    def lookup(serial: str) -> RegistryEntry | None:
        if serial not in looked_up:
            looked_up[serial] = read(serial)
        return looked_up[serial]

    return lookup


def validate_certificate(
    session: Session, der: bytes, *, kind: CertKind | None = None, at: datetime | None = None
) -> ValidCertificate:
    """Chain + validity period + revocation (at ``at``, default now)."""
    return trust_store(session).validate(der, registry_lookup(session), kind=kind, at=at)


@dataclass(frozen=True)
class Status:
    """Answer of the validity-check API (what a relying party needs, nothing more)."""

    serial: str
    kind: str
    status: str
    reason: str | None
    revoked_at: datetime | None
    not_before: datetime
    not_after: datetime
    checked_at: datetime


def certificate_status(
    session: Session, *, der: bytes | None = None, serial: str | None = None
) -> Status:
    """Current status of a certificate given as DER/PEM (fully checked) or by serial."""
    now = utcnow()
    if der is not None:
        cert = load_certificate(der)
        store = trust_store(session)
        store.issuer_of(cert, cert.public_bytes(serialization.Encoding.DER))
        serial = serial_hex(cert.serial_number)
    row = session.execute(
        select(Certificate).where(Certificate.serial == (serial or "").lower())
    ).scalar_one_or_none()
    if row is None:
        raise NotFoundError(
            "unknown_certificate",
            "発行記録のない証明書です。",
            "The certificate is not in the platform's register.",
        )
    not_before, not_after = row.not_before, row.not_after
    if row.revoked_at is not None:
        state = "revoked"
    elif not not_before <= now <= not_after:
        state = "expired"
    else:
        state = "good"
    return Status(
        serial=row.serial,
        kind=row.kind,
        status=state,
        reason=row.revocation_reason,
        revoked_at=row.revoked_at,
        not_before=not_before,
        not_after=not_after,
        checked_at=now,
    )


def crl(session: Session, settings: Settings, role: str) -> bytes:
    """DER CRL of one CA, regenerated when something was revoked or it grows old."""
    try:
        wanted = AuthorityRole(role)
    except ValueError:
        wanted = None
    if wanted is None or wanted is AuthorityRole.TSA:
        raise NotFoundError("unknown_authority", "認証局が見つかりません。", f"No CA {role}.")
    authority = session.execute(
        select(Authority).where(Authority.role == wanted.value).with_for_update()
    ).scalar_one_or_none()
    if authority is None:
        raise NotFoundError("unknown_authority", "認証局が見つかりません。", f"No CA {role}.")
    now = utcnow()
    last_revocation = session.execute(
        select(func.max(Certificate.revoked_at)).where(Certificate.authority_id == authority.id)
    ).scalar_one_or_none()
    generated = authority.crl_this_update
    if (
        authority.crl_der is not None
        and generated is not None
        and now - generated < CRL_REFRESH
        and (last_revocation is None or last_revocation < generated)
    ):
        return bytes(authority.crl_der)
    ca_cert = x509.load_der_x509_certificate(authority.cert_der)
    this_update = now.replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(this_update + CRL_LIFETIME)
        .add_extension(x509.CRLNumber(authority.crl_number + 1), False)
        .add_extension(authority_key_identifier(ca_cert), False)
    )
    revoked = session.execute(
        select(Certificate.serial, Certificate.revoked_at, Certificate.revocation_reason).where(
            Certificate.authority_id == authority.id, Certificate.revoked_at.is_not(None)
        )
    ).all()
    for serial, revoked_at, reason in revoked:
        if revoked_at is None or reason is None:
            continue
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(serial, 16))
            .revocation_date(revoked_at)
            .add_extension(x509.CRLReason(CRL_REASONS[Reason(reason)]), False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    der = builder.sign(authority_key(settings, authority), hashes.SHA256()).public_bytes(
        serialization.Encoding.DER
    )
    authority.crl_number += 1
    authority.crl_der = der
    authority.crl_this_update = this_update
    session.flush()
    return der


# --- time-stamps and signatures -------------------------------------------------


def _tsa(session: Session, settings: Settings) -> tuple[Authority, PrivateKey, list[bytes]]:
    authorities = _authorities(session)
    tsa_row = authorities.get(AuthorityRole.TSA)
    if tsa_row is None:
        raise ConflictError(
            "pki_not_initialised", "認証基盤が初期化されていません。", "The PKI is not initialised."
        )
    chain = [bytes(authorities[AuthorityRole.ORGANIZATION].cert_der)]
    return tsa_row, authority_key(settings, tsa_row), chain


def timestamp_token(session: Session, settings: Settings, request_der: bytes) -> bytes:
    """Answer an RFC 3161 request with a token for now."""
    request = tsa.parse_request(request_der)
    tsa_row, key, chain = _tsa(session, settings)
    return tsa.issue_token(
        request,
        at=utcnow().replace(microsecond=0),
        sign=lambda data: cms.raw_signature(key, data),
        tsa_cert_der=bytes(tsa_row.cert_der),
        chain_ders=chain,
    )


def timestamp_signature(session: Session, settings: Settings, cms_der: bytes) -> bytes:
    """Add a platform time-stamp over the signature value of a CMS signature (CAdES-T)."""
    message = cms.parse(cms_der)
    request = tsa.Request(digest=cms.sha256(message.signature), nonce=None, cert_req=True)
    tsa_row, key, chain = _tsa(session, settings)
    token = tsa.issue_token(
        request,
        at=utcnow().replace(microsecond=0),
        sign=lambda data: cms.raw_signature(key, data),
        tsa_cert_der=bytes(tsa_row.cert_der),
        chain_ders=chain,
    )
    return cms.with_timestamp(cms_der, token)


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified, who made it and as of when it is vouched for."""

    signer: ValidCertificate
    signing_time: datetime | None
    timestamp: datetime | None
    valid_at: datetime


def verify_timestamp_token(session: Session, token: bytes, imprint: bytes) -> datetime:
    """Check a token's signature, its TSA certificate and that it covers ``imprint``."""
    info = tsa.parse_token(token)
    if info.digest != imprint:
        raise ValidationError(
            "timestamp_mismatch",
            "タイムスタンプが対象と一致しません。",
            "The time-stamp token does not cover this signature.",
        )
    tsa_cert = validate_certificate(
        session, info.message.signer_cert, kind=CertKind.TSA, at=info.gen_time
    )
    cms.check_signature_value(info.message, tsa_cert.public_key, info.message.content or b"")
    return info.gen_time


def verify_signature(
    session: Session,
    cms_der: bytes,
    content: bytes,
    *,
    kinds: Sequence[CertKind] = (CertKind.SIGNING, CertKind.SEAL),
) -> VerifiedSignature:
    """Verify a detached CMS signature over ``content`` made with a platform certificate.

    Without a time-stamp the certificate must be good now. With a valid platform
    time-stamp it must have been good at the stamp's time, so a later expiry or
    revocation does not undo a signature made while it was good.
    """
    return verify_message(session, cms.parse(cms_der), content, kinds=kinds)


def verify_message(
    session: Session,
    message: cms.SignedMessage,
    content: bytes,
    *,
    kinds: Sequence[CertKind] = (CertKind.SIGNING, CertKind.SEAL),
) -> VerifiedSignature:
    """``verify_signature`` for a signature already parsed (to learn its signer first)."""
    if message.content is not None:
        raise ValidationError(
            "detached_expected",
            "分離署名 (detached) が必要です。",
            "A detached signature is expected.",
        )
    stamped_at = (
        verify_timestamp_token(session, message.timestamp_token, cms.sha256(message.signature))
        if message.timestamp_token is not None
        else None
    )
    signer = validate_certificate(session, message.signer_cert, at=stamped_at)
    if signer.kind not in kinds:
        raise ValidationError(
            "wrong_certificate_kind",
            "署名に使えない種類の証明書です。",
            f"A {signer.kind.value} certificate cannot make this signature.",
        )
    cms.check_signature_value(message, signer.public_key, content)
    return VerifiedSignature(
        signer=signer,
        signing_time=message.signing_time,
        timestamp=stamped_at,
        valid_at=signer.checked_at,
    )


def verify_envelope(session: Session, document: dict[str, Any]) -> VerifiedSignature:
    """Verify the JSON envelope form (payload + detached CMS over its canonical JSON)."""
    if document.get("format") != protocol.ENVELOPE_FORMAT or "payload" not in document:
        raise ValidationError(
            "bad_envelope",
            "署名付き JSON の形式が不正です。",
            f"A signed JSON envelope needs format {protocol.ENVELOPE_FORMAT} and a payload.",
        )
    cms_der = protocol.unb64(str(document.get("cms", "")), what="cms")
    return verify_signature(session, cms_der, protocol.canonical_json(document["payload"]))
