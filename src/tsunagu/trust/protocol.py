"""Wire formats shared by the platform and the wallets (Python and browser).

Kept apart from ``service`` so a wallet can build exactly the bytes the
server will check without importing anything that touches the database.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from asn1crypto import core, csr, keys
from cryptography import x509
from cryptography.x509.oid import AttributeOID

from tsunagu.core.errors import ValidationError

LOGIN_PURPOSE = "login"
ENROLL_PURPOSE = "enroll"
ENVELOPE_FORMAT = "tsunagu-signed-envelope/1"
MAX_CSR_BYTES = 8 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, what: str = "data") -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValidationError(
            "bad_base64", f"{what} の Base64 が不正です。", f"The {what} is not valid Base64."
        ) from exc


def login_message(origin: str, nonce: str, expires_at: datetime) -> bytes:
    """What the authentication key signs to log in: purpose, origin, nonce and expiry.

    A wallet refuses to sign a challenge whose origin is not the site it is
    talking to, so a relaying site cannot obtain a signature valid for ours.
    """
    return "\n".join(
        ["tsunagu-login-v1", origin, nonce, expires_at.isoformat(timespec="seconds")]
    ).encode("utf-8")


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, the unit a login challenge is bound to."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationError("bad_origin", "URL が不正です。", f"Not an http(s) URL: {url}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def csr_info(spki_der: bytes, nonce: str) -> bytes:
    """CertificationRequestInfo (PKCS#10) for a browser key; the device signs these bytes.

    The subject is empty (the platform, not the requester, decides what a
    certificate says) and the server's nonce rides in challengePassword, which
    binds the proof of possession to this enrollment.
    """
    try:
        public_key = keys.PublicKeyInfo.load(spki_der, strict=True)
    except (ValueError, TypeError) as exc:
        raise bad_csr() from exc
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": x509_name_empty(),
            "subject_pk_info": public_key,
            "attributes": [
                {
                    "type": "challenge_password",
                    "values": [csr.DirectoryString({"utf8_string": nonce})],
                }
            ],
        }
    )
    return bytes(info.dump())


def x509_name_empty() -> Any:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Name.build({})


def csr_from_parts(info_der: bytes, signature_der: bytes) -> bytes:
    """Wrap a signed CertificationRequestInfo into a PKCS#10 request (DER)."""
    try:
        info = csr.CertificationRequestInfo.load(info_der, strict=True)
        request = csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": core.OctetBitString(signature_der),
            }
        )
        return bytes(request.dump())
    except (ValueError, TypeError) as exc:
        raise bad_csr() from exc


def bad_csr() -> ValidationError:
    return ValidationError(
        "malformed_csr",
        "証明書署名要求 (CSR) の形式が正しくありません。",
        "The certificate signing request (CSR) is malformed.",
    )


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """PEM or DER PKCS#10, size-limited, with a clear error for garbage."""
    if not data or len(data) > MAX_CSR_BYTES:
        raise bad_csr()
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(data)
        return x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise bad_csr() from exc


def csr_challenge(request: x509.CertificateSigningRequest) -> str | None:
    try:
        value = request.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
    except x509.AttributeNotFound:
        return None
    return value.decode("utf-8", "replace")


def canonical_json(value: Any) -> bytes:
    """The bytes a JSON envelope signs: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def envelope(payload: Any, cms_der: bytes) -> dict[str, Any]:
    """JSON form of a signature: the payload plus a detached CMS over its canonical bytes."""
    return {"format": ENVELOPE_FORMAT, "payload": payload, "cms": b64(cms_der)}
