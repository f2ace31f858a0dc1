"""Signatures third parties can check: CMS verified by OpenSSL, time-stamps, revocation."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.openssl import cms_verify, openssl
from tsunagu.core.clock import utcnow
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ValidationError
from tsunagu.trust import cms, protocol, service, tsa
from tsunagu.trust.models import Certificate

from .conftest import HANAKO, PIN, Enrolled


def _write_pki(session_factory: sessionmaker[Session], folder: Path) -> Path:
    with transaction(session_factory) as session:
        root = folder / "root.pem"
        root.write_bytes(service.root_certificate_pem(session))
    return root


def _revoke(factory: sessionmaker[Session], serial: str, reason: service.Reason) -> None:
    with transaction(factory) as session:
        service.revoke(session, serial, reason, actor="test")


def test_openssl_verifies_a_wallet_signature_and_shows_the_basic_attributes(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    card = enroll()
    document = tmp_path / "申請書.txt"
    document.write_bytes("転入届\r\n東京都千代田区\n".encode())
    p7s = tmp_path / "申請書.txt.p7s"
    p7s.write_bytes(card.wallet.unlock(PIN).sign(document.read_bytes()))
    root = _write_pki(session_factory, tmp_path)
    result = cms_verify(p7s, document, root)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    signer = tmp_path / "signer.pem"
    assert cms_verify(p7s, document, root, "-signer", str(signer)).returncode == 0
    subject = openssl(
        "x509", "-in", str(signer), "-noout", "-subject", "-nameopt", "utf8,sep_multiline"
    ).stdout
    for value in (HANAKO.name, "1980-01-02", HANAKO.sex, HANAKO.address, "佐藤"):
        assert value in subject
    # a changed document fails with OpenSSL too
    document.write_bytes(b"tampered")
    assert cms_verify(p7s, document, root).returncode != 0


def test_platform_verification_checks_content_chain_and_status(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll()
    signature = card.wallet.unlock(PIN).sign(b"content")
    with transaction(session_factory) as session:
        verified = service.verify_signature(session, signature, b"content")
        assert verified.signer.subject_ref == "person-a"
        assert verified.signer.person == HANAKO
        with pytest.raises(ValidationError) as mismatch:
            service.verify_signature(session, signature, b"other content")
        assert mismatch.value.code == "content_mismatch"


def test_revocation_counts_at_once_in_the_same_and_in_the_next_transaction(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    """The register is read once per certificate and transaction, never kept longer."""
    card, other = enroll(), enroll(subject_ref="person-b")
    signature = card.wallet.unlock(PIN).sign(b"content")
    other_signature = other.wallet.unlock(PIN).sign(b"content")
    with transaction(session_factory) as session:
        service.verify_signature(session, signature, b"content")
        service.revoke(session, card.signing_serial, service.Reason.LOSS, actor="test")
        with pytest.raises(ValidationError) as same:
            service.verify_signature(session, signature, b"content")
        assert same.value.code == "certificate_revoked"
    with transaction(session_factory) as session:
        service.verify_signature(session, other_signature, b"content")
    _revoke(session_factory, other.signing_serial, service.Reason.LOSS)
    with transaction(session_factory) as session, pytest.raises(ValidationError) as next_one:
        service.verify_signature(session, other_signature, b"content")
    assert next_one.value.code == "certificate_revoked"


def test_revoked_certificate_is_rejected_everywhere(
    enroll: Callable[..., Enrolled],
    session_factory: sessionmaker[Session],
    pki: Settings,
    tmp_path: Path,
) -> None:
    card = enroll()
    document = tmp_path / "doc.txt"
    document.write_bytes(b"signed before loss")
    p7s = tmp_path / "doc.p7s"
    p7s.write_bytes(card.wallet.unlock(PIN).sign(document.read_bytes()))
    _revoke(session_factory, card.signing_serial, service.Reason.LOSS)
    with transaction(session_factory) as session:
        with pytest.raises(ValidationError) as revoked:
            service.verify_signature(session, p7s.read_bytes(), document.read_bytes())
        assert revoked.value.code == "certificate_revoked"
        der = session.execute(
            select(Certificate.der).where(Certificate.serial == card.signing_serial)
        ).scalar_one()
        status = service.certificate_status(session, der=der)
        assert (status.status, status.reason) == ("revoked", "loss")
        crl_der = service.crl(session, pki, "signing")
    # OpenSSL with the CRL rejects it as well
    root = _write_pki(session_factory, tmp_path)
    crl = tmp_path / "signing.crl"
    crl.write_bytes(crl_der)
    text = openssl("crl", "-inform", "DER", "-in", str(crl), "-noout", "-text").stdout
    hex_serial = f"{int(card.signing_serial, 16):X}"
    assert f"Serial Number: {hex_serial.zfill(len(hex_serial) + len(hex_serial) % 2)}" in text
    assert "Key Compromise" in text
    crl_pem = tmp_path / "signing.crl.pem"
    openssl("crl", "-inform", "DER", "-in", str(crl), "-out", str(crl_pem))
    with transaction(session_factory) as session:
        (tmp_path / "signing-ca.pem").write_bytes(
            x509.load_der_x509_certificate(
                service.authority_certificate(session, "signing")
            ).public_bytes(serialization.Encoding.PEM)
        )
    signer = tmp_path / "signer.pem"
    signer.write_bytes(x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM))
    checked = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        str(crl_pem),
        "-CAfile",
        str(root),
        "-untrusted",
        str(tmp_path / "signing-ca.pem"),
        str(signer),
    )
    assert checked.returncode != 0 and "revoked" in (checked.stdout + checked.stderr)


def test_expired_certificate_is_rejected(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll()
    signature = card.wallet.unlock(PIN).sign(b"x")
    with transaction(session_factory) as session:
        later = utcnow() + timedelta(days=6 * 365)
        with pytest.raises(ValidationError) as expired:
            service.validate_certificate(session, cms.parse(signature).signer_cert, at=later)
        assert expired.value.code == "certificate_expired"
        session.execute(
            update(Certificate)
            .where(Certificate.serial == card.signing_serial)
            .values(not_after=utcnow() - timedelta(days=1))
        )
        assert service.certificate_status(session, serial=card.signing_serial).status == "expired"


def test_timestamp_keeps_a_signature_valid_after_later_revocation(
    enroll: Callable[..., Enrolled],
    session_factory: sessionmaker[Session],
    pki: Settings,
    tmp_path: Path,
) -> None:
    card = enroll()
    content = b"contract"
    plain = card.wallet.unlock(PIN).sign(content)
    with transaction(session_factory) as session:
        stamped = service.timestamp_signature(session, pki, plain)
    # the card is reported lost after the time-stamp was made
    _revoke(session_factory, card.signing_serial, service.Reason.LOSS)
    with transaction(session_factory) as session:
        verified = service.verify_signature(session, stamped, content)
        assert verified.timestamp is not None
        assert verified.valid_at == verified.timestamp
        with pytest.raises(ValidationError):
            service.verify_signature(session, plain, content)  # no time-stamp, no mercy
    # revoked *before* the time-stamp: the stamp does not help
    with transaction(session_factory) as session:
        session.execute(
            update(Certificate)
            .where(Certificate.serial == card.signing_serial)
            .values(revoked_at=utcnow() - timedelta(hours=1))
        )
    with transaction(session_factory) as session, pytest.raises(ValidationError) as revoked:
        service.verify_signature(session, stamped, content)
    assert revoked.value.code == "certificate_revoked"
    # OpenSSL still verifies the CMS structure with the token attached
    root = _write_pki(session_factory, tmp_path)
    (tmp_path / "c.txt").write_bytes(content)
    (tmp_path / "c.p7s").write_bytes(stamped)
    assert (
        openssl(
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "c.p7s"),
            "-content",
            str(tmp_path / "c.txt"),
            "-CAfile",
            str(root),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ).returncode
        == 0
    )


def test_timestamp_token_verifies_with_openssl_ts(
    pki: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"hello time")
    request = tsa.build_request(cms.sha256(data.read_bytes()), nonce=42)
    (tmp_path / "q.tsq").write_bytes(request)
    with transaction(session_factory) as session:
        reply = tsa.response(service.timestamp_token(session, pki, request))
        chain = service.authority_certificate(session, "organization")
    (tmp_path / "r.tsr").write_bytes(reply)
    (tmp_path / "org.pem").write_bytes(
        x509.load_der_x509_certificate(chain).public_bytes(serialization.Encoding.PEM)
    )
    root = _write_pki(session_factory, tmp_path)
    result = openssl(
        "ts",
        "-verify",
        "-in",
        str(tmp_path / "r.tsr"),
        "-queryfile",
        str(tmp_path / "q.tsq"),
        "-CAfile",
        str(root),
        "-untrusted",
        str(tmp_path / "org.pem"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification: OK" in result.stdout


def test_json_envelope(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll()
    payload = {"procedure": "転入届", "fields": {"name": "山田 花子"}}
    signature = card.wallet.unlock(PIN).sign(protocol.canonical_json(payload))
    envelope = protocol.envelope(payload, signature)
    with transaction(session_factory) as session:
        assert service.verify_envelope(session, envelope).signer.serial == card.signing_serial
        envelope["payload"]["fields"]["name"] = "偽"
        with pytest.raises(ValidationError):
            service.verify_envelope(session, envelope)


@pytest.mark.parametrize(
    "garbage", [b"", b"\x30\x03\x02\x01\x01", b"not der at all", b"\x30" + b"\x00" * 300_000]
)
def test_garbage_signature_gives_a_clear_error(
    pki: Settings, session_factory: sessionmaker[Session], garbage: bytes
) -> None:
    with transaction(session_factory) as session, pytest.raises(ValidationError) as bad:
        service.verify_signature(session, garbage, b"content")
    assert bad.value.code in ("malformed_signature", "signature_too_large")


def test_signature_with_foreign_certificate_is_rejected(
    pki: Settings, session_factory: sessionmaker[Session]
) -> None:
    """A self-made 'CA' with our CA's name cannot produce certificates we accept."""
    from tsunagu.trust.pki import (
        AuthorityRole,
        CertKind,
        build_ca_certificate,
        build_end_entity_certificate,
        generate_key,
        person_signing_name,
    )

    now = utcnow()
    fake_key = generate_key()
    fake_ca = build_ca_certificate(
        role=AuthorityRole.SIGNING,
        key=fake_key,
        issuer=None,
        not_before=now,
        lifetime=timedelta(days=1),
        base_url="http://evil",
    )
    user_key = generate_key()
    cert = build_end_entity_certificate(
        kind=CertKind.SIGNING,
        subject=person_signing_name(HANAKO),
        public_key=user_key.public_key(),
        serial=12345,
        issuer_cert=fake_ca,
        issuer_key=fake_key,
        not_before=now,
        not_after=None,
        base_url="http://evil",
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    signature = cms.sign_detached(
        b"x",
        sign=lambda d: cms.raw_signature(user_key, d),
        signer_cert_der=der,
        chain_ders=[],
        signing_time=now,
    )
    with transaction(session_factory) as session, pytest.raises(ValidationError) as bad:
        service.verify_signature(session, signature, b"x")
    assert bad.value.code == "bad_certificate_signature"


REVOKE_ELSEWHERE = """
import sys
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.trust import service
factory = make_session_factory(make_engine(sys.argv[1]))
with transaction(factory) as session:
    service.revoke(session, sys.argv[2], service.Reason.LOSS, actor="test:other-process")
"""


def test_revocation_in_another_process_takes_effect_at_once(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session], database_url: str
) -> None:
    """This process has verified (and cached) the certificate; another worker revokes it;
    the very next verification here refuses it — no cache holds revocation state."""
    card = enroll()
    signature = card.wallet.unlock(PIN).sign(b"application")
    with transaction(session_factory) as session:
        for _ in range(3):  # warm every per-process cache
            service.verify_signature(session, signature, b"application")
    subprocess.run(
        [sys.executable, "-c", REVOKE_ELSEWHERE, database_url, card.signing_serial], check=True
    )
    with transaction(session_factory) as session, pytest.raises(ValidationError) as revoked:
        service.verify_signature(session, signature, b"application")
    assert revoked.value.code == "certificate_revoked"


def test_signing_time_survives_the_round_trip(
    enroll: Callable[..., Enrolled],
) -> None:
    card = enroll()
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    signature = card.wallet.unlock(PIN).sign(b"x", signing_time=moment)
    assert cms.parse(signature).signing_time == moment


@pytest.mark.parametrize(
    ("tag", "text", "expected"),
    [
        (cms.UTC_TIME, "491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)),
        (cms.UTC_TIME, "500101000000Z", datetime(1950, 1, 1, tzinfo=UTC)),
        (cms.GENERALIZED_TIME, "20300102030405Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (
            cms.GENERALIZED_TIME,
            "20300102030405.25Z",
            datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=UTC),
        ),
    ],
)
def test_der_times(tag: int, text: str, expected: datetime) -> None:
    value = cms._Tlv(cms.UNIVERSAL, False, tag, b"", text.encode())
    assert cms._signing_time(value) == expected


@pytest.mark.parametrize("text", ["2030010203Z", "20300102030405+0900", "2030010203040aZ", "x"])
def test_malformed_der_times(text: str) -> None:
    with pytest.raises(ValidationError):
        cms._signing_time(cms._Tlv(cms.UNIVERSAL, False, cms.GENERALIZED_TIME, b"", text.encode()))
