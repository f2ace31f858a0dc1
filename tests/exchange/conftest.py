"""Fixtures for exchange tests: a PKI, agencies with seals, a resident in the registers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.registry.conftest import resident
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as identity
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

HANAKO = str(uuid.UUID(int=1001))
TARO = str(uuid.UUID(int=1002))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
        pki_key_password="test-ca-password",
    )


@dataclass
class World:
    store: sealing.SealStore
    chiyoda: str
    osaka: str
    pension: str
    company: str
    jasso: str


def tax_record(year: int, total_income: int) -> dict[str, object]:
    return {
        "fiscal_year": year,
        "income_year": year - 1,
        "taxable": "課税",
        "income": {"salary_revenue": 4_000_000, "salary": 2_760_000, "total": total_income},
        "deductions": {"basic": 430_000, "total": 1_000_000},
        "taxable_income": total_income - 1_000_000,
        "tax": {"municipal": 100_000, "prefectural": 70_000, "total": 170_000},
        "payment": {"method": "特別徴収", "paid": 170_000, "arrears": 0},
    }


@pytest.fixture
def world(
    settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> World:
    """千代田区 keeps Hanako's 住民票 and 課税; Osaka, the pension service, a company, JASSO."""
    store = sealing.SealStore(settings)
    monkeypatch.setattr(sealing, "default_store", lambda: store)
    with transaction(session_factory) as session:
        trust.init_pki(session, settings)
        chiyoda = identity.ensure_local_government(session, "131016", actor="test").id
        osaka = identity.ensure_local_government(session, "271004", actor="test").id

        def agency(kind: OrganizationKind, name: str, kana: str, number: str) -> str:
            data = OrganizationIn(kind=kind, name_ja=name, name_kana=kana, corporate_number=number)
            return identity.create_organization(session, data, actor="test").id

        pension = agency(
            OrganizationKind.OTHER_AGENCY, "日本年金機構", "ニホンネンキンキコウ", "4011105001589"
        )
        company = agency(
            OrganizationKind.CORPORATION, "つなぐ商事株式会社", "ツナグショウジ", "1180301018771"
        )
        jasso = agency(
            OrganizationKind.OTHER_AGENCY,
            "日本学生支援機構",
            "ニホンガクセイシエンキコウ",
            "7020005008492",
        )
        exchange.designate(session, pension, "pension_service", actor="test")
        exchange.designate(session, jasso, "student_aid", actor="test")
        for org in (chiyoda, osaka, pension, company, jasso):
            store.ensure(session, org, actor="test")
        registry.assert_fact(
            session, "juki", HANAKO, resident(), keeper_id=chiyoda, actor="test",
            valid_from=date(2010, 4, 1),
        )  # fmt: skip
        registry.assert_fact(
            session, "kazei", HANAKO, tax_record(2024, 3_500_000), keeper_id=chiyoda,
            actor="test", valid_from=date(2024, 6, 1),
        )  # fmt: skip
    return World(store, chiyoda, osaka, pension, company, jasso)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s
        s.rollback()
