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
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from threading import Lock
from typing import NamedTuple

from asn1crypto import core
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
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


def _public_key_bytes(key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@lru_cache(maxsize=256)
def _holds_key_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cert_der: bytes) -> bool:
    """Whether ``key`` is the private key of the certificate (once per key object)."""
    return _public_key_bytes(key.public_key()) == _signer(cert_der).public_key


# DER tail (where the signature value is, random per signature) → (DER, message): hashing
# the tail is cheaper than hashing every signature parsed; the whole DER is compared.
_VOUCHED: OrderedDict[bytes, tuple[bytes, SignedMessage]] = OrderedDict()
_VOUCHED_KEPT = 512
_TAIL = 96
_vouched_lock = Lock()


def sign_vouched(
    content: bytes,
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    signer_cert_der: bytes,
    chain_ders: Sequence[bytes],
    signing_time: datetime,
) -> bytes:
    """``sign_detached`` with a key this process holds (an organization's seal).

    The signature is remembered, by its exact bytes, with what ``parse`` would read from it.
    A seal made here is often checked here a moment later (an in-process exchange verifies
    the request it just sealed, and the answer the owner sealed): ``parse`` then returns the
    remembered message, and ``check_signature_value`` skips the public-key operation, which
    holds by construction — the key was checked to be the certificate's. Everything else
    (the certificate's chain, validity and revocation, its kind, the content digest) is
    checked as for any signature. Bytes from anywhere else are parsed and verified in full.
    """
    if not _holds_key_of(key, signer_cert_der):
        raise ValueError("the key is not the signer certificate's")
    made = _signed(
        content, lambda data: raw_signature(key, data), signer_cert_der, chain_ders, signing_time
    )
    signer = _signer(signer_cert_der)
    der = made.der
    message = SignedMessage(  # what ``parse`` would read from ``der``
        certificates=tuple(sorted({signer_cert_der, *chain_ders})),
        signer_cert=signer_cert_der,
        signed_attrs=made.signed_attrs,
        signature=made.signature,
        signature_algorithm=signer.algorithm_name,
        content_type=DATA,
        message_digest=made.digest,
        signing_time=signing_time.astimezone(UTC).replace(microsecond=0),
        ess_cert_hash=signer.cert_hash,
        content=None,
        timestamp_token=None,
        vouched=True,
    )
    with _vouched_lock:
        _VOUCHED[der[-_TAIL:]] = (der, message)
        if len(_VOUCHED) > _VOUCHED_KEPT:
            _VOUCHED.popitem(last=False)
    return der


def sign_detached(
    content: bytes,
    *,
    sign: Callable[[bytes], bytes],
    signer_cert_der: bytes,
    chain_ders: Sequence[bytes],
    signing_time: datetime,
) -> bytes:
    """Detached CMS over ``content``; ``sign`` is the device's signing function."""
    return _signed(content, sign, signer_cert_der, chain_ders, signing_time).der


class _Made(NamedTuple):
    der: bytes
    digest: bytes
    signed_attrs: bytes
    signature: bytes


def _signed(
    content: bytes,
    sign: Callable[[bytes], bytes],
    signer_cert_der: bytes,
    chain_ders: Sequence[bytes],
    signing_time: datetime,
) -> _Made:
    digest = sha256(content)
    attrs = signed_attributes(digest, signer_cert_der, signing_time)
    signature = sign(attrs)
    der = assemble(
        signed_attrs=attrs, signature=signature, signer_cert_der=signer_cert_der,
        chain_ders=chain_ders,
    )  # fmt: skip
    return _Made(der, digest, attrs, signature)


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
    # made by this process with a key it holds, checked to be the signer certificate's (see
    # ``sign_vouched``): the signature value needs no public-key check; all else still does
    vouched: bool = field(default=False, compare=False)


# Verification reads DER directly rather than through asn1crypto's object
# model: only the fields a verifier needs are decoded, which is several times
# faster (a signed submission is verified far more often than it is built).
UNIVERSAL, CONTEXT = 0, 2
SEQUENCE, SET, INTEGER, OCTET_STRING, OID, UTC_TIME, GENERALIZED_TIME = 16, 17, 2, 4, 6, 23, 24


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).contents)


OID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
OID_SHA256 = _oid("2.16.840.1.101.3.4.2.1")
OID_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
OID_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
OID_SIGNING_CERTIFICATE_V2 = _oid("1.2.840.113549.1.9.16.2.47")
OID_TIME_STAMP_TOKEN = _oid("1.2.840.113549.1.9.16.2.14")
CONTENT_TYPES = {_oid("1.2.840.113549.1.7.1"): DATA, _oid("1.2.840.113549.1.9.16.1.4"): TST_INFO}


# Signing writes DER directly too. The structures are small and fixed, and
# building them through asn1crypto's object model cost ~9 ms per signature —
# paid by every organization seal on every exchange message. What depends only
# on the signer's certificate (its IssuerAndSerialNumber, the signature
# algorithm, the ESS signing-certificate-v2 attribute) is computed once.
OID_DATA = _oid("1.2.840.113549.1.7.1")
OID_ECDSA_SHA256 = _oid("1.2.840.10045.4.3.2")
OID_RSA_SHA256 = _oid("1.2.840.113549.1.1.11")
CONTENT_TYPE_OIDS = {name: oid for oid, name in CONTENT_TYPES.items()}
NULL = b"\x05\x00"


def _der(identifier: int, *parts: bytes) -> bytes:
    """One DER TLV with a one-octet identifier and a definite length."""
    contents = b"".join(parts)
    length = len(contents)
    if length < 0x80:
        return bytes((identifier, length)) + contents
    size = (length.bit_length() + 7) // 8
    return bytes((identifier, 0x80 | size)) + length.to_bytes(size) + contents


def _sequence(*parts: bytes) -> bytes:
    return _der(0x30, *parts)


def _set_of(*items: bytes) -> bytes:
    """DER SET OF: members in ascending order of their encodings (X.690 11.6)."""
    return _der(0x31, *sorted(items))


def _attribute(oid: bytes, value: bytes) -> bytes:
    return _sequence(_der(0x06, oid), _set_of(value))


def _integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, signed=True))


SHA256_ALGORITHM = _sequence(_der(0x06, OID_SHA256), NULL)


class _Signer(NamedTuple):
    """What a signature needs from the signer's certificate (derived once per certificate)."""

    sid: bytes
    algorithm: bytes
    algorithm_name: str  # dotted, as ``parse`` reports it
    ess_attribute: bytes
    cert_hash: bytes
    public_key: bytes  # SubjectPublicKeyInfo, DER


@lru_cache(maxsize=256)
def _signer(cert_der: bytes) -> _Signer:
    try:
        key = cx509.load_der_x509_certificate(cert_der).public_key()
        issuer, serial = _issuer_and_serial_of(_one(cert_der, SEQUENCE).contents)
    except ValueError as exc:
        raise malformed() from exc
    if isinstance(key, ec.EllipticCurvePublicKey):
        algorithm_oid, algorithm = OID_ECDSA_SHA256, _sequence(_der(0x06, OID_ECDSA_SHA256))
    elif isinstance(key, rsa.RSAPublicKey):
        algorithm_oid, algorithm = OID_RSA_SHA256, _sequence(_der(0x06, OID_RSA_SHA256), NULL)
    else:
        raise _invalid(
            "unsupported_key",
            "対応していない鍵の種類です。",
            "Unsupported key type in certificate.",
        )
    serial_tlv = _der(0x02, serial)
    # ESS signing-certificate-v2 (RFC 5035) binds the signature to this exact
    # certificate: certHash (SHA-256, the default algorithm, so omitted) and
    # IssuerSerial with the issuer as a directoryName.
    cert_hash = sha256(cert_der)
    ess = _sequence(
        _sequence(
            _sequence(
                _der(0x04, cert_hash),
                _sequence(_sequence(_der(0xA4, issuer)), serial_tlv),
            )
        )
    )
    return _Signer(
        sid=_sequence(issuer, serial_tlv),
        algorithm=algorithm,
        algorithm_name=_dotted_of(_der(0x06, algorithm_oid)),
        ess_attribute=_attribute(OID_SIGNING_CERTIFICATE_V2, ess),
        cert_hash=cert_hash,
        public_key=_public_key_bytes(key),
    )


def _der_time(moment: datetime) -> bytes:
    """UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5652 11.3), whole seconds."""
    moment = moment.astimezone(UTC)
    if 1950 <= moment.year < 2050:
        return _der(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _der(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _content_type_oid(content_type: str) -> bytes:
    return CONTENT_TYPE_OIDS.get(content_type) or _oid(content_type)


def signed_attributes(
    content_digest: bytes,
    signer_cert_der: bytes,
    signing_time: datetime,
    content_type: str = DATA,
) -> bytes:
    """The DER ``SET OF Attribute`` that the signer's key signs.

    Content type, signing time, message digest and ESS signing-certificate-v2.
    """
    if len(content_digest) != 32:
        raise _invalid(
            "bad_digest",
            "SHA-256 ハッシュ値が必要です。",
            "A SHA-256 digest (32 bytes) is required.",
        )
    return _set_of(
        _attribute(OID_CONTENT_TYPE, _der(0x06, _content_type_oid(content_type))),
        _attribute(OID_SIGNING_TIME, _der_time(signing_time)),
        _attribute(OID_MESSAGE_DIGEST, _der(0x04, content_digest)),
        _signer(signer_cert_der).ess_attribute,
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
    """ContentInfo(SignedData) around one signer; ``content`` None means detached.

    ``signed_attrs`` may come from a device, so it must be one well-formed SET
    of attributes; certificates are checked to be single DER elements.
    """
    try:
        attributes = _one(signed_attrs, SET)
        _attributes(attributes.contents)
        for der in (signer_cert_der, *chain_ders):
            _one(der, SEQUENCE)
        if timestamp_token is not None:
            _one(timestamp_token, SEQUENCE)
    except (ValueError, IndexError) as exc:
        raise malformed() from exc
    signer = _signer(signer_cert_der)
    signer_info = [
        _integer(1),
        signer.sid,
        SHA256_ALGORITHM,
        _der(0xA0, attributes.contents),
        signer.algorithm,
        _der(0x04, signature),
    ]
    if timestamp_token is not None:
        stamp = _attribute(OID_TIME_STAMP_TOKEN, timestamp_token)
        signer_info.append(_der(0xA1, stamp))
    encap = [_der(0x06, _content_type_oid(content_type))]
    if content is not None:
        encap.append(_der(0xA0, _der(0x04, content)))
    signed_data = _sequence(
        _integer(1 if content_type == DATA else 3),
        _set_of(SHA256_ALGORITHM),
        _sequence(*encap),
        _der(0xA0, *sorted({signer_cert_der, *chain_ders})),
        _set_of(_sequence(*signer_info)),
    )
    return _sequence(_der(0x06, OID_SIGNED_DATA), _der(0xA0, signed_data))


class _Tlv(NamedTuple):
    cls: int
    constructed: bool
    tag: int
    header: bytes
    contents: bytes

    @property
    def der(self) -> bytes:
        return self.header + self.contents

    def expect(self, tag: int, cls: int = UNIVERSAL) -> _Tlv:
        if self.tag != tag or self.cls != cls:
            raise malformed()
        return self


def _elements(data: bytes, limit: int = 0) -> list[_Tlv]:
    """The TLVs one after another in ``data``; with ``limit``, only the first ``limit``.

    A minimal DER reader (low tag numbers, definite lengths — all CMS and X.509
    use): the verifier's hot path, where a general ASN.1 object model costs
    more than the signature check itself. Anything else is malformed.
    """
    items: list[_Tlv] = []
    position, end = 0, len(data)
    while position < end and not (limit and len(items) == limit):
        first, length = data[position], data[position + 1]
        if first & 0x1F == 0x1F:
            raise malformed()
        header = 2
        if length & 0x80:
            size = length & 0x7F
            if not 0 < size <= 4:
                raise malformed()
            length = int.from_bytes(data[position + 2 : position + 2 + size])
            header += size
        stop = position + header + length
        if stop > end:
            raise malformed()
        items.append(
            _Tlv(
                first >> 6,
                bool(first & 0x20),
                first & 0x1F,
                data[position : position + header],
                data[position + header : stop],
            )
        )
        position = stop
    return items


def _one(data: bytes, tag: int, cls: int = UNIVERSAL) -> _Tlv:
    items = _elements(data)
    if len(items) != 1:
        raise malformed()
    return items[0].expect(tag, cls)


def _attributes(contents: bytes) -> dict[bytes, _Tlv]:
    """OID → single value of a SET OF Attribute (a repeated type is malformed)."""
    found: dict[bytes, _Tlv] = {}
    for attribute in _elements(contents):
        oid, values = _elements(attribute.expect(SEQUENCE).contents)
        single = _elements(values.expect(SET).contents)
        key = oid.expect(OID).contents
        if key in found or len(single) != 1:
            raise malformed()
        found[key] = single[0]
    return found


def _issuer_and_serial(certificate: _Tlv) -> tuple[bytes, bytes]:
    return _issuer_and_serial_of(certificate.expect(SEQUENCE).contents)


@lru_cache(maxsize=4096)
def _issuer_and_serial_of(contents: bytes) -> tuple[bytes, bytes]:
    """Issuer name and serial of a certificate (memoised: the same few certificates recur)."""
    tbs = _elements(contents, 1)[0].expect(SEQUENCE)
    fields = _elements(tbs.contents, 4)
    if fields[0].cls == CONTEXT:  # explicit [0] version
        fields = fields[1:]
    return fields[2].expect(SEQUENCE).der, fields[0].expect(INTEGER).contents


@lru_cache(maxsize=64)
def _dotted_of(der: bytes) -> str:
    return str(core.ObjectIdentifier.load(der).dotted)


def _dotted(oid: _Tlv) -> str:
    return _dotted_of(oid.expect(OID).der)


def _signing_time(value: _Tlv) -> datetime:
    """UTCTime or GeneralizedTime in the DER form (``…SSZ``, whole seconds or a fraction)."""
    text = value.contents.decode("ascii")
    if value.tag == UTC_TIME:
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif value.tag != GENERALIZED_TIME:
        raise malformed()
    if len(text) < 15 or not text.endswith("Z") or not text[:14].isdigit():
        raise malformed()
    moment = datetime(
        int(text[:4]),
        int(text[4:6]),
        int(text[6:8]),
        int(text[8:10]),
        int(text[10:12]),
        int(text[12:14]),
        tzinfo=UTC,
    )
    fraction = text[14:-1]
    if fraction:
        if not (fraction.startswith(".") and fraction[1:].isdigit()):
            raise malformed()
        moment = moment.replace(microsecond=int(fraction[1:7].ljust(6, "0")))
    return moment


def parse(der: bytes) -> SignedMessage:
    """Parse a ContentInfo(SignedData) with exactly one signer (SHA-256).

    A seal this process made (``sign_vouched``) is not parsed again: its message is kept.
    """
    with _vouched_lock:
        vouched = _VOUCHED.get(der[-_TAIL:])
    return vouched[1] if vouched is not None and vouched[0] == der else _read(der)


def _read(der: bytes) -> SignedMessage:
    if not der or len(der) > MAX_CMS_BYTES:
        raise _invalid(
            "signature_too_large" if der else "malformed_signature",
            "署名データが空か大きすぎます。",
            f"The signature is empty or larger than {MAX_CMS_BYTES} bytes.",
        )
    try:
        content_type, wrapped = _elements(_one(der, SEQUENCE).contents)
        if content_type.expect(OID).contents != OID_SIGNED_DATA:
            raise malformed()
        fields = _elements(_one(wrapped.expect(0, CONTEXT).contents, SEQUENCE).contents)
        encap = _elements(fields[2].expect(SEQUENCE).contents)
        certificates = [
            c
            for f in fields[3:-1]
            if f.cls == CONTEXT and f.tag == 0
            for c in _elements(f.contents)
        ]
        signers = _elements(fields[-1].expect(SET).contents)
        if len(signers) != 1:
            raise _invalid(
                "one_signer_expected",
                "署名者は 1 名である必要があります。",
                "Exactly one signer is expected.",
            )
        info = _elements(signers[0].expect(SEQUENCE).contents)
        sid, digest_algorithm, signed_attrs = info[1], info[2], info[3].expect(0, CONTEXT)
        signature_algorithm, signature = info[4], info[5].expect(OCTET_STRING)
        if _elements(digest_algorithm.expect(SEQUENCE).contents)[0].contents != OID_SHA256:
            raise _invalid(
                "unsupported_digest",
                "SHA-256 以外のハッシュには対応していません。",
                "Only SHA-256 digests are accepted.",
            )
        issuer, serial = _elements(sid.expect(SEQUENCE).contents)
        signer_cert = next(
            (
                c.der
                for c in certificates
                if _issuer_and_serial(c) == (issuer.der, serial.expect(INTEGER).contents)
            ),
            None,
        )
        if signer_cert is None:
            raise _invalid(
                "signer_certificate_missing",
                "署名者の証明書が含まれていません。",
                "The signer's certificate is not included in the signature.",
            )
        values = _attributes(signed_attrs.contents)
        digest, declared = values.get(OID_MESSAGE_DIGEST), values.get(OID_CONTENT_TYPE)
        if digest is None or declared is None or declared.contents != encap[0].contents:
            raise malformed()
        when, ess = values.get(OID_SIGNING_TIME), values.get(OID_SIGNING_CERTIFICATE_V2)
        token = None
        if len(info) > 6 and info[6].cls == CONTEXT and info[6].tag == 1:
            stamp = _attributes(info[6].contents).get(OID_TIME_STAMP_TOKEN)
            token = stamp.der if stamp is not None else None
        ess_hash = None
        if ess is not None:
            first = _elements(_elements(ess.contents)[0].expect(SEQUENCE).contents)[0]
            parts = _elements(first.expect(SEQUENCE).contents)
            ess_hash = (
                (parts[1] if parts[0].tag == SEQUENCE else parts[0]).expect(OCTET_STRING).contents
            )
        content = None
        if len(encap) > 1:
            content = _one(encap[1].expect(0, CONTEXT).contents, OCTET_STRING).contents
        return SignedMessage(
            certificates=tuple(c.der for c in certificates),
            signer_cert=signer_cert,
            signed_attrs=b"\x31" + signed_attrs.header[1:] + signed_attrs.contents,
            signature=signature.contents,
            signature_algorithm=_dotted(
                _elements(signature_algorithm.expect(SEQUENCE).contents, 1)[0]
            ),
            content_type=CONTENT_TYPES.get(encap[0].expect(OID).contents) or _dotted(encap[0]),
            message_digest=digest.expect(OCTET_STRING).contents,
            signing_time=_signing_time(when) if when is not None else None,
            ess_cert_hash=ess_hash,
            content=content,
            timestamp_token=token,
        )
    except ValidationError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise malformed() from exc


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
    if not message.vouched:
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
