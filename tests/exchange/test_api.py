"""HTTP: who may call each endpoint; the resident's log, its downloads and offline check."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.conftest import HANAKO, TARO, World
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OfficialIn, OfficialRole, PersonIn, Sex

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "verify_access_log", ROOT / "tools/verify_access_log.py"
)
assert _spec and _spec.loader
verifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verifier)

Login = Callable[..., TestClient]


@pytest.fixture
def actors(
    world: World, settings: Settings, session_factory: sessionmaker[Session]
) -> dict[str, str]:
    """Hanako and Taro as persons; officials of Chiyoda, Osaka and the pension service."""
    with transaction(session_factory) as session:
        vault = MyNumberVault.from_settings(settings)
        for pid, given in ((HANAKO, "花子"), (TARO, "太郎")):
            identity.create_person(
                session,
                PersonIn(family_name="山田", given_name=given, family_name_kana="ヤマダ",
                         given_name_kana="ハナコ" if given == "花子" else "タロウ",
                         birth_date=date(1980, 1, 2), sex=Sex.FEMALE),
                actor="test", vault=vault, id=pid,
            )  # fmt: skip

        def official(org: str, name: str, *roles: OfficialRole) -> str:
            data = OfficialIn(
                organization_id=org, display_name=name, login_name=name, roles=list(roles)
            )
            return identity.create_official(session, data, actor="test").id

        every = (OfficialRole.REGISTRY_KEEPER, OfficialRole.ADMINISTRATOR)
        return {
            "chiyoda": official(world.chiyoda, "chiyoda-keeper", *every),
            "chiyoda_clerk": official(world.chiyoda, "chiyoda-clerk", OfficialRole.COUNTER_STAFF),
            "osaka": official(world.osaka, "osaka-keeper", *every),
            "pension": official(world.pension, "pension-admin", OfficialRole.ADMINISTRATOR),
            "company": official(world.company, "company-admin", OfficialRole.ADMINISTRATOR),
        }


@pytest.fixture
def login(
    app: FastAPI, settings: Settings, session_factory: sessionmaker[Session]
) -> Iterator[Login]:
    clients: list[TestClient] = []

    def make(*, person_id: str | None = None, official_id: str | None = None) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        if person_id or official_id:
            with transaction(session_factory) as session:
                started = sessions.start(
                    session,
                    method="test",
                    ial=3,
                    aal=3,
                    person_id=person_id,
                    official_id=official_id,
                )
            client.cookies.set(sessions.COOKIE, started.token)
            client.headers[sessions.CSRF_HEADER] = sessions.csrf_token(
                settings.secret_key, started.token
            )
        return client

    yield make
    for client in clients:
        client.close()


def _fetch_as_chiyoda(session_factory: sessionmaker[Session], world: World, ref: str) -> None:
    with transaction(session_factory) as session:
        exchange.open_case(
            session, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref=ref, subjects={HANAKO: "applicant"}, actor="t",
        )  # fmt: skip
        exchange.fetch_evidence(
            session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref=ref, evidence_type="juminhyo", subject_id=HANAKO,
        )  # fmt: skip


def test_resident_sees_only_their_own_log(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    _fetch_as_chiyoda(session_factory, world, "JT-100")
    hanako, taro = login(person_id=HANAKO), login(person_id=TARO)
    mine = hanako.get("/api/me/access-log").json()
    assert [e["outcome"] for e in mine["entries"]] == ["provided"]
    assert mine["entries"][0]["agency"] == "千代田区" and mine["entries"][0]["procedure"]
    assert taro.get("/api/me/access-log").json()["entries"] == []
    # Filters cannot reach someone else's entries: there is no party parameter at all.
    assert taro.get(f"/api/me/access-log?agency={world.chiyoda}").json()["entries"] == []
    for path in (
        "/api/me/access-log",
        "/api/me/access-log.csv",
        "/api/me/access-log.json",
        "/me/access-log",
    ):
        assert login().get(path).status_code == 401
        assert login(official_id=actors["chiyoda"]).get(path).status_code == 403
    page = hanako.get("/me/access-log")
    assert page.status_code == 200 and "千代田区" in page.text
    assert "千代田区" not in taro.get("/me/access-log").text


def test_filters_by_agency_and_period(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    _fetch_as_chiyoda(session_factory, world, "JT-101")
    hanako = login(person_id=HANAKO)
    assert len(hanako.get(f"/api/me/access-log?agency={world.chiyoda}").json()["entries"]) == 1
    assert hanako.get(f"/api/me/access-log?agency={world.osaka}").json()["entries"] == []
    assert hanako.get("/api/me/access-log?until=2000-01-01").json()["entries"] == []
    assert len(hanako.get("/api/me/access-log?since=2000-01-01").json()["entries"]) == 1


def test_downloaded_log_verifies_offline_and_tampering_is_detected(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:  # fmt: skip
    _fetch_as_chiyoda(session_factory, world, "JT-102")
    hanako = login(person_id=HANAKO)
    csv_text = hanako.get("/api/me/access-log.csv").text
    assert csv_text.startswith("\ufeffoccurred_at,") and "千代田区" in csv_text
    response = hanako.get("/api/me/access-log.json")
    assert "attachment" in response.headers["content-disposition"]
    document = response.json()
    roots = login().get("/api/audit/roots").json()
    assert verifier.verify(document, {r["day"]: r for r in roots}) == []
    path = tmp_path / "log.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    assert verifier.main([str(path)]) == 0

    def broken(change: Callable[[dict[str, Any]], None]) -> list[str]:
        copy_ = copy.deepcopy(document)
        change(copy_["entries"][0])
        return verifier.verify(copy_, {})

    # The displayed entry hides a field that was in fact obtained.
    assert broken(lambda e: e["fields"].remove("address"))

    # Someone rewrites the audit record to match, but then its hash no longer does.
    def rewrite(e: dict[str, Any]) -> None:
        e["fields"].remove("address")
        e["audit"]["body"]["data"]["fields"].remove("address")

    assert any("altered" in p for p in broken(rewrite))

    # Recomputing the hash as well is caught by the Merkle proof.
    def rehash(e: dict[str, Any]) -> None:
        rewrite(e)
        e["audit"]["hash"] = verifier.chain_hash(e["audit"]["prev_hash"], e["audit"]["body"])

    assert any("Merkle" in p for p in broken(rehash))
    path.write_text(
        json.dumps({**document, "entries": [document["entries"][0] | {"outcome": "refused"}]})
    )
    assert verifier.main([str(path)]) == 1


def test_fetch_endpoint_checks_the_caller_and_logs_refusals(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        exchange.open_case(
            session, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref="JT-200", subjects={HANAKO: "applicant"}, actor="t",
        )  # fmt: skip
        request = dict(
            requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref="JT-200", subject_id=HANAKO,
        )  # fmt: skip
        good = exchange.request_envelope(session, world.store, evidence_type="juminhyo", **request)
        bad = exchange.request_envelope(session, world.store, evidence_type="touki", **request)
    assert login().post("/api/exchange/fetch", json=good).status_code == 401
    assert login(person_id=HANAKO).post("/api/exchange/fetch", json=good).status_code == 403
    osaka = login(official_id=actors["osaka"]).post("/api/exchange/fetch", json=good)
    assert osaka.status_code == 403 and osaka.json()["error"]["code"] == "not_your_organization"
    chiyoda = login(official_id=actors["chiyoda_clerk"])
    response = chiyoda.post("/api/exchange/fetch", json=good)
    assert response.status_code == 200 and response.json()["payload"]["owner_id"] == world.chiyoda
    refused = chiyoda.post("/api/exchange/fetch", json=bad)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "no_legal_basis"
    outcomes = [
        e["outcome"] for e in login(person_id=HANAKO).get("/api/me/access-log").json()["entries"]
    ]
    assert outcomes == ["refused", "provided"]


def test_registry_records_are_read_and_changed_only_by_their_keeper(
    login: Login, actors: dict[str, str], world: World
) -> None:
    path = f"/api/registries/juki/records/{HANAKO}"
    keeper = login(official_id=actors["chiyoda"])
    assert keeper.get(path).json()[0]["data"]["name"]["given"] == "花子"
    assert login(official_id=actors["osaka"]).get(path).status_code == 404
    assert login(official_id=actors["chiyoda_clerk"]).get(path).status_code == 403
    assert login(person_id=HANAKO).get(path).status_code == 403
    assert login().get(path).status_code == 401
    changed = keeper.patch(
        path, json={"patch": {"address": {"block": "二丁目1番"}}, "valid_from": "2025-04-01"}
    )
    assert changed.status_code == 200 and "address_changed" in changed.json()["events"]
    refused = login(official_id=actors["osaka"]).patch(
        path, json={"patch": {}, "valid_from": "2025-04-01"}
    )
    assert refused.status_code == 404
    invalid = keeper.patch(path, json={"patch": {"sex": "?"}, "valid_from": "2025-05-01"})
    assert invalid.status_code == 422 and "(sex)" in invalid.json()["error"]["message_ja"]
    assert len(keeper.get(f"{path}/history").json()) == 3
    assert keeper.get("/api/registries/juki/records").json()["total"] == 1
    assert login(official_id=actors["chiyoda_clerk"]).get("/api/registries").status_code == 200


def test_subscriptions_matrix_inbox_and_consent_permissions(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    body = {"basis_id": "juki-nenkin-shibo", "event_id": "died"}
    pension = login(official_id=actors["pension"])
    created = pension.post("/api/exchange/subscriptions", json=body)
    assert created.status_code == 201
    assert (
        login(official_id=actors["company"])
        .post("/api/exchange/subscriptions", json=body)
        .status_code
        == 403
    )
    assert (
        login(official_id=actors["chiyoda_clerk"])
        .post("/api/exchange/subscriptions", json=body)
        .status_code
        == 403
    )
    assert (
        login(official_id=actors["osaka"])
        .delete(f"/api/exchange/subscriptions/{created.json()['id']}")
        .status_code
        == 404
    )
    assert [s["event_id"] for s in pension.get("/api/exchange/subscriptions").json()] == ["died"]
    assert pension.get("/api/exchange/inbox").json() == []
    assert pension.get("/api/exchange/matrix").status_code == 200
    assert login(official_id=actors["chiyoda_clerk"]).get("/api/exchange/matrix").status_code == 403
    assert login(official_id=actors["chiyoda"]).get("/exchange/matrix").status_code == 200
    with transaction(session_factory) as session:
        case = exchange.open_case(
            session, requester_id=world.jasso, procedure_id="shogakukin_taiyo",
            application_ref="J-1", subjects={HANAKO: "applicant"}, actor="t",
        ).id  # fmt: skip
    assert login(person_id=TARO).post(f"/api/me/consents/{case}", json={}).status_code == 404
    assert login(person_id=HANAKO).post(f"/api/me/consents/{case}", json={}).status_code == 201
    assert (
        login(official_id=actors["chiyoda"]).post(f"/api/me/consents/{case}", json={}).status_code
        == 403
    )
