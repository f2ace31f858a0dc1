"""Counter enrollment: one-time codes, proof of possession, and bad input creating nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AttributeOID
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ValidationError
from tsunagu.trust import service
from tsunagu.trust.models import Certificate, Enrollment
from tsunagu.trust.pki import generate_key
from tsunagu.trust.wallet import Wallet

from .conftest import PIN, TARO, Enrolled, new_code


def _csr(key: object, challenge: str | None) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
    if challenge is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)  # type: ignore[arg-type]


def _challenge(factory: sessionmaker[Session], settings: Settings, code: str) -> str:
    with transaction(factory) as session:
        return service.enrollment_challenge(session, settings, code).nonce


def _complete(
    factory: sessionmaker[Session],
    settings: Settings,
    code: str,
    nonce: str,
    signing: bytes,
    authentication: bytes | None,
) -> list[Certificate]:
    with transaction(factory) as session:
        return service.complete_enrollment(
            session,
            settings,
            code=code,
            nonce=nonce,
            signing_csr=signing,
            authentication_csr=authentication,
        )


def _certificate_count(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Certificate).where(Certificate.kind != "tsa")
            )
            or 0
        )


def test_code_works_once(pki: Settings, session_factory: sessionmaker[Session]) -> None:
    code = new_code(session_factory, "person-a")
    sign_key, auth_key = generate_key(), generate_key()
    nonce = _challenge(session_factory, pki, code)
    rows = _complete(
        session_factory, pki, code, nonce, _csr(sign_key, nonce), _csr(auth_key, nonce)
    )
    assert sorted(r.kind for r in rows) == ["authentication", "signing"]
    with pytest.raises(ValidationError) as again:
        _challenge(session_factory, pki, code)
    assert again.value.code == "bad_enrollment_code"
    with pytest.raises(ValidationError):
        _complete(session_factory, pki, code, nonce, _csr(sign_key, nonce), _csr(auth_key, nonce))
    assert _certificate_count(session_factory) == 2


def test_code_is_stored_hashed_and_expires_after_30_minutes(
    pki: Settings, session_factory: sessionmaker[Session]
) -> None:
    code = new_code(session_factory, "person-a")
    with transaction(session_factory) as session:
        row = session.execute(select(Enrollment)).scalar_one()
        assert code.replace("-", "") not in row.code_hash
        created, expires = row.created_at, row.expires_at
        assert expires - created == timedelta(minutes=30)
        session.execute(update(Enrollment).values(expires_at=created - timedelta(seconds=1)))
    with pytest.raises(ValidationError) as expired:
        _challenge(session_factory, pki, code)
    assert expired.value.code == "bad_enrollment_code"


def test_code_is_accepted_in_lower_case_without_dashes(
    pki: Settings, session_factory: sessionmaker[Session]
) -> None:
    code = new_code(session_factory, "person-a")
    _challenge(session_factory, pki, code.replace("-", "").lower())


@pytest.mark.parametrize("forgery", ["other_nonce", "no_challenge", "tampered", "same_key"])
def test_forged_proof_of_possession_is_refused(
    pki: Settings, session_factory: sessionmaker[Session], forgery: str
) -> None:
    code = new_code(session_factory, "person-a")
    nonce = _challenge(session_factory, pki, code)
    sign_key, auth_key = generate_key(), generate_key()
    signing, authentication = _csr(sign_key, nonce), _csr(auth_key, nonce)
    if forgery == "other_nonce":
        signing = _csr(sign_key, _challenge(session_factory, pki, code))
    elif forgery == "no_challenge":
        authentication = _csr(auth_key, None)
    elif forgery == "tampered":
        der = bytearray(x509.load_pem_x509_csr(signing).public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0x01
        signing = bytes(der)
    elif forgery == "same_key":
        authentication = _csr(sign_key, nonce)
    with pytest.raises(ValidationError) as refused:
        _complete(session_factory, pki, code, nonce, signing, authentication)
    assert refused.value.code in ("bad_proof_of_possession", "same_key", "malformed_csr")
    assert _certificate_count(session_factory) == 0
    # the code is still good for the honest wallet
    nonce = _challenge(session_factory, pki, code)
    _complete(session_factory, pki, code, nonce, _csr(sign_key, nonce), _csr(auth_key, nonce))


@pytest.mark.parametrize(
    "csr",
    [
        b"",
        b"garbage",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"A" * 20_000,
    ],
)
def test_malformed_csr_gives_a_clear_error_and_creates_nothing(
    pki: Settings, session_factory: sessionmaker[Session], csr: bytes
) -> None:
    code = new_code(session_factory, "person-a")
    nonce = _challenge(session_factory, pki, code)
    with pytest.raises(ValidationError) as refused:
        _complete(session_factory, pki, code, nonce, csr, _csr(generate_key(), nonce))
    assert refused.value.code == "malformed_csr"
    assert "CSR" in refused.value.message_ja and "CSR" in refused.value.message_en
    assert _certificate_count(session_factory) == 0


def test_weak_key_is_refused(pki: Settings, session_factory: sessionmaker[Session]) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    code = new_code(session_factory, "person-a")
    nonce = _challenge(session_factory, pki, code)
    weak = (
        ec.generate_private_key(ec.SECP192R1())
        if False
        else ec.generate_private_key(ec.SECP384R1())
    )
    with pytest.raises(ValidationError) as refused:
        _complete(session_factory, pki, code, nonce, _csr(weak, nonce), _csr(generate_key(), nonce))
    assert refused.value.code == "weak_key"


def test_wallet_pin(tmp_path: Path) -> None:
    wallet = Wallet.create(tmp_path / "w.json", PIN)
    with pytest.raises(ValidationError) as wrong:
        Wallet.open(tmp_path / "w.json").unlock("654321")
    assert wrong.value.code == "wrong_pin"
    with pytest.raises(ValidationError):
        Wallet.create(tmp_path / "short.json", "123")
    with pytest.raises(ValidationError):
        Wallet.create(tmp_path / "w.json", PIN)  # never overwrite a wallet
    assert wallet.unlock(PIN).keys["signing"] is not None
    assert PIN not in (tmp_path / "w.json").read_text()


def test_reenrollment_supersedes_the_old_card(
    enroll: Callable[..., Enrolled], session_factory: sessionmaker[Session]
) -> None:
    first = enroll("person-a")
    second = enroll("person-a")
    with transaction(session_factory) as session:
        for serial in (first.signing_serial, first.authentication_serial):
            assert service.certificate_status(session, serial=serial).status == "revoked"
            assert service.certificate_status(session, serial=serial).reason == "superseded"
        for serial in (second.signing_serial, second.authentication_serial):
            assert service.certificate_status(session, serial=serial).status == "good"


@pytest.mark.parametrize(
    ("event", "signing", "authentication"),
    [
        (service.Reason.LOSS, "revoked", "revoked"),
        (service.Reason.DEATH, "revoked", "revoked"),
        (service.Reason.ABROAD, "revoked", "revoked"),
        (service.Reason.ATTRIBUTE_CHANGE, "revoked", "good"),
    ],
)
def test_jpki_revocation_rules(
    enroll: Callable[..., Enrolled],
    session_factory: sessionmaker[Session],
    event: service.Reason,
    signing: str,
    authentication: str,
) -> None:
    card = enroll("person-a")
    other = enroll("person-b", TARO)
    with transaction(session_factory) as session:
        revoked = service.apply_card_event(
            session, subject_ref="person-a", event=event, actor="official:test"
        )
    assert len(revoked) == (2 if authentication == "revoked" else 1)
    with transaction(session_factory) as session:
        assert service.certificate_status(session, serial=card.signing_serial).status == signing
        assert (
            service.certificate_status(session, serial=card.authentication_serial).status
            == authentication
        )
        assert service.certificate_status(session, serial=other.signing_serial).status == "good"


def test_attribute_change_reissues_only_the_signing_certificate(
    enroll: Callable[..., Enrolled],
    session_factory: sessionmaker[Session],
    pki: Settings,
    tmp_path: Path,
) -> None:
    card = enroll("person-a")
    with transaction(session_factory) as session:
        service.apply_card_event(
            session, subject_ref="person-a", event=service.Reason.ATTRIBUTE_CHANGE, actor="t"
        )
    moved = TARO.__class__(**{**TARO.__dict__, "name": "山田 花子", "sex": "女"})
    code = new_code(session_factory, "person-a", moved, scope=service.Scope.SIGNING)
    unlocked = card.wallet.unlock(PIN)
    nonce = _challenge(session_factory, pki, code)
    rows = _complete(session_factory, pki, code, nonce, unlocked.csr("signing", nonce), None)
    assert [r.kind for r in rows] == ["signing"]
    with transaction(session_factory) as session:
        assert (
            service.certificate_status(session, serial=card.authentication_serial).status == "good"
        )
        assert service.certificate_status(session, serial=rows[0].serial).status == "good"
