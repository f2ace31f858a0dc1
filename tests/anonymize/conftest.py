"""Fixtures for the release workflow: a PKI, two municipalities, a seal, a catalog, logins."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.anonymize.synthetic import residents
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OfficialIn, OfficialRole, PersonIn, Sex
from tsunagu.opendata import service as catalog
from tsunagu.opendata.auth import Actor as CatalogActor
from tsunagu.trust import service as trust

RESIDENT = str(uuid.UUID(int=7001))
CONFIG = """\
attributes:
  resident_id: {role: identifier, kind: linking_code}
  age: {role: quasi_identifier}
  sex: {role: quasi_identifier}
  municipality: {role: quasi_identifier, hierarchy: {type: municipality}}
  income_band: {role: sensitive}
privacy: {k: 5, l_diversity: {l: 2}}
suppression_limit: 0.05
"""

Login = Callable[..., TestClient]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
        pki_key_password="test-ca-password",
    )


@pytest.fixture(scope="session")
def csv_text() -> str:
    return residents(2_000, prefectures=("13", "14")).write_csv()


@dataclass
class World:
    chiyoda: str  # has a seal held here and a catalog organization
    osaka: str  # neither
    catalog_org: str
    officials: dict[str, str]


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session]) -> World:
    with transaction(session_factory) as session:
        trust.init_pki(session, settings)
        chiyoda = identity.ensure_local_government(session, "131016", actor="test").id
        osaka = identity.ensure_local_government(session, "271004", actor="test").id
        sealing.store_for(settings).ensure(session, chiyoda, actor="test")
        sysadmin = CatalogActor("test-admin", "test-admin", sysadmin=True)
        org = catalog.create_organization(
            session,
            sysadmin,
            {"name": "chiyoda", "title": "千代田区", "identity_org_id": chiyoda},
        )
        identity.create_person(
            session,
            PersonIn(
                family_name="山田", given_name="花子", family_name_kana="ヤマダ",
                given_name_kana="ハナコ", birth_date=date(1980, 1, 2), sex=Sex.FEMALE,
            ),
            actor="test", vault=MyNumberVault.from_settings(settings), id=RESIDENT,
        )  # fmt: skip

        def official(org_id: str, name: str, *roles: OfficialRole) -> str:
            data = OfficialIn(
                organization_id=org_id, display_name=name, login_name=name, roles=list(roles)
            )
            return identity.create_official(session, data, actor="test").id

        officials = {
            "publisher": official(chiyoda, "chiyoda-publisher", OfficialRole.DATA_PUBLISHER),
            "clerk": official(chiyoda, "chiyoda-clerk", OfficialRole.COUNTER_STAFF),
            "admin": official(chiyoda, "chiyoda-admin", OfficialRole.ADMINISTRATOR),
            "osaka": official(osaka, "osaka-publisher", OfficialRole.DATA_PUBLISHER),
            "osaka_admin": official(
                osaka, "osaka-admin", OfficialRole.ADMINISTRATOR, OfficialRole.DATA_PUBLISHER
            ),
        }
    return World(chiyoda, osaka, org.id, officials)


@pytest.fixture
def login(
    app: FastAPI, settings: Settings, session_factory: sessionmaker[Session]
) -> Iterator[Login]:
    """A client logged in as a person or an official (CSRF header set), or anonymous."""
    clients: list[TestClient] = []

    def make(
        *,
        person_id: str | None = None,
        official_id: str | None = None,
        aal: int = 2,
        csrf: bool = True,
    ) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        if person_id or official_id:
            with transaction(session_factory) as session:
                started = sessions.start(
                    session,
                    method="test",
                    ial=2,
                    aal=aal,
                    person_id=person_id,
                    official_id=official_id,
                )
            client.cookies.set(sessions.COOKIE, started.token)
            if csrf:
                client.headers[sessions.CSRF_HEADER] = sessions.csrf_token(
                    settings.secret_key, started.token
                )
        return client

    yield make
    for client in clients:
        client.close()
