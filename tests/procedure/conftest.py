"""A small world for procedure tests: two municipalities with seals, residents in the resident
register, reviewers, and signing keys whose certificates the platform issued."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.actors import official_actor
from tests.registry.conftest import resident
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.outbox.service import Dispatcher
from tsunagu.exchange import sealing
from tsunagu.identity import delegation, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import AddressIn, OfficialIn, OfficialRole, PersonIn, Sex
from tsunagu.registry import service as registry
from tsunagu.trust import cms, protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import ISSUER_OF, CertKind, PersonAttributes, generate_key
from tsunagu.trust.pki import person_signing_name as signing_name

Signer = Callable[[bytes], bytes]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
        pki_key_password="test",
    )


@dataclass
class World:
    settings: Settings
    factory: sessionmaker[Session]
    store: sealing.SealStore
    chiyoda: str
    osaka: str
    hanako: str  # resident of 千代田区 who moved out to 大阪市
    taro: str  # resident of 千代田区, same household as jiro
    jiro: str
    stranger: str  # resident of 千代田区, another household
    chiyoda_reviewer: str
    osaka_reviewer: str
    osaka_reviewer2: str
    osaka_counter: str
    signers: dict[str, Signer] = field(default_factory=dict)

    def person(self, person_id: str, *, ial: int = 3, aal: int = 2) -> Actor:
        return Actor(kind=ActorKind.PERSON, ial=ial, aal=aal, person_id=person_id)

    def official(self, official_id: str) -> Actor:
        return official_actor(self.factory, official_id)

    def drain(self) -> None:
        """Run the outbox handlers (notices, change notifications …) as the worker would."""
        dispatcher = Dispatcher(self.factory, backoff_base=0.0, max_attempts=1)
        for _ in range(50):
            stats = dispatcher.run_once()
            assert stats.dead == stats.retried == 0, "an outbox handler failed"
            if stats.claimed == 0:
                return
        raise AssertionError("outbox did not drain")

    def sign(self, person_id: str, document: Any) -> bytes:
        return self.signers[person_id](protocol.canonical_json(document))

    def file_for_member(
        self, client: TestClient, filer: str, member: str, procedure_id: str, form: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """``filer`` files ``procedure_id`` for ``member`` of their household through the API,
        signs it with their wallet and submits it; returns (created, submitted) as answered."""
        created: dict[str, Any] = client.post(
            f"/api/procedures/{procedure_id}/applications",
            json={"form": form, "on_behalf_of": {"kind": "person", "id": member}},
        ).json()
        cms = protocol.b64(self.sign(filer, created["document"]))
        submitted = client.post(f"/api/applications/{created['id']}/submit", json={"cms": cms})
        return created, submitted.json()

    def power_of_attorney(
        self, principal: str, agent: str, procedures: list[str], *, days: int = 30
    ) -> str:
        now = utcnow()
        document = {
            "type": delegation.DOCUMENT_TYPE,
            "principal": {"kind": "person", "id": principal},
            "agent": {"kind": "person", "id": agent},
            "procedures": procedures,
            "valid_from": (now - timedelta(days=2)).isoformat(),
            "valid_until": (now + timedelta(days=days)).isoformat(),
        }
        with transaction(self.factory) as session:
            row = delegation.register(
                session,
                self.person(principal),
                document=document,
                cms_der=self.sign(principal, document),
            )
            return row.id


def _person(session: Session, vault: MyNumberVault, family: str, given: str) -> str:
    data = PersonIn(
        family_name=family,
        given_name=given,
        family_name_kana="テスト",
        given_name_kana="テスト",
        birth_date=date(1980, 1, 2),
        sex=Sex.FEMALE,
        address=AddressIn(municipality_code="131016", town="永田町", block="1丁目1番1号"),
    )
    return parties.create_person(session, data, actor="test", vault=vault).id


def _signer(session: Session, settings: Settings, person_id: str) -> Signer:
    key = generate_key()
    attributes = PersonAttributes("山田 花子", date(1980, 1, 2), "女", "東京都千代田区永田町1-1")
    row = trust.issue(
        session,
        settings,
        kind=CertKind.SIGNING,
        public_key=key.public_key(),
        subject=lambda _serial: signing_name(attributes),
        subject_ref=person_id,
        actor="test",
    )
    cert, chain = bytes(row.der), trust.trust_store(session).chain(ISSUER_OF[CertKind.SIGNING])

    def sign(content: bytes) -> bytes:
        return cms.sign_detached(
            content,
            sign=lambda data: cms.raw_signature(key, data),
            signer_cert_der=cert,
            chain_ders=chain,
            signing_time=utcnow(),
        )

    return sign


def juki(household: str, **overrides: Any) -> dict[str, Any]:
    record = resident(**overrides)
    record["household"] = {**record["household"], "household_id": household}
    return record


@pytest.fixture
def world(
    settings: Settings, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> World:
    store = sealing.SealStore(settings)
    monkeypatch.setattr(sealing, "default_store", lambda: store)
    vault = MyNumberVault.from_settings(settings)
    moved_out_on = tokyo_today() - timedelta(days=3)
    with transaction(session_factory) as session:
        trust.init_pki(session, settings)
        chiyoda = parties.ensure_local_government(session, "131016", actor="test").id
        osaka = parties.ensure_local_government(session, "271004", actor="test").id
        for org in (chiyoda, osaka):
            store.ensure(session, org, actor="test")
        hanako = _person(session, vault, "山田", "花子")
        taro = _person(session, vault, "鈴木", "太郎")
        jiro = _person(session, vault, "鈴木", "次郎")
        stranger = _person(session, vault, "佐藤", "三郎")
        since = date(2010, 4, 1)
        gone = juki("h-hanako", status="転出")
        gone["moved_out"] = {"date": moved_out_on.isoformat(), "reason": "転出"}
        registry.assert_fact(
            session, "juki", hanako, juki("h-hanako"), keeper_id=chiyoda, actor="test",
            valid_from=since,
        )  # fmt: skip
        registry.assert_fact(
            session, "juki", hanako, gone, keeper_id=chiyoda, actor="test",
            valid_from=moved_out_on,
        )  # fmt: skip
        for person, household in ((taro, "h-suzuki"), (jiro, "h-suzuki"), (stranger, "h-sato")):
            registry.assert_fact(
                session, "juki", person, juki(household, resident_code=_code(person)),
                keeper_id=chiyoda, actor="test", valid_from=since,
            )  # fmt: skip

        def official(org: str, login: str, role: OfficialRole) -> str:
            data = OfficialIn(
                organization_id=org, display_name=login, login_name=login, roles=[role]
            )
            return parties.create_official(session, data, actor="test").id

        signers = {p: _signer(session, settings, p) for p in (hanako, taro, jiro, stranger)}
        return World(
            settings, session_factory, store, chiyoda, osaka, hanako, taro, jiro, stranger,
            official(chiyoda, "chiyoda-rev", OfficialRole.REVIEWER),
            official(osaka, "osaka-rev", OfficialRole.REVIEWER),
            official(osaka, "osaka-rev2", OfficialRole.REVIEWER),
            official(osaka, "osaka-counter", OfficialRole.COUNTER_STAFF),
            signers,
        )  # fmt: skip


def _code(person_id: str) -> str:
    return str(int(person_id.replace("-", "")[:12], 16))[-11:].zfill(11)


def tennyu_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "moved_in_on": (tokyo_today() - timedelta(days=1)).isoformat(),
        "new_address": {
            "postal_code": "5300001",
            "municipality_code": "271004",
            "town": "梅田",
            "block": "1丁目1番1号",
        },
        "household": {"head_name": "山田 花子", "relationship": "世帯主"},
    }
    form.update(copy.deepcopy(overrides))
    return form


Login = Callable[..., TestClient]


@pytest.fixture
def login(app: FastAPI, world: World) -> Iterator[Login]:
    """A fresh browser logged in as a person or an official (CSRF header set)."""
    opened: list[TestClient] = []

    def run(*, person: str | None = None, official: str | None = None, ial: int = 3) -> TestClient:
        with transaction(world.factory) as session:
            started = sessions.start(
                session, method="card", ial=ial, aal=2, person_id=person, official_id=official
            )
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        opened.append(client)
        client.cookies.set(sessions.COOKIE, started.token)
        client.headers["x-csrf-token"] = sessions.csrf_token(
            world.settings.secret_key, started.token
        )
        return client

    yield run
    for client in opened:
        client.__exit__(None, None, None)
