"""The hand-written CMS encoder produces canonical DER that a general ASN.1 library reads back.

Signing builds DER directly (for speed), so each structure is checked against
asn1crypto: its forced DER re-encoding must equal ours byte for byte, and the
values it decodes must be the ones we meant.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tsunagu.core.errors import ValidationError
from tsunagu.trust import cms

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _certificate(key: Key, serial: int, name: str) -> bytes:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "デジタル庁" * 12),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(Encoding.DER)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SERIALS = [1, 127, 128, 255, 256, 2**63, 2**159 - 1]
MOMENT = datetime(2025, 4, 1, 9, 30, 15, 987654, tzinfo=UTC)


@pytest.mark.parametrize("serial", SERIALS)
@pytest.mark.parametrize("content_type", [cms.DATA, cms.TST_INFO])
def test_signed_attributes_are_canonical_der_with_the_intended_values(
    ec_key: ec.EllipticCurvePrivateKey, serial: int, content_type: str
) -> None:
    cert_der = _certificate(ec_key, serial, f"serial {serial}")
    digest = hashlib.sha256(b"content").digest()
    der = cms.signed_attributes(digest, cert_der, MOMENT, content_type)
    parsed = asn1_cms.CMSAttributes.load(der)
    assert asn1_cms.CMSAttributes.load(der).dump(force=True) == der
    values = {a["type"].native: a["values"][0] for a in parsed}
    assert values["content_type"].native == content_type
    assert values["message_digest"].native == digest
    assert values["signing_time"].native == MOMENT.replace(microsecond=0)
    (ess,) = values["signing_certificate_v2"]["certs"]
    cert = asn1_x509.Certificate.load(cert_der)
    assert ess["cert_hash"].native == hashlib.sha256(cert_der).digest()
    assert ess["issuer_serial"]["serial_number"].native == serial
    assert ess["issuer_serial"]["issuer"][0].chosen == cert.issuer


def test_signing_time_after_2049_is_generalized_time(ec_key: ec.EllipticCurvePrivateKey) -> None:
    later = datetime(2050, 1, 1, tzinfo=UTC)
    der = cms.signed_attributes(b"\0" * 32, _certificate(ec_key, 5, "t"), later)
    time = {a["type"].native: a["values"][0] for a in asn1_cms.CMSAttributes.load(der)}
    assert time["signing_time"].name == "generalized_time"
    assert time["signing_time"].native == later


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
@pytest.mark.parametrize("chain_length", [0, 2])
def test_assembled_signed_data_is_canonical_der_and_verifies(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey, algorithm: str,
    chain_length: int,
) -> None:  # fmt: skip
    key: Key = ec_key if algorithm == "ec" else rsa_key
    cert_der = _certificate(key, 2**70 + 3, "signer")
    chain = [_certificate(ec_key, 10 + i, f"ca {i}") for i in range(chain_length)]
    content = "電子公印のテスト".encode() * 50
    der = cms.sign_detached(
        content,
        sign=lambda data: cms.raw_signature(key, data),
        signer_cert_der=cert_der,
        chain_ders=chain,
        signing_time=MOMENT,
    )
    info = asn1_cms.ContentInfo.load(der)
    assert info.dump(force=True) == der
    signed = info["content"]
    assert signed["version"].native == "v1"
    assert signed["encap_content_info"]["content"].native is None
    assert len(signed["certificates"]) == 1 + chain_length
    (signer,) = signed["signer_infos"]
    assert signer["sid"].chosen["serial_number"].native == 2**70 + 3
    expected = "sha256_ecdsa" if algorithm == "ec" else "sha256_rsa"
    assert signer["signature_algorithm"]["algorithm"].native == expected
    message = cms.parse(der)
    assert message.signer_cert == cert_der
    assert message.signing_time == MOMENT.replace(microsecond=0)
    public_key = x509.load_der_x509_certificate(cert_der).public_key()
    cms.check_signature_value(message, public_key, content)


def test_time_stamp_token_becomes_an_unsigned_attribute(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cert_der = _certificate(ec_key, 77, "tsa")
    info = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.2.3.4",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": b"\1" * 32,
            },
            "serial_number": 1,
            "gen_time": MOMENT.replace(microsecond=0),
        }
    ).dump()
    attrs = cms.signed_attributes(cms.sha256(info), cert_der, MOMENT, cms.TST_INFO)
    token = cms.assemble(
        signed_attrs=attrs,
        signature=cms.raw_signature(ec_key, attrs),
        signer_cert_der=cert_der,
        chain_ders=[],
        content_type=cms.TST_INFO,
        content=info,
    )
    stamped = asn1_cms.ContentInfo.load(token)
    assert stamped.dump(force=True) == token
    assert stamped["content"]["version"].native == "v3"
    assert stamped["content"]["encap_content_info"]["content"].parsed.dump() == info
    signature = cms.sign_detached(
        b"x",
        sign=lambda data: cms.raw_signature(ec_key, data),
        signer_cert_der=cert_der,
        chain_ders=[],
        signing_time=MOMENT,
    )
    with_token = cms.with_timestamp(signature, token)
    (signer,) = asn1_cms.ContentInfo.load(with_token)["content"]["signer_infos"]
    (attribute,) = signer["unsigned_attrs"]
    assert attribute["type"].native == "signature_time_stamp_token"
    assert attribute["values"][0].dump() == token
    assert cms.parse(with_token).timestamp_token == token


@pytest.mark.parametrize(
    "signed_attrs", [b"", b"\x30\x00", b"\x31\x05\x30\x03\x06\x01", b"\x31\x02\x30\x00"]
)
def test_assemble_refuses_malformed_signed_attributes(
    ec_key: ec.EllipticCurvePrivateKey, signed_attrs: bytes
) -> None:
    with pytest.raises(ValidationError):
        cms.assemble(
            signed_attrs=signed_attrs,
            signature=b"sig",
            signer_cert_der=_certificate(ec_key, 3, "x"),
            chain_ders=[],
        )


def test_assemble_refuses_a_certificate_that_is_not_der(ec_key: ec.EllipticCurvePrivateKey) -> None:
    attrs = cms.signed_attributes(b"\0" * 32, _certificate(ec_key, 4, "x"), MOMENT)
    with pytest.raises(ValidationError):
        cms.assemble(
            signed_attrs=attrs, signature=b"s", signer_cert_der=b"\x30\x03ab", chain_ders=[]
        )


@pytest.mark.parametrize("kind", ["ec", "rsa"])
@pytest.mark.parametrize("moment", [MOMENT, datetime(2051, 1, 2, 3, 4, 5, 6, tzinfo=UTC)])
def test_a_vouched_seal_is_remembered_as_parse_reads_it(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey, kind: str, moment: datetime
) -> None:
    """What ``sign_vouched`` remembers is exactly what parsing its bytes gives (but vouched)."""
    key: Key = ec_key if kind == "ec" else rsa_key
    cert_der, ca_der = _certificate(key, 300, "seal"), _certificate(key, 1, "CA")
    der = cms.sign_vouched(
        b"payload", key=key, signer_cert_der=cert_der, chain_ders=[ca_der], signing_time=moment
    )
    remembered, read = cms.parse(der), cms._read(der)
    assert remembered == read
    assert remembered.vouched and not read.vouched
    cms.check_signature_value(remembered, key.public_key(), b"payload")
    cms.check_signature_value(read, key.public_key(), b"payload")


def test_a_vouched_seal_is_still_held_to_its_content(ec_key: ec.EllipticCurvePrivateKey) -> None:
    cert_der = _certificate(ec_key, 301, "seal")
    der = cms.sign_vouched(
        b"payload", key=ec_key, signer_cert_der=cert_der, chain_ders=[], signing_time=MOMENT
    )
    with pytest.raises(ValidationError) as refused:
        cms.check_signature_value(cms.parse(der), ec_key.public_key(), b"another payload")
    assert refused.value.code == "content_mismatch"


def test_bytes_not_made_here_are_verified_in_full(ec_key: ec.EllipticCurvePrivateKey) -> None:
    """A vouched seal with its signature value changed is other bytes: parsed and checked."""
    cert_der = _certificate(ec_key, 302, "seal")
    der = cms.sign_vouched(
        b"payload", key=ec_key, signer_cert_der=cert_der, chain_ders=[], signing_time=MOMENT
    )
    made = cms.parse(der)
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = b""
    while len(forged) != len(made.signature):  # same DER length: only the value differs
        forged = stranger.sign(made.signed_attrs, ec.ECDSA(hashes.SHA256()))
    signature = made.signature
    altered = cms.parse(der.replace(signature, forged))
    assert not altered.vouched
    with pytest.raises(ValidationError) as refused:
        cms.check_signature_value(altered, ec_key.public_key(), b"payload")
    assert refused.value.code == "bad_signature"


def test_a_key_is_vouched_for_only_with_its_own_certificate(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    other = _certificate(ec.generate_private_key(ec.SECP256R1()), 303, "someone else")
    with pytest.raises(ValueError):
        cms.sign_vouched(
            b"payload", key=ec_key, signer_cert_der=other, chain_ders=[], signing_time=MOMENT
        )
