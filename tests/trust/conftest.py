"""Fixtures for trust tests: an initialised PKI, enrolled wallets, signed documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.trust import service
from tsunagu.trust.pki import PersonAttributes
from tsunagu.trust.wallet import Wallet

PIN = "123456"
HANAKO = PersonAttributes(
    name="山田 花子",
    birth_date=date(1980, 1, 2),
    sex="女",
    address="東京都千代田区永田町一丁目7番1号",
    former_surname="佐藤",
)
TARO = PersonAttributes(
    name="鈴木 太郎",
    birth_date=date(1975, 12, 31),
    sex="男",
    address="大阪府大阪市北区中之島1-3-20",
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
        pki_key_password="test-ca-password",
    )


@pytest.fixture
def pki(settings: Settings, session_factory: sessionmaker[Session]) -> Settings:
    with transaction(session_factory) as session:
        service.init_pki(session, settings)
    return settings


@dataclass
class Enrolled:
    wallet: Wallet
    subject_ref: str
    signing_serial: str
    authentication_serial: str


def new_code(
    session_factory: sessionmaker[Session],
    subject_ref: str,
    person: PersonAttributes = HANAKO,
    scope: service.Scope = service.Scope.BOTH,
) -> str:
    with transaction(session_factory) as session:
        return service.create_enrollment(
            session,
            subject_ref=subject_ref,
            person=person,
            municipality_code="131016",
            identity_check={"method": "in_person", "document": "passport"},
            actor="official:test",
            scope=scope,
        ).code


@pytest.fixture
def enroll(
    pki: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> Callable[..., Enrolled]:
    """Enroll a fresh Python wallet for ``subject_ref`` through the service layer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    def pem(der: bytes) -> str:
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()

    def run(
        subject_ref: str = "person-a", person: PersonAttributes = HANAKO, algorithm: str = "ec-p256"
    ) -> Enrolled:
        code = new_code(session_factory, subject_ref, person)
        path = tmp_path / f"{subject_ref}-{algorithm}-{len(list(tmp_path.glob('*.wallet')))}.wallet"
        wallet = Wallet.create(path, PIN, algorithm=algorithm)
        unlocked = wallet.unlock(PIN)
        with transaction(session_factory) as session:
            nonce = service.enrollment_challenge(session, pki, code).nonce
        with transaction(session_factory) as session:
            rows = service.complete_enrollment(
                session,
                pki,
                code=code,
                nonce=nonce,
                signing_csr=unlocked.csr("signing", nonce),
                authentication_csr=unlocked.csr("authentication", nonce),
            )
            store = service.trust_store(session)
            chain = [pem(store.ders[service.AuthorityRole.SIGNING])]
            root = service.root_certificate_pem(session).decode()
            serials = {row.kind: row.serial for row in rows}
            wallet.store({row.kind: pem(row.der) for row in rows}, chain, root, pki.base_url)
        return Enrolled(wallet, subject_ref, serials["signing"], serials["authentication"])

    return run
