"""One-stop moving, end to end in process (webhook delivery excluded).

A family of three (all in 国民健康保険, a car, the child allowance into the
father's registered account) moves to another municipality: ``prepare``
reads the household from the registers and drafts the eleven applications
(転出 ×3, 転入 ×3, 国保 ×3, 児童手当, 自動車の変更登録), the father signs the
one document (client side, timed apart), and ``submit`` verifies the
signature and submits every part — evidence fetched through the exchange,
rules deciding, registers changed — each family in its own transactions.
Target: p95 ≤ 300 ms for prepare + submit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bench.bench_procedure import PASSWORD, _signer
from bench.common import percentile, postgres_url, sqlite_url
from tsunagu.core import ids
from tsunagu.core.clock import tokyo_today
from tsunagu.core.config import Settings
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as identity
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import (
    AddressIn,
    HouseholdIn,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Relationship,
    Sex,
)
from tsunagu.lifeevent import onestop
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust

FAMILIES = 60
SINCE = date(2012, 4, 1)
TARGET_P95_MS = 300.0
MEMBERS = (
    ("健太", date(1984, 6, 1), Relationship.HEAD, "世帯主"),
    ("美咲", date(1986, 2, 3), Relationship.SPOUSE, "妻"),
    ("蓮", date(2021, 5, 5), Relationship.CHILD, "子"),
)


@dataclass
class Family:
    head: str
    sign: Callable[[bytes], bytes]


def _juki(i: int, person_id: str, given: str, born: date, zokugara: str) -> dict[str, Any]:
    return {
        "resident_code": f"{int(person_id.replace('-', '')[:12], 16) % 10**11:011d}",
        "name": {"family": "中村", "given": given},
        "kana": {"family": "ナカムラ", "given": "テスト"},
        "birth_date": born.isoformat(),
        "sex": "女" if zokugara == "妻" else "男",
        "address": {"postal_code": "1000014", "municipality_code": "131016",
                    "prefecture": "東京都", "municipality": "千代田区", "town": "永田町",
                    "block": f"{i + 1}番"},
        "household": {"household_id": f"h-{i}", "head_name": "中村 健太",
                      "relationship": zokugara},
        "became_resident": SINCE.isoformat(),
        "status": "住民",
    }  # fmt: skip


def _agency(session: Session, name: str, serial: str) -> str:
    return identity.create_organization(
        session,
        OrganizationIn(kind=OrganizationKind.MINISTRY, name_ja=name, name_kana="ベンチ",
                       corporate_number=ids.complete(ids.IdKind.CORPORATE, serial)),
        actor="bench",
    ).id  # fmt: skip


def _family(
    session: Session, settings: Settings, vault: MyNumberVault, i: int, keepers: dict[str, str]
) -> Family:
    address = AddressIn(municipality_code="131016", town="永田町", block=f"{i + 1}番")
    household = identity.create_household(session, HouseholdIn(address=address), actor="bench").id
    ids_: list[str] = []
    for given, born, relation, zokugara in MEMBERS:
        person = identity.create_person(
            session,
            PersonIn(family_name="中村", given_name=given, family_name_kana="ナカムラ",
                     given_name_kana="テスト", birth_date=born,
                     sex=Sex.FEMALE if zokugara == "妻" else Sex.MALE, address=address,
                     household_id=household, relationship=relation),
            actor="bench", vault=vault,
        ).id  # fmt: skip
        ids_.append(person)
        registry.assert_fact(
            session, "juki", person, _juki(i, person, given, born, zokugara),
            keeper_id=keepers["chiyoda"], actor="bench", valid_from=SINCE,
        )  # fmt: skip
        registry.assert_fact(
            session, "kokuho", person,
            {"insurer_number": "131016", "symbol": "千代", "number": f"{i}",
             "head_of_household": "中村 健太", "acquired_on": SINCE.isoformat(),
             "status": "資格取得"},
            keeper_id=keepers["chiyoda"], actor="bench", valid_from=SINCE,
        )  # fmt: skip
    head, _spouse, child = ids_
    registry.assert_fact(
        session, "jidou_teate", head,
        {"recipient_number": f"{1310160000 + i}", "certified_on": SINCE.isoformat(),
         "children": [{"name": "中村 蓮", "person_id": child, "birth_date": "2021-05-05"}],
         "monthly_amount": 15000, "status": "支給中"},
        keeper_id=keepers["chiyoda"], actor="bench", valid_from=SINCE,
    )  # fmt: skip
    registry.assert_fact(
        session, "koukin_kouza", head,
        {"bank_code": "0001", "branch_code": "123", "type": "普通", "number": f"{i:07d}",
         "holder_kana": "ナカムラ ケンタ", "registered_on": "2022-04-01"},
        keeper_id=keepers["digital"], actor="bench", valid_from=date(2022, 4, 1),
    )  # fmt: skip
    owner = {"name": "中村 健太", "address": "東京都千代田区永田町", "person_id": head}
    registry.assert_fact(
        session, "jidosha", f"00000000-0000-4000-8000-{i:012d}",
        {"registration_number": f"品川 300 さ {i:02d}-{i:02d}", "chassis_number": f"ABC-{i}",
         "make": "トヨタ", "first_registered": "2020-04", "owner": owner,
         "user": {"name": owner["name"], "address": owner["address"]}, "status": "登録"},
        keeper_id=keepers["transport"], actor="bench", valid_from=date(2020, 4, 1),
    )  # fmt: skip
    return Family(head, _signer(session, settings, head))


def _world(
    url: str, workdir: Path
) -> tuple[sessionmaker[Session], sealing.SealStore, list[Family]]:
    settings = Settings(
        database_url=url, var_dir=workdir / "var", pki_key_password=PASSWORD,
        base_url="http://127.0.0.1",
    )  # fmt: skip
    factory = make_session_factory(make_engine(url))
    store = sealing.store_for(settings)
    vault = MyNumberVault.from_settings(settings)
    with transaction(factory) as session:
        trust.init_pki(session, settings)
        keepers = {
            "chiyoda": identity.ensure_local_government(session, "131016", actor="bench").id,
            "osaka": identity.ensure_local_government(session, "271004", actor="bench").id,
            "transport": _agency(session, "国土交通省", "000012100001"),
            "digital": _agency(session, "デジタル庁", "000012010023"),
        }
        exchange.designate(session, keepers["transport"], "transport_bureau", actor="bench")
        for organization in keepers.values():
            store.ensure(session, organization, actor="bench")
    families = []
    for i in range(FAMILIES):
        with transaction(factory) as session:
            families.append(_family(session, settings, vault, i, keepers))
    return factory, store, families


def _move(
    factory: sessionmaker[Session], store: sealing.SealStore, family: Family
) -> tuple[float, float, int]:
    """(server ms, client signing ms, parts) for one family's move."""
    actor = Actor(kind=ActorKind.PERSON, ial=3, aal=2, person_id=family.head)
    values = {
        "move_date": (tokyo_today() - timedelta(days=1)).isoformat(),
        "new_address.municipality_code": "271004",
        "new_address.town": "梅田",
        "new_address.block": "1丁目1番1号",
    }
    started = time.perf_counter()
    with transaction(factory) as session:
        filing = onestop.prepare(
            session, actor, "moving", choices={"scope": "other_city"}, values=values
        )
        filing_id, document = filing.id, filing.document or ""
    prepared = time.perf_counter()
    signature = family.sign(document.encode("utf-8"))
    signed = time.perf_counter()
    with transaction(factory) as session:
        onestop.submit(session, actor, filing_id, signature, store=store)
        parts = onestop.parts_of(session, filing_id)
        assert all(p.outcome == "submitted" for p in parts), [p.error_en for p in parts]
    done = time.perf_counter()
    return (prepared - started + done - signed) * 1000, (signed - prepared) * 1000, len(parts)


def _measure(url: str, workdir: Path) -> dict[str, Any]:
    factory, store, families = _world(url, workdir)
    server, client, parts = [], [], 0
    for family in families:
        server_ms, client_ms, count = _move(factory, store, family)
        server.append(server_ms)
        client.append(client_ms)
        parts = count
    return {
        "families": len(families),
        "applications_per_move": parts,
        "p50_ms": round(percentile(server, 50), 1),
        "p95_ms": round(percentile(server, 95), 1),
        "max_ms": round(max(server), 1),
        "client_signing_p50_ms": round(percentile(client, 50), 1),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": percentile(server, 95) <= TARGET_P95_MS,
    }


def run(workdir: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"sqlite": _measure(sqlite_url(workdir, "onestop"), workdir / "s")}
    with postgres_url() as url:
        if url is not None:
            result["postgresql"] = _measure(url, workdir / "p")
    return result
