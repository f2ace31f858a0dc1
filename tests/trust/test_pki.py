"""Certificate profiles, the CA hierarchy and keys at rest."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.trust import oids, service
from tsunagu.trust.models import Authority, Certificate
from tsunagu.trust.pki import AuthorityRole, person_from_name

from .conftest import HANAKO, Enrolled


def _cert(session_factory: sessionmaker[Session], serial: str) -> x509.Certificate:
    with transaction(session_factory) as session:
        row = session.execute(select(Certificate).where(Certificate.serial == serial)).scalar_one()
        return x509.load_der_x509_certificate(row.der)


def test_init_is_idempotent_and_keys_are_encrypted_at_rest(
    pki: Settings, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        assert service.init_pki(session, pki) == []
        assert session.scalar(select(func.count()).select_from(Authority)) == 5
    for path in (pki.var_dir / "pki").glob("*.key.pem"):
        text = path.read_text()
        assert "BEGIN ENCRYPTED PRIVATE KEY" in text
        assert path.stat().st_mode & 0o077 == 0
        with pytest.raises((ValueError, TypeError)):
            serialization.load_pem_private_key(text.encode(), password=b"wrong")
        serialization.load_pem_private_key(text.encode(), password=b"test-ca-password")


def test_ca_hierarchy(pki: Settings, session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        store = service.trust_store(session)
    root = store.certs[AuthorityRole.ROOT]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for role in (AuthorityRole.SIGNING, AuthorityRole.AUTHENTICATION, AuthorityRole.ORGANIZATION):
        ca = store.certs[role]
        ca.verify_directly_issued_by(root)
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca and constraints.path_length == 0
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign


def test_signing_certificate_profile_carries_the_four_basic_attributes(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll()
    cert = _cert(session_factory, card.signing_serial)
    assert person_from_name(cert.subject) == HANAKO
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [oids.EKU_DOCUMENT_SIGNING]
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [oids.POLICY_PERSON_SIGNING]
    assert isinstance(
        cert.public_key(), type(card.wallet.unlock("123456").keys["signing"].public_key())
    )


def test_authentication_certificate_carries_no_personal_information(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll()
    cert = _cert(session_factory, card.authentication_serial)
    values = [str(a.value) for a in cert.subject]
    assert values == ["JP", "131016", card.authentication_serial]
    for personal in (HANAKO.name, HANAKO.address, HANAKO.birth_date.isoformat(), HANAKO.sex):
        assert personal not in cert.public_bytes(serialization.Encoding.PEM).decode()
        assert all(personal not in v for v in values)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [oids.POLICY_PERSON_AUTHENTICATION]


def test_openssl_shows_the_basic_attributes(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    card = enroll()
    path = tmp_path / "signing.pem"
    path.write_bytes(
        _cert(session_factory, card.signing_serial).public_bytes(serialization.Encoding.PEM)
    )
    shown = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(path),
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_multiline",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for value in ("山田 花子", "1980-01-02", "女", "東京都千代田区永田町一丁目7番1号", "佐藤"):
        assert value in shown


def test_rsa_2048_wallet_is_accepted(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    card = enroll(algorithm="rsa-2048")
    cert = _cert(session_factory, card.signing_serial)
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    content = b"RSA signed"
    signature = card.wallet.unlock("123456").sign(content)
    with transaction(session_factory) as session:
        verified = service.verify_signature(session, signature, content)
    assert verified.signer.serial == card.signing_serial


def test_seal_certificate_for_a_corporation(
    pki: Settings, session_factory: sessionmaker[Session]
) -> None:
    from cryptography.hazmat.primitives import hashes

    from tsunagu.trust.pki import OrganizationAttributes, generate_key

    key = generate_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    with transaction(session_factory) as session:
        row = service.issue_seal(
            session,
            pki,
            csr_data=csr.public_bytes(serialization.Encoding.PEM),
            organization=OrganizationAttributes(
                name="株式会社つなぐ", corporate_number="1180301018771"
            ),
            subject_ref="org-1",
            actor="test",
        )
    cert = x509.load_der_x509_certificate(row.der)
    assert (
        cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "株式会社つなぐ"
    )
    assert (
        cert.subject.get_attributes_for_oid(oids.ORGANIZATION_IDENTIFIER)[0].value
        == "NTRJP-1180301018771"
    )
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [oids.POLICY_ORGANIZATION_SEAL]
