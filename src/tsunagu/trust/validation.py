"""Is this certificate good at that time? Chain, validity period and revocation.

Every verification inside tsunagu (a signed application, a login, a time-stamp,
a power of attorney) ends here. CA certificates are parsed once per process
and the result of checking an end-entity certificate's signature is memoised
by its SHA-256, so the per-call cost is one dictionary hit plus a revocation
lookup — which is *never* cached, so a revocation takes effect at once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from tsunagu.core.errors import ValidationError
from tsunagu.trust.pki import AuthorityRole, CertKind, PersonAttributes, person_from_name

MAX_CERT_BYTES = 16 * 1024


def _reject(code: str, ja: str, en: str) -> ValidationError:
    return ValidationError(code, ja, en)


def garbage_certificate() -> ValidationError:
    return _reject(
        "malformed_certificate",
        "証明書の形式が正しくありません。",
        "The certificate is malformed (DER or PEM X.509 expected).",
    )


def load_certificate(data: bytes) -> x509.Certificate:
    """Parse DER or PEM, refusing oversized or garbage input with a clear error."""
    if not data or len(data) > MAX_CERT_BYTES:
        raise garbage_certificate()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise garbage_certificate() from exc


@dataclass(frozen=True)
class RegistryEntry:
    """What the platform's certificate registry says about one serial."""

    kind: str
    subject_ref: str | None
    revoked_at: datetime | None
    reason: str | None


Lookup = Callable[[str], RegistryEntry | None]


@dataclass(frozen=True)
class ValidCertificate:
    """A certificate that passed every check at ``checked_at``."""

    certificate: x509.Certificate
    der: bytes
    serial: str
    kind: CertKind
    subject_ref: str | None
    issuer_role: AuthorityRole
    checked_at: datetime
    public_key: CertificatePublicKeyTypes

    @property
    def person(self) -> PersonAttributes | None:
        return person_from_name(self.certificate.subject) if self.kind is CertKind.SIGNING else None


def serial_hex(serial: int) -> str:
    return f"{serial:x}"


@dataclass(frozen=True)
class _Checked:
    """What never changes about a certificate whose CA signature verified once.

    Everything here is a function of the certificate's bytes, so it can be
    memoised by their hash; the validity period is compared and the
    revocation status looked up on every call.
    """

    certificate: x509.Certificate
    der: bytes
    serial: str
    role: AuthorityRole
    not_before: datetime
    not_after: datetime
    public_key: CertificatePublicKeyTypes


class TrustStore:
    """The platform's CA certificates, checked once, with memoised end-entity chain checks."""

    _MEMO_SIZE = 4096

    def __init__(self, authorities: dict[AuthorityRole, bytes]) -> None:
        if AuthorityRole.ROOT not in authorities:
            raise _reject(
                "pki_not_initialised",
                "認証基盤が初期化されていません (tsunagu pki init)。",
                "The PKI is not initialised (run tsunagu pki init).",
            )
        self.ders = dict(authorities)
        self.certs = {
            role: x509.load_der_x509_certificate(der) for role, der in authorities.items()
        }
        self.root = self.certs[AuthorityRole.ROOT]
        self.windows = {
            role: (cert.not_valid_before_utc, cert.not_valid_after_utc)
            for role, cert in self.certs.items()
        }
        self.by_subject: dict[bytes, AuthorityRole] = {}
        for role, cert in self.certs.items():
            if role in (AuthorityRole.ROOT, AuthorityRole.TSA):
                continue
            cert.verify_directly_issued_by(self.root)
            self.by_subject[cert.subject.public_bytes()] = role
        self._memo: OrderedDict[bytes, _Checked] = OrderedDict()
        self._lock = Lock()

    def chain(self, role: AuthorityRole) -> list[bytes]:
        """DER certificates from the issuing CA up to (not including) the root."""
        return [self.ders[role]]

    def serial_of(self, der: bytes) -> str:
        """The serial (as the register keys it) of a certificate these CAs issued."""
        return self._checked(der).serial

    def issuer_of(self, cert: x509.Certificate, der: bytes) -> AuthorityRole:
        """The issuing CA role, after checking the certificate's signature (memoised)."""
        return self._checked(der, cert).role

    def _checked(self, data: bytes, cert: x509.Certificate | None = None) -> _Checked:
        """Parse ``data`` and verify the CA's signature over it, once per process.

        Keyed by the SHA-256 of the bytes as given (DER or PEM): equal bytes are
        the same certificate, so a hit needs neither parsing nor a signature check.
        """
        key = hashlib.sha256(data).digest()
        with self._lock:
            cached = self._memo.get(key)
            if cached is not None:
                self._memo.move_to_end(key)
                return cached
        cert = cert or load_certificate(data)
        role = self.by_subject.get(cert.issuer.public_bytes())
        if role is None:
            raise _reject(
                "untrusted_issuer",
                "この基盤が発行した証明書ではありません。",
                "The certificate was not issued by this platform's CAs.",
            )
        try:
            cert.verify_directly_issued_by(self.certs[role])
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise _reject(
                "bad_certificate_signature",
                "証明書の署名が正しくありません。",
                "The certificate's signature does not verify against its CA.",
            ) from exc
        role_before, role_after = self.windows[role]
        root_before, root_after = self.windows[AuthorityRole.ROOT]
        checked = _Checked(
            certificate=cert,
            der=data if not data.lstrip().startswith(b"-----") else cert.public_bytes(Encoding.DER),
            serial=serial_hex(cert.serial_number),
            role=role,
            # the certificate is usable only while it and its whole chain are
            not_before=max(cert.not_valid_before_utc, role_before, root_before),
            not_after=min(cert.not_valid_after_utc, role_after, root_after),
            public_key=cert.public_key(),
        )
        with self._lock:
            self._memo[key] = checked
            if len(self._memo) > self._MEMO_SIZE:
                self._memo.popitem(last=False)
        return checked

    def validate(
        self,
        der: bytes,
        lookup: Lookup,
        *,
        at: datetime | None = None,
        kind: CertKind | None = None,
        now: datetime | None = None,
    ) -> ValidCertificate:
        """Check chain, validity period at ``at`` and revocation as of ``at``.

        ``at`` is when the certificate must have been good: now for a login, the
        time-stamp's genTime for a time-stamped signature. Only the chain check
        is memoised; the period and the revocation status are checked every time.
        """
        moment = (at or now or datetime.now(UTC)).astimezone(UTC)
        checked = self._checked(der)
        if not checked.not_before <= moment <= checked.not_after:
            raise _reject(
                "certificate_expired",
                "証明書の有効期間外です。",
                "The certificate is not within its validity period.",
            )
        entry = lookup(checked.serial)
        if entry is None:
            raise _reject(
                "unknown_certificate",
                "発行記録のない証明書です。",
                "The certificate is not in the platform's register of issued certificates.",
            )
        if entry.revoked_at is not None and entry.revoked_at <= moment:
            raise _reject(
                "certificate_revoked",
                "証明書は失効しています。",
                f"The certificate has been revoked ({entry.reason}).",
            )
        cert_kind = CertKind(entry.kind)
        if kind is not None and cert_kind is not kind:
            raise _reject(
                "wrong_certificate_kind",
                "この用途には使えない種類の証明書です。",
                f"A {kind.value} certificate is required, not a {cert_kind.value} certificate.",
            )
        return ValidCertificate(
            certificate=checked.certificate,
            der=checked.der,
            serial=checked.serial,
            kind=cert_kind,
            subject_ref=entry.subject_ref,
            issuer_role=checked.role,
            checked_at=moment,
            public_key=checked.public_key,
        )
