"""A small world for access tests: a municipality, two residents, officials, an enrolled card."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.actors import official_actor
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import auth, card
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import AddressIn, OfficialIn, OfficialRole, PersonIn, Sex
from tsunagu.trust import service as trust
from tsunagu.trust import wallet as wallets

PIN = "123456"
PASSWORD = "correct horse battery staple"
BASE = "http://testserver"


@dataclass
class World:
    settings: Settings
    factory: sessionmaker[Session]
    chiyoda: str
    osaka: str
    alice: str
    bob: str
    counter: str  # official (counter staff, 千代田区)
    reviewer: str  # official (reviewer, 千代田区)
    osaka_counter: str  # counter staff of another municipality

    def official_actor(self, official_id: str) -> Actor:
        return official_actor(self.factory, official_id)

    def totp(self, login_name: str) -> str:
        with transaction(self.factory) as session:
            return auth.current_totp(self.settings, session, login_name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, var_dir=tmp_path / "var", base_url=BASE, pki_key_password="test"
    )


def _person(family: str, given: str, lgcode: str, town: str) -> PersonIn:
    return PersonIn(
        family_name=family,
        given_name=given,
        family_name_kana="テスト",
        given_name_kana="タロウ",
        birth_date=date(1985, 4, 1),
        sex=Sex.FEMALE,
        address=AddressIn(municipality_code=lgcode, town=town, block="1丁目1番1号"),
    )


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session]) -> World:
    vault = MyNumberVault.from_settings(settings)
    with transaction(session_factory) as session:
        trust.init_pki(session, settings)
        chiyoda = parties.ensure_local_government(session, "131016", actor="test").id
        osaka = parties.ensure_local_government(session, "271004", actor="test").id
        alice = parties.create_person(
            session, _person("山田", "花子", "131016", "永田町"), actor="test", vault=vault
        ).id
        bob = parties.create_person(
            session, _person("鈴木", "次郎", "131016", "霞が関"), actor="test", vault=vault
        ).id

        def official(org: str, login: str, role: OfficialRole) -> str:
            record = parties.create_official(
                session,
                OfficialIn(organization_id=org, display_name=login, login_name=login, roles=[role]),
                actor="test",
            )
            auth.set_password(
                session,
                settings,
                password=PASSWORD,
                official_id=record.id,
                label=login,
                actor="test",
            )
            return record.id

        counter = official(chiyoda, "counter1", OfficialRole.COUNTER_STAFF)
        reviewer = official(chiyoda, "reviewer1", OfficialRole.REVIEWER)
        osaka_counter = official(osaka, "osaka1", OfficialRole.COUNTER_STAFF)
    return World(
        settings, session_factory, chiyoda, osaka, alice, bob, counter, reviewer, osaka_counter
    )


@pytest.fixture
def clients(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Independent browsers (cookie jars) on the same app."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, base_url=BASE)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def issue_card(world: World, tmp_path: Path) -> Callable[[str, TestClient], wallets.Wallet]:
    """Counter code for ``person_id`` + enrollment of a new Python wallet over HTTP."""

    def run(person_id: str, client: TestClient) -> wallets.Wallet:
        with transaction(world.factory) as session:
            code = card.issue_at_counter(
                session,
                world.official_actor(world.counter),
                person_id=person_id,
                document="passport",
            ).code
        wallet = wallets.Wallet.create(
            tmp_path / f"{person_id}-{len(list(tmp_path.glob('*.w')))}.w", PIN
        )
        wallets.enroll(wallet, PIN, code=code, url=BASE, client=client)
        return wallet

    return run


def password_login(client: TestClient, world: World, login_name: str) -> dict[str, str]:
    response = client.post(
        "/api/identity/login/password",
        json={"login_name": login_name, "password": PASSWORD, "totp": world.totp(login_name)},
    )
    assert response.status_code == 200, response.text
    return response.json()
