"""Private-sector notices: registration, consent, signed webhook delivery, who may call what."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.exchange.test_api import Login
from tests.exchange.test_api import login as login  # the fixture
from tests.openssl import cms_verify
from tests.registry.conftest import resident
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.outbox.service import Dispatcher
from tsunagu.exchange import sealing
from tsunagu.identity import business
from tsunagu.identity import service as identity
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import (
    OfficialIn,
    OfficialRole,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Sex,
)
from tsunagu.lifeevent import notices
from tsunagu.lifeevent.models import NoticeDelivery, NoticeSubscriber
from tsunagu.lifeevent.receiver import Receiver, ReceiverThread
from tsunagu.lifeevent.signatures import SEAL_HEADER, SIGNATURE_HEADER
from tsunagu.lifeevent.webhooks import WebhookDispatcher
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

HANAKO = str(uuid.UUID(int=2001))
TARO = str(uuid.UUID(int=2002))
PLATFORM_NUMBER = "7000012050002"
POWER_NUMBER = "1180301018771"
GAS_NUMBER = "4011105001589"
MOVE = {
    "address": {
        "postal_code": "1500002",
        "municipality_code": "131016",
        "prefecture": "東京都",
        "municipality": "千代田区",
        "town": "丸の内",
        "block": "一丁目1番1号",
    }
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        base_url="http://testserver",
        pki_key_password="test-ca-password",
        platform_corporate_number=PLATFORM_NUMBER,
    )


@dataclass
class World:
    chiyoda: str
    platform: str
    power: str
    gas: str
    officials: dict[str, str]


def _houjin(number: str, name: str, status: str = "存続") -> dict[str, Any]:
    return {
        "corporate_number": number,
        "trade_name": name,
        "corporation_type": "株式会社",
        "head_office": {"municipality_code": "131016", "text": "東京都千代田区丸の内一丁目"},
        "representatives": [{"title": "代表取締役", "name": "東京 一郎"}],
        "established_on": "2001-04-01",
        "status": status,
    }


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session]) -> World:
    """千代田区 keeps Hanako's 住民票; the platform (seal held here), a power and a gas company."""
    with transaction(session_factory) as session:
        trust.init_pki(session, settings)
        chiyoda = identity.ensure_local_government(session, "131016", actor="test").id

        def org(kind: OrganizationKind, name: str, kana: str, number: str) -> str:
            data = OrganizationIn(kind=kind, name_ja=name, name_kana=kana, corporate_number=number)
            return identity.create_organization(session, data, actor="test").id

        platform = org(OrganizationKind.MINISTRY, "デジタル庁", "デジタルチョウ", PLATFORM_NUMBER)
        power = org(OrganizationKind.CORPORATION, "つなぐ電力", "ツナグデンリョク", POWER_NUMBER)
        gas = org(OrganizationKind.CORPORATION, "つなぐガス", "ツナグガス", GAS_NUMBER)
        sealing.store_for(settings).ensure(session, platform, actor="test")
        moj = org(OrganizationKind.MINISTRY, "法務省", "ホウムショウ", "2000012010019")
        registry.assert_fact(
            session, "houjin", power, _houjin(POWER_NUMBER, "つなぐ電力株式会社"),
            keeper_id=moj, actor="test", valid_from=date(2001, 4, 1),
        )  # fmt: skip
        registry.assert_fact(
            session, "juki", HANAKO, resident(), keeper_id=chiyoda, actor="test",
            valid_from=date(2010, 4, 1),
        )  # fmt: skip
        vault = MyNumberVault.from_settings(settings)
        for pid, given, kana in ((HANAKO, "花子", "ハナコ"), (TARO, "太郎", "タロウ")):
            identity.create_person(
                session,
                PersonIn(family_name="山田", given_name=given, family_name_kana="ヤマダ",
                         given_name_kana=kana, birth_date=date(1980, 1, 2), sex=Sex.FEMALE),
                actor="test", vault=vault, id=pid,
            )  # fmt: skip

        def official(org_id: str, name: str, *roles: OfficialRole) -> str:
            data = OfficialIn(
                organization_id=org_id, display_name=name, login_name=name, roles=list(roles)
            )
            return identity.create_official(session, data, actor="test").id

        officials = {
            "power": official(power, "power-admin", OfficialRole.ADMINISTRATOR),
            "power_clerk": official(power, "power-clerk", OfficialRole.COUNTER_STAFF),
            "gas": official(gas, "gas-admin", OfficialRole.ADMINISTRATOR),
            "chiyoda": official(chiyoda, "chiyoda-admin", OfficialRole.ADMINISTRATOR),
        }
    return World(chiyoda, platform, power, gas, officials)


@pytest.fixture
def receiver() -> Iterator[ReceiverThread]:
    with ReceiverThread(Receiver()) as running:
        yield running


def register(
    login: Login, world: World, url: str, *, who: str = "power", number: str = POWER_NUMBER,
    declared: dict[str, list[str]] | None = None,
) -> Any:  # fmt: skip
    client = login(official_id=world.officials[who])
    return client.post(
        "/api/lifeevent/subscribers",
        json={
            "corporate_number": number,
            "sector": "electricity",
            "webhook_url": url,
            "declared": declared or {"moved": ["name", "new_address", "move_date"]},
        },
    )


def consent(login: Login, person: str, subscriber: str, event: str = "moved", **extra: Any) -> Any:
    client = login(person_id=person)
    return client.post(
        "/api/me/life-notices/consents",
        json={"subscriber_id": subscriber, "event": event, **extra},
    )


def move(factory: sessionmaker[Session], person: str = HANAKO) -> None:
    with transaction(factory) as session:
        registry.change(session, "juki", person, MOVE, actor="keeper", valid_from=date(2025, 5, 1))


def drain(factory: sessionmaker[Session], settings: Settings, **options: Any) -> WebhookDispatcher:
    """Run the outbox (fan-out), then deliver until nothing is due right now."""
    outbox = Dispatcher(factory, backoff_base=0.0, max_attempts=5)
    while outbox.run_once().claimed:
        pass
    dispatcher = WebhookDispatcher(factory, settings, backoff_base=0.0, **options)
    for _ in range(20):
        if dispatcher.run_once().claimed == 0:
            break
    dispatcher.close()
    return dispatcher


# --- registration ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1180301018772", "118030101877", "abc"])
def test_registration_with_an_invalid_corporate_number_is_refused(
    login: Login, world: World, number: str
) -> None:
    response = register(login, world, "https://power.example/hook", number=number)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_corporate_number"


def test_registration_checks_who_the_company_is(
    login: Login, world: World, session_factory: sessionmaker[Session]
) -> None:
    url = "https://power.example/hook"
    assert register(login, world, url, who="gas").status_code == 403  # another company's number
    assert register(login, world, url, who="power_clerk").status_code == 403  # not an admin
    assert register(login, world, url, who="chiyoda").status_code == 403
    anonymous = login().post("/api/lifeevent/subscribers", json={})
    assert anonymous.status_code == 401
    plain_http = register(login, world, "http://power.example/hook")
    assert plain_http.status_code == 422 and plain_http.json()["error"]["code"] == "bad_webhook_url"
    too_much = register(login, world, url, declared={"moved": ["name", "income"]})
    assert too_much.status_code == 422
    ok = register(login, world, url)
    assert ok.status_code == 201
    body = ok.json()
    # the name is the registered trade name from the 商業・法人登記, the secret shown once
    assert body["subscriber"]["name"] == "つなぐ電力株式会社" and len(body["secret"]) > 30
    with session_factory() as session:
        (audit,) = session.execute(
            select(AuditRecord).where(AuditRecord.action == "lifeevent.subscriber_registered")
        ).scalars()
        assert body["secret"] not in json.dumps(audit.data, ensure_ascii=False)
        stored = session.execute(select(NoticeSubscriber)).scalar_one()
        assert body["secret"] not in stored.secret_ciphertext


def test_a_closed_company_in_the_register_is_refused(
    login: Login, world: World, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        registry.change(
            session, "houjin", world.power, {"status": "閉鎖"}, actor="t",
            valid_from=date(2020, 1, 1),
        )  # fmt: skip
    response = register(login, world, "https://power.example/hook")
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_registered"


def test_company_endpoints_show_only_the_companys_own(
    login: Login, world: World, receiver: ReceiverThread
) -> None:
    subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
    power, gas = (
        login(official_id=world.officials["power"]),
        login(official_id=world.officials["gas"]),
    )
    assert [s["id"] for s in power.get("/api/lifeevent/subscribers").json()["subscribers"]] == [
        subscriber
    ]
    assert gas.get("/api/lifeevent/subscribers").json()["subscribers"] == []
    path = f"/api/lifeevent/subscribers/{subscriber}/deliveries"
    assert power.get(path).status_code == 200
    assert gas.get(path).status_code == 404
    assert login(official_id=world.officials["chiyoda"]).get(path).status_code == 404
    assert login(person_id=HANAKO).get(path).status_code == 403  # a resident, not a member
    assert login().get(path).status_code == 401


# --- consent and delivery ------------------------------------------------------------------------


def _verify_like_a_company(
    settings: Settings, session_factory: sessionmaker[Session], secret: str, got: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    """HMAC with the secret; the seal with OpenSSL against the platform root, no tsunagu code."""
    header = dict(p.split("=", 1) for p in got.headers[SIGNATURE_HEADER.lower()].split(","))
    mac = hmac.new(secret.encode(), header["t"].encode() + b"." + got.body, hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), header["v1"])
    p7s, content, root = tmp_path / "seal.p7s", tmp_path / "body.json", tmp_path / "root.pem"
    p7s.write_bytes(base64.b64decode(got.headers[SEAL_HEADER.lower()]))
    content.write_bytes(got.body)
    with session_factory() as session:
        root.write_bytes(trust.root_certificate_pem(session))
    verified = cms_verify(p7s, content, root)
    assert verified.returncode == 0, verified.stderr
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(got.body.replace(b"\xe4\xb8\xb8", b"\xe4\xb8\x80"))  # 丸 → 一
    assert cms_verify(p7s, tampered, root).returncode != 0


def test_a_move_reaches_the_consented_company_signed_with_only_consented_fields(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session], tmp_path: Path,
) -> None:  # fmt: skip
    registered = register(
        login, world, receiver.url,
        declared={"moved": ["name", "birth_date", "new_address", "move_date"], "died": ["name"]},
    ).json()  # fmt: skip
    subscriber = registered["subscriber"]["id"]
    # Hanako agrees to three of the four declared fields (not her birth date)
    given = consent(login, HANAKO, subscriber, fields=["name", "new_address", "move_date"])
    assert given.status_code == 201
    assert consent(login, HANAKO, subscriber, fields=["income"]).status_code == 422
    move(session_factory)
    drain(session_factory, settings)
    (got,) = receiver.app.received
    notice = json.loads(got.body)
    assert notice["event"] == "moved" and notice["recipient"]["corporate_number"] == POWER_NUMBER
    assert notice["data"] == {
        "name": "山田\u3000花子",
        "new_address": {"postal_code": "1500002", "text": "東京都千代田区丸の内一丁目1番1号"},
        "move_date": "2025-05-01",
    }
    _verify_like_a_company(settings, session_factory, registered["secret"], got, tmp_path)
    hanako = login(person_id=HANAKO).get("/api/me/life-notices").json()
    (delivery,) = hanako["deliveries"]
    assert delivery["status"] == "delivered" and delivery["subscriber_name"] == "つなぐ電力株式会社"
    path = f"/api/me/life-notices/deliveries/{delivery['id']}"
    assert login(person_id=HANAKO).get(path).json()["status"] == "delivered"
    assert login(person_id=TARO).get(path).status_code == 404
    assert login(person_id=TARO).get("/api/me/life-notices").json()["deliveries"] == []
    assert login(official_id=world.officials["power"]).get(path).status_code == 403
    assert login().get(path).status_code == 401
    # the delivered body is not kept
    with session_factory() as session:
        assert session.get(NoticeDelivery, delivery["id"]).body is None  # type: ignore[union-attr]


def test_no_consent_nothing_is_sent(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
    consent(login, TARO, subscriber)  # another resident's consent does not cover Hanako
    move(session_factory)
    drain(session_factory, settings)
    assert receiver.app.requests == 0
    assert login(person_id=HANAKO).get("/api/me/life-notices").json()["deliveries"] == []


def test_a_receiver_failing_three_times_gets_the_notice_once_after_it_recovers(
    login: Login, world: World, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with ReceiverThread(Receiver(fail_first=3)) as flaky:
        subscriber = register(login, world, flaky.url).json()["subscriber"]["id"]
        consent(login, HANAKO, subscriber)
        move(session_factory)
        outbox = Dispatcher(session_factory, backoff_base=0.0)
        while outbox.run_once().claimed:
            pass
        with WebhookDispatcher(session_factory, settings, backoff_base=0.0) as dispatcher:
            statuses = []
            for _ in range(4):
                stats = dispatcher.run_once()
                statuses.append((stats.retried, stats.delivered))
                (seen,) = login(person_id=HANAKO).get("/api/me/life-notices").json()["deliveries"]
                statuses.append(seen["status"])
            assert dispatcher.run_once().claimed == 0
        assert statuses == [
            (1, 0),
            "failed",
            (1, 0),
            "failed",
            (1, 0),
            "failed",
            (0, 1),
            "delivered",
        ]
        assert flaky.app.requests == 4 and flaky.app.accepted == 1
        (got,) = flaky.app.received
        assert json.loads(got.body)["event"] == "moved"


def test_dead_letter_and_replay_by_the_company(
    login: Login, world: World, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with ReceiverThread(Receiver(fail_first=2)) as flaky:
        subscriber = register(login, world, flaky.url).json()["subscriber"]["id"]
        consent(login, HANAKO, subscriber)
        move(session_factory)
        drain(session_factory, settings, max_attempts=2)
        (dead,) = login(person_id=HANAKO).get("/api/me/life-notices").json()["deliveries"]
        assert dead["status"] == "dead" and flaky.app.accepted == 0
        path = f"/api/lifeevent/deliveries/{dead['id']}/replay"
        assert login().post(path).status_code == 401
        assert login(person_id=HANAKO).post(path).status_code == 403
        assert login(official_id=world.officials["gas"]).post(path).status_code == 404
        assert login(official_id=world.officials["chiyoda"]).post(path).status_code == 404
        replayed = login(official_id=world.officials["power"]).post(path)
        assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
        again = login(official_id=world.officials["power"]).post(path)
        assert again.status_code == 422  # not dead any more
        drain(session_factory, settings)
        assert flaky.app.accepted == 1
        (seen,) = login(person_id=HANAKO).get("/api/me/life-notices").json()["deliveries"]
        assert seen["status"] == "delivered"


def test_a_withdrawn_consent_stops_pending_and_future_deliveries(
    login: Login, world: World, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with ReceiverThread(Receiver(fail_first=1)) as flaky:
        subscriber = register(login, world, flaky.url).json()["subscriber"]["id"]
        given = consent(login, HANAKO, subscriber).json()
        move(session_factory)
        drain(session_factory, settings, max_attempts=1)  # fails once: dead, still withdrawable
        hanako = login(person_id=HANAKO)
        path = f"/api/me/life-notices/consents/{given['id']}/withdraw"
        assert login(person_id=TARO).post(path).status_code == 404
        assert login(official_id=world.officials["power"]).post(path).status_code == 403
        assert login().post(path).status_code == 401
        withdrawn = hanako.post(path)
        assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
        mine = hanako.get("/api/me/life-notices").json()
        (seen,) = mine["deliveries"]
        assert seen["status"] == "cancelled" and mine["consents"] == []
        (history,) = mine["consent_history"]
        assert history["given_at"] and history["withdrawn_at"]
        replay = login(official_id=world.officials["power"]).post(
            f"/api/lifeevent/deliveries/{seen['id']}/replay"
        )
        assert replay.status_code == 422
        with transaction(session_factory) as session:  # a later change of name, and a later move
            registry.change(
                session, "juki", HANAKO, {"address": {**MOVE["address"], "town": "大手町"}},
                actor="keeper", valid_from=date(2025, 8, 1),
            )  # fmt: skip
        drain(session_factory, settings)
        assert flaky.app.accepted == 0 and flaky.app.requests == 1
        with session_factory() as session:
            actions = set(session.execute(select(AuditRecord.action)).scalars())
        assert {"lifeevent.consent_given", "lifeevent.consent_withdrawn"} <= actions


def test_consent_endpoints_are_for_residents(login: Login, world: World) -> None:
    assert login().get("/api/me/life-notices").status_code == 401
    assert (
        login(official_id=world.officials["power"]).get("/api/me/life-notices").status_code == 403
    )
    body = {"subscriber_id": str(uuid.uuid4()), "event": "moved"}
    assert login().post("/api/me/life-notices/consents", json=body).status_code == 401
    assert consent(login, HANAKO, str(uuid.uuid4())).status_code == 404
    assert login().get("/api/lifeevent/catalog").status_code == 200


def test_notify_is_what_bundles_call(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    subscriber = register(
        login, world, receiver.url, declared={"died": ["name", "death_date"]}
    ).json()["subscriber"]["id"]
    consent(login, HANAKO, subscriber, event="died")
    data = {"name": "山田\u3000花子", "death_date": "2025-03-01", "address": {"text": "x"}}
    with transaction(session_factory) as session:
        made = notices.notify(session, "died", HANAKO, data, source="bundle:test-1")
        again = notices.notify(session, "died", HANAKO, data, source="bundle:test-1")
    assert len(made) == 1 and again == []
    drain(session_factory, settings)
    (got,) = receiver.app.received
    assert json.loads(got.body)["data"] == {"name": "山田\u3000花子", "death_date": "2025-03-01"}


def test_a_death_in_the_register_tells_only_death_consents(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    registered = register(
        login, world, receiver.url,
        declared={"moved": ["new_address"], "died": ["name", "death_date"]},
    ).json()  # fmt: skip
    subscriber = registered["subscriber"]["id"]
    consent(login, HANAKO, subscriber, event="died")
    with transaction(session_factory) as session:
        registry.change(
            session, "juki", HANAKO,
            {"status": "死亡", "moved_out": {"date": "2025-03-01", "reason": "死亡"}},
            actor="keeper", valid_from=date(2025, 3, 1),
        )  # fmt: skip
    drain(session_factory, settings)
    (got,) = receiver.app.received
    notice = json.loads(got.body)
    assert notice["event"] == "died"
    assert notice["data"] == {"name": "山田\u3000花子", "death_date": "2025-03-01"}


def test_deliver_command_sends_what_is_due(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from typer.testing import CliRunner

    from tsunagu.cli import app
    from tsunagu.lifeevent import cli

    subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
    consent(login, HANAKO, subscriber)
    move(session_factory)
    outbox = Dispatcher(session_factory, backoff_base=0.0)
    while outbox.run_once().claimed:
        pass
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr("tsunagu.core.outbox.worker.install_stop_signals", lambda _stop: None)
    result = CliRunner().invoke(app, ["lifeevent", "deliver", "--until-idle"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"delivered": 1}
    assert receiver.app.accepted == 1


def test_two_dispatchers_never_send_one_notice_twice(
    login: Login, world: World, receiver: ReceiverThread, settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:  # fmt: skip
    for _ in range(12):
        subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
        consent(login, HANAKO, subscriber)
    move(session_factory)
    outbox = Dispatcher(session_factory, backoff_base=0.0)
    while outbox.run_once().claimed:
        pass
    stop = threading.Event()
    dispatchers = [
        WebhookDispatcher(session_factory, settings, batch_size=2, concurrency=2) for _ in range(2)
    ]
    threads = [
        threading.Thread(target=d.run, args=(stop,), kwargs={"until_idle": True})
        for d in dispatchers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for dispatcher in dispatchers:
        dispatcher.close()
    assert receiver.app.requests == 12 and receiver.app.accepted == 12
    ids = {json.loads(r.body)["notice_id"] for r in receiver.app.received}
    assert len(ids) == 12


def test_a_business_member_registers_for_their_own_company_only(
    login: Login, world: World, session_factory: sessionmaker[Session]
) -> None:
    counter = Actor(
        ActorKind.OFFICIAL, 3, 2, official_id=world.officials["chiyoda"],
        organization_id=world.chiyoda, roles=frozenset({OfficialRole.COUNTER_STAFF}),
    )  # fmt: skip
    with transaction(session_factory) as session:
        business.open_at_counter(session, counter, corporate_number=GAS_NUMBER, person_id=TARO)
    taro = login(person_id=TARO)
    body = {
        "corporate_number": GAS_NUMBER, "sector": "gas", "webhook_url": "https://gas.example/h",
        "declared": {"moved": ["new_address"]},
    }  # fmt: skip
    created = taro.post("/api/lifeevent/subscribers", json=body)
    assert created.status_code == 201 and created.json()["subscriber"]["name"] == "つなぐガス"
    other = taro.post("/api/lifeevent/subscribers", json={**body, "corporate_number": POWER_NUMBER})
    assert other.status_code == 403
    assert [s["id"] for s in taro.get("/api/lifeevent/subscribers").json()["subscribers"]] == [
        created.json()["subscriber"]["id"]
    ]


def test_a_correction_of_the_register_is_no_life_event() -> None:
    before, after = resident(), resident(**MOVE)
    change = {"events": ["changed", "address_changed"], "valid_from": "2025-05-01"}
    assert set(notices.life_events_of(change, before, after)) == {"moved"}
    corrected = {**change, "events": ["corrected", "address_changed"]}
    assert notices.life_events_of(corrected, before, after) == {}
    renamed = {"events": ["changed", "name_changed"], "valid_from": "2025-06-01"}
    married = resident(name={"family": "佐藤", "given": "花子"})
    told = notices.life_events_of(renamed, before, married)
    assert told["name_changed"]["former_name"] == "山田\u3000花子"
    assert told["name_changed"]["name"] == "佐藤\u3000花子"
