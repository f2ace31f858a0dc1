"""CMS (RFC 5652) SignedData: building, parsing and checking the signature value.

Signing is split in two so the private key can stay on the person's device:
``signed_attributes`` prepares the exact bytes to sign (the DER SET of signed
attributes: content type, message digest, signing time, ESS
signing-certificate-v2), the device signs them, and ``assemble`` wraps the
signature into a ContentInfo. The Python wallet and the browser wallet use
the same two calls, so there is one encoder. Whether the signer certificate is
trustworthy (chain, validity, revocation) is decided in ``validation``; this
module only answers "was *this* key used over *these* bytes".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms, core, tsp, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tsunagu.core.errors import ValidationError

MAX_CMS_BYTES = 256 * 1024
DATA = "data"
TST_INFO = "tst_info"


def _invalid(code: str, ja: str, en: str) -> ValidationError:
    return ValidationError(code, ja, en)


def malformed() -> ValidationError:
    return _invalid(
        "malformed_signature",
        "署名データ (CMS) の形式が正しくありません。",
        "The signature (CMS SignedData) is malformed.",
    )


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _ess_signing_certificate(cert_der: bytes) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035): binds the signature to this exact certificate."""
    cert = x509.Certificate.load(cert_der)
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": sha256(cert_der),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName({"directory_name": cert.issuer})],
                        "serial_number": cert.serial_number,
                    },
                }
            ]
        }
    )


def signed_attributes(
    content_digest: bytes,
    signer_cert_der: bytes,
    signing_time: datetime,
    content_type: str = DATA,
) -> bytes:
    """The DER ``SET OF Attribute`` that the signer's key signs."""
    if len(content_digest) != 32:
        raise _invalid(
            "bad_digest",
            "SHA-256 ハッシュ値が必要です。",
            "A SHA-256 digest (32 bytes) is required.",
        )
    attributes = cms.CMSAttributes(
        [
            {"type": "content_type", "values": [content_type]},
            {
                "type": "signing_time",
                "values": [cms.Time({"utc_time": signing_time.astimezone(UTC)})],
            },
            {"type": "message_digest", "values": [content_digest]},
            {
                "type": "signing_certificate_v2",
                "values": [_ess_signing_certificate(signer_cert_der)],
            },
        ]
    )
    return bytes(attributes.dump(force=True))


def _signature_algorithm(cert: x509.Certificate) -> str:
    algorithm = cert.public_key.algorithm
    if algorithm == "ec":
        return "sha256_ecdsa"
    if algorithm == "rsa":
        return "sha256_rsa"
    raise _invalid(
        "unsupported_key", "対応していない鍵の種類です。", "Unsupported key type in certificate."
    )


def assemble(
    *,
    signed_attrs: bytes,
    signature: bytes,
    signer_cert_der: bytes,
    chain_ders: Sequence[bytes],
    content_type: str = DATA,
    content: bytes | None = None,
    timestamp_token: bytes | None = None,
) -> bytes:
    """ContentInfo(SignedData) around one signer; ``content`` None means detached."""
    try:
        attributes = cms.CMSAttributes.load(signed_attrs)
        cert = x509.Certificate.load(signer_cert_der)
        algorithm = _signature_algorithm(cert)
        extra = [x509.Certificate.load(der) for der in chain_ders]
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": cert.issuer,
                            "serial_number": cert.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attributes,
                "signature_algorithm": {"algorithm": algorithm},
                "signature": signature,
            }
        )
        if timestamp_token is not None:
            signer["unsigned_attrs"] = cms.CMSAttributes(
                [
                    {
                        "type": "signature_time_stamp_token",
                        "values": [cms.ContentInfo.load(timestamp_token)],
                    }
                ]
            )
        encap: dict[str, object] = {"content_type": content_type}
        if content is not None:
            encap["content"] = core.ParsableOctetString(content)
        signed_data = cms.SignedData(
            {
                "version": "v3" if content_type != DATA else "v1",
                "digest_algorithms": [{"algorithm": "sha256"}],
                "encap_content_info": encap,
                "certificates": [cert, *extra],
                "signer_infos": [signer],
            }
        )
        return bytes(
            cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
        )
    except (ValueError, TypeError) as exc:
        raise malformed() from exc


def raw_signature(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, data: bytes) -> bytes:
    """SHA-256 signature in the encoding CMS and X.509 use (DER for ECDSA)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def p1363_to_der(signature: bytes) -> bytes:
    """WebCrypto returns ECDSA signatures as r‖s; CMS wants DER ``SEQUENCE {r, s}``."""
    if len(signature) != 64:
        raise _invalid(
            "bad_signature_encoding",
            "ECDSA 署名の長さが不正です。",
            "An ECDSA P-256 signature from WebCrypto must be 64 bytes (r‖s).",
        )
    return encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))


def sign_detached(
    content: bytes,
    *,
    sign: Callable[[bytes], bytes],
    signer_cert_der: bytes,
    chain_ders: Sequence[bytes],
    signing_time: datetime,
) -> bytes:
    """Detached CMS over ``content``; ``sign`` is the device's signing function."""
    attrs = signed_attributes(sha256(content), signer_cert_der, signing_time)
    return assemble(
        signed_attrs=attrs,
        signature=sign(attrs),
        signer_cert_der=signer_cert_der,
        chain_ders=chain_ders,
    )


@dataclass(frozen=True)
class SignedMessage:
    """What a SignedData says, before anyone decided whether to trust it."""

    certificates: tuple[bytes, ...]
    signer_cert: bytes
    signed_attrs: bytes
    signature: bytes
    signature_algorithm: str
    content_type: str
    message_digest: bytes
    signing_time: datetime | None
    ess_cert_hash: bytes | None
    content: bytes | None
    timestamp_token: bytes | None


def _attr(attrs: cms.CMSAttributes, name: str) -> core.Asn1Value | None:
    for attribute in attrs:
        if attribute["type"].native == name:
            values = attribute["values"]
            if len(values) != 1:
                raise malformed()
            return values[0]
    return None


def parse(der: bytes) -> SignedMessage:
    """Parse a ContentInfo(SignedData) with exactly one signer."""
    if not der or len(der) > MAX_CMS_BYTES:
        raise _invalid(
            "signature_too_large" if der else "malformed_signature",
            "署名データが空か大きすぎます。",
            f"The signature is empty or larger than {MAX_CMS_BYTES} bytes.",
        )
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise malformed()
        signed = info["content"]
        signers = signed["signer_infos"]
        if len(signers) != 1:
            raise _invalid(
                "one_signer_expected",
                "署名者は 1 名である必要があります。",
                "Exactly one signer is expected.",
            )
        signer = signers[0]
        if signer["digest_algorithm"]["algorithm"].native != "sha256":
            raise _invalid(
                "unsupported_digest",
                "SHA-256 以外のハッシュには対応していません。",
                "Only SHA-256 digests are accepted.",
            )
        attrs = signer["signed_attrs"]
        if not isinstance(attrs, cms.CMSAttributes) or not len(attrs):
            raise malformed()
        certificates = tuple(bytes(c.chosen.dump()) for c in signed["certificates"])
        signer_cert = _find_signer(signer, signed["certificates"])
        encap = signed["encap_content_info"]
        digest = _attr(attrs, "message_digest")
        content_type = _attr(attrs, "content_type")
        if digest is None or content_type is None:
            raise malformed()
        if content_type.native != encap["content_type"].native:
            raise malformed()
        when = _attr(attrs, "signing_time")
        ess = _attr(attrs, "signing_certificate_v2")
        token = None
        unsigned = signer["unsigned_attrs"]
        if isinstance(unsigned, cms.CMSAttributes):
            stamp = _attr(unsigned, "signature_time_stamp_token")
            token = bytes(stamp.dump()) if stamp is not None else None
        content = encap["content"]
        return SignedMessage(
            certificates=certificates,
            signer_cert=signer_cert,
            signed_attrs=b"\x31" + bytes(attrs.dump())[1:],
            signature=bytes(signer["signature"].native),
            signature_algorithm=signer["signature_algorithm"].signature_algo,
            content_type=str(encap["content_type"].native),
            message_digest=bytes(digest.native),
            signing_time=when.native if when is not None else None,
            ess_cert_hash=bytes(ess["certs"][0]["cert_hash"].native) if ess is not None else None,
            content=None if isinstance(content, core.Void) else bytes(content.contents),
            timestamp_token=token,
        )
    except ValidationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise malformed() from exc


def _find_signer(signer: cms.SignerInfo, certificates: cms.CertificateSet) -> bytes:
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise malformed()
    wanted_serial = sid.chosen["serial_number"].native
    wanted_issuer = sid.chosen["issuer"]
    for choice in certificates:
        cert = choice.chosen
        if not isinstance(cert, x509.Certificate):
            continue
        if cert.serial_number == wanted_serial and cert.issuer == wanted_issuer:
            return bytes(cert.dump())
    raise _invalid(
        "signer_certificate_missing",
        "署名者の証明書が含まれていません。",
        "The signer's certificate is not included in the signature.",
    )


def check_signature_value(message: SignedMessage, public_key: object, content: bytes) -> None:
    """The signed attributes commit to ``content`` and the key signed them."""
    if message.message_digest != sha256(content):
        raise _invalid(
            "content_mismatch",
            "署名対象の文書が改ざんされているか、別の文書です。",
            "The document does not match the signature (altered or a different document).",
        )
    if message.ess_cert_hash is not None and message.ess_cert_hash != sha256(message.signer_cert):
        raise _invalid(
            "signer_certificate_mismatch",
            "署名者証明書が署名時のものと異なります。",
            "The signer certificate is not the one the signature was made with.",
        )
    verify_raw(public_key, message.signature, message.signed_attrs)


def verify_raw(public_key: object, signature: bytes, data: bytes) -> None:
    """Check a SHA-256 signature (DER ECDSA or RSA PKCS#1 v1.5)."""
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise InvalidSignature
    except InvalidSignature as exc:
        raise _invalid(
            "bad_signature", "署名が正しくありません。", "The signature is not valid."
        ) from exc


def with_timestamp(der: bytes, token: bytes) -> bytes:
    """Attach an RFC 3161 token as the signer's signature-time-stamp attribute (CAdES-T)."""
    message = parse(der)
    return assemble(
        signed_attrs=message.signed_attrs,
        signature=message.signature,
        signer_cert_der=message.signer_cert,
        chain_ders=[c for c in message.certificates if c != message.signer_cert],
        content_type=message.content_type,
        content=message.content,
        timestamp_token=token,
    )
