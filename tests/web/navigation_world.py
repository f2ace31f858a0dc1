"""A resident, a business member and one official of every role, each with a login session.

Fixtures for the navigation tests (route and browser): import ``settings_fixture`` and
``people_fixture``; tests ask for ``settings`` and ``people``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.procedure.conftest import juki
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import business, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import (
    AddressIn,
    OfficialIn,
    OfficialRole,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Sex,
)
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

CORPORATE = "1180301018771"
BASE = "http://testserver"


@dataclass
class People:
    """Session tokens: ``resident``, ``member`` and one per official role."""

    resident: str
    member: str
    officials: dict[OfficialRole, str]


def make_people(settings: Settings, factory: sessionmaker[Session]) -> People:
    vault = MyNumberVault.from_settings(settings)
    with transaction(factory) as session:
        trust.init_pki(session, settings)
        chiyoda = parties.ensure_local_government(session, "131016", actor="test").id
        person = parties.create_person(
            session,
            PersonIn(
                family_name="山田",
                given_name="花子",
                family_name_kana="ヤマダ",
                given_name_kana="ハナコ",
                birth_date=date(1985, 4, 1),
                sex=Sex.FEMALE,
                address=AddressIn(municipality_code="131016", town="永田町", block="1丁目1番1号"),
            ),
            actor="test",
            vault=vault,
        ).id
        # in the resident register, as the household pages (child allowance) read it
        registry.assert_fact(
            session,
            "juki",
            person,
            juki("h-yamada"),
            keeper_id=chiyoda,
            actor="test",
            valid_from=date(2010, 4, 1),
        )
        officials: dict[OfficialRole, str] = {}
        for role in OfficialRole:
            official = parties.create_official(
                session,
                OfficialIn(
                    organization_id=chiyoda,
                    display_name=role.value,
                    login_name=role.value,
                    roles=[role],
                ),
                actor="test",
            )
            officials[role] = sessions.start(
                session, method="test", ial=2, aal=2, official_id=official.id
            ).token
        parties.create_organization(
            session,
            OrganizationIn(
                kind=OrganizationKind.CORPORATION,
                name_ja="株式会社つなぐ",
                name_kana="カブシキガイシャツナグ",
                corporate_number=CORPORATE,
            ),
            actor="test",
        )
        counter = Actor(
            kind=ActorKind.OFFICIAL,
            ial=2,
            aal=2,
            official_id="counter",
            organization_id=chiyoda,
            roles=frozenset({OfficialRole.COUNTER_STAFF}),
        )
        membership = business.open_at_counter(
            session, counter, corporate_number=CORPORATE, person_id=person
        )
        resident = sessions.start(session, method="test", ial=3, aal=2, person_id=person).token
        member = sessions.start(
            session, method="test", ial=2, aal=2, member_id=membership.member.id
        ).token
    return People(resident, member, officials)


@pytest.fixture(name="settings")
def settings_fixture(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, var_dir=tmp_path / "var", base_url=BASE, pki_key_password="test"
    )


@pytest.fixture(name="people")
def people_fixture(settings: Settings, session_factory: sessionmaker[Session]) -> People:
    return make_people(settings, session_factory)
