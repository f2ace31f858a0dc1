"""Fixtures for registry tests: a session and organizations that keep registers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.identity import service as identity
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s
        s.rollback()


@pytest.fixture
def chiyoda(session: Session) -> str:
    return identity.ensure_local_government(session, "131016", actor="test").id


@pytest.fixture
def company(session: Session) -> str:
    data = OrganizationIn(
        kind=OrganizationKind.CORPORATION,
        name_ja="つなぐ商事株式会社",
        name_kana="ツナグショウジ",
        corporate_number="1180301018771",
    )
    return identity.create_organization(session, data, actor="test").id


def resident(**overrides: Any) -> dict[str, Any]:
    """A valid 住民基本台帳 record; keyword arguments replace top-level fields."""
    record: dict[str, Any] = {
        "resident_code": "12345678901",
        "name": {"family": "山田", "given": "花子"},
        "kana": {"family": "ヤマダ", "given": "ハナコ"},
        "birth_date": "1980-01-02",
        "sex": "女",
        "address": {
            "postal_code": "1000014",
            "municipality_code": "131016",
            "prefecture": "東京都",
            "municipality": "千代田区",
            "town": "永田町",
            "block": "一丁目7番1号",
        },
        "household": {
            "household_id": str(uuid.UUID(int=1)),
            "head_name": "山田 花子",
            "relationship": "世帯主",
        },
        "became_resident": "2010-04-01",
        "status": "住民",
    }
    record.update(overrides)
    return record
