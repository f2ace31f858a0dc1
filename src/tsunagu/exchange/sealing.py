"""Organization seals (電子公印) on exchange messages.

Every fetch request, evidence response and change notification travels as a
JSON envelope: the payload plus a detached CMS signature over its canonical
JSON, made with the organization's seal certificate issued by the platform's
Organization CA (:mod:`tsunagu.trust`). The receiver verifies chain, validity
and revocation through the trust module and learns *which organization*
sealed the message from the certificate, never from the payload.

This deployment holds the seal keys of the agencies it hosts (as an agency's
own system would in its HSM): one encrypted PKCS#8 file per key under
``<var_dir>/seals/``, created with a CSR that proves possession and issued by
``trust.service.issue_seal``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from threading import Lock
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session

from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings, get_settings
from tsunagu.core.errors import ConflictError, ValidationError
from tsunagu.identity import service as identity
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import (
    AuthorityRole,
    CertKind,
    OrganizationAttributes,
    PrivateKey,
    generate_key,
    load_private_key,
    save_private_key,
)


@dataclass(frozen=True)
class Seal:
    organization_id: str
    key: PrivateKey
    cert_der: bytes
    chain: tuple[bytes, ...]
    serial: str
    not_after: datetime


@dataclass(frozen=True)
class Verified:
    """A sealed message whose seal checked out, and which organization made it."""

    organization_id: str
    serial: str
    payload: dict[str, Any]


def _fingerprint(key: PrivateKey) -> str:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()[:24]


class SealStore:
    """The seal keys this deployment holds, loaded once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory = settings.var_dir / "seals"
        self._seals: dict[str, Seal] = {}
        self._lock = Lock()

    def _key_path(self, organization_id: str, fingerprint: str) -> Path:
        return self.directory / f"{organization_id}-{fingerprint}.pem"

    def _load(self, session: Session, organization_id: str) -> Seal | None:
        """The newest good seal certificate of the organization whose key is held here."""
        now = utcnow()
        password = trust.key_password(self.settings)
        chain = tuple(trust.trust_store(session).chain(AuthorityRole.ORGANIZATION))
        for row in trust.certificates_of(session, organization_id):
            if row.kind != CertKind.SEAL.value or row.revoked_at is not None:
                continue
            if not row.not_before <= now <= row.not_after:
                continue
            cert = x509.load_der_x509_certificate(row.der)
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            path = self._key_path(organization_id, hashlib.sha256(spki).hexdigest()[:24])
            if path.exists():
                key = load_private_key(path, password)
                return Seal(
                    organization_id, key, bytes(row.der), chain, row.serial,
                    row.not_after,
                )  # fmt: skip
        return None

    def ensure(self, session: Session, organization_id: str, *, actor: str) -> str:
        """Make sure the organization has a good seal held here; returns its serial."""
        with self._lock:
            self._seals.pop(organization_id, None)
        existing = self._load(session, organization_id)
        if existing is not None:
            return existing.serial
        organization = identity.get_organization(session, organization_id)
        key = generate_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, organization.name_ja)])
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        save_private_key(
            self._key_path(organization_id, _fingerprint(key)),
            key,
            trust.key_password(self.settings),
        )
        issued = trust.issue_seal(
            session,
            self.settings,
            csr_data=csr.public_bytes(serialization.Encoding.DER),
            organization=OrganizationAttributes(
                name=organization.name_ja, corporate_number=organization.corporate_number
            ),
            subject_ref=organization_id,
            actor=actor,
        )
        return issued.serial

    def seal_for(self, session: Session, organization_id: str) -> Seal:
        seal = self._seals.get(organization_id)
        if seal is None or seal.not_after <= utcnow():
            seal = self._load(session, organization_id)
            if seal is None:
                raise ConflictError(
                    "no_seal",
                    "この組織の電子公印（組織の署名用証明書）がありません。",
                    "This organization has no seal certificate held by this deployment.",
                )
            with self._lock:
                self._seals[organization_id] = seal
        return seal

    def seal(
        self, session: Session, organization_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The payload as a sealed envelope of ``organization_id``."""
        seal = self.seal_for(session, organization_id)
        content = protocol.canonical_json(payload)
        signature = cms.sign_vouched(
            content,
            key=seal.key,
            signer_cert_der=seal.cert_der,
            chain_ders=seal.chain,
            signing_time=utcnow().replace(microsecond=0),
        )
        return protocol.envelope(payload, signature)


_STORES: dict[Path, SealStore] = {}


def store_for(settings: Settings) -> SealStore:
    """One store per var directory and process (keys are loaded once)."""
    store = _STORES.get(settings.var_dir)
    if store is None:
        store = _STORES.setdefault(settings.var_dir, SealStore(settings))
    return store


def default_store() -> SealStore:
    """The store of the process settings (what outbox handlers use)."""
    return store_for(get_settings())


@dataclass(frozen=True)
class Opened:
    """A sealed envelope taken apart, before anyone decided whether to trust it."""

    payload: dict[str, Any]
    message: cms.SignedMessage

    @cached_property
    def content(self) -> bytes:
        """What the seal signs: the payload's canonical JSON (made once, also for digests)."""
        return protocol.canonical_json(self.payload)

    def signer_serial(self, session: Session) -> str | None:
        """Whose seal it claims to be (a platform certificate serial), to look up early."""
        return trust.signer_serial(session, self.message)


def open_envelope(document: Any) -> Opened:
    """Check the envelope's form and parse its signature (nothing is verified yet)."""
    if (
        not isinstance(document, dict)
        or document.get("format") != protocol.ENVELOPE_FORMAT
        or not isinstance(document.get("payload"), dict)
    ):
        raise ValidationError(
            "bad_envelope",
            "署名付きメッセージの形式が不正です。",
            "The sealed message is not a signed JSON envelope.",
        )
    signature = protocol.unb64(str(document.get("cms", "")), what="cms")
    return Opened(document["payload"], cms.parse(signature))


def verify(session: Session, document: Any) -> Verified:
    """Check a sealed envelope; the organization is the certificate's, the kind must be SEAL."""
    return verify_opened(session, open_envelope(document))


def verify_opened(session: Session, opened: Opened) -> Verified:
    checked = trust.verify_message(
        session,
        opened.message,
        opened.content,
        kinds=(CertKind.SEAL,),
    )
    if checked.signer.subject_ref is None:
        raise ValidationError(
            "seal_without_subject",
            "組織を特定できない証明書です。",
            "The seal certificate names no organization.",
        )
    return Verified(checked.signer.subject_ref, checked.signer.serial, opened.payload)
