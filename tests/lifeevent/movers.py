"""A family that moves: 中村 of 千代田区 (parents and a child of five, all in 国保, a car, and
the child allowance paid into the father's registered account); 国土交通省 keeps the car."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from tests.procedure.conftest import World, _code, _signer, juki
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.exchange import service as exchange
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import (
    AddressIn,
    HouseholdIn,
    OrganizationIn,
    OrganizationKind,
    PersonIn,
    Relationship,
    Sex,
)
from tsunagu.registry import service as registry

SINCE = date(2012, 4, 1)
CAR = "6f1d1c8e-4a8e-4b6e-9d8a-1c2b3d4e5f60"


@dataclass
class Movers:
    head: str
    spouse: str
    child: str
    transport: str


def _member(
    session: Any, vault: MyNumberVault, household: str, given: str, born: date,
    relationship: Relationship, *, family: tuple[str, str] = ("中村", "ナカムラ"),
    female: bool | None = None,
) -> str:  # fmt: skip
    female = given == "美咲" if female is None else female
    data = PersonIn(
        family_name=family[0], given_name=given, family_name_kana=family[1],
        given_name_kana="テスト", birth_date=born, sex=Sex.FEMALE if female else Sex.MALE,
        address=AddressIn(municipality_code="131016", town="永田町", block="1丁目1番1号"),
        household_id=household, relationship=relationship,
    )  # fmt: skip
    return parties.create_person(session, data, actor="test", vault=vault).id


def benefit_account(session: Any, person_id: str, account: dict[str, str]) -> None:
    """The account the person registered for public benefits (公金受取口座, kept by デジタル庁)."""
    digital = parties.create_organization(
        session,
        OrganizationIn(kind=OrganizationKind.MINISTRY, name_ja="デジタル庁",
                       name_kana="デジタルチョウ", name_en="Digital Agency",
                       corporate_number="6000012010023"),
        actor="test",
    ).id  # fmt: skip
    registry.assert_fact(
        session, "koukin_kouza", person_id, {**account, "registered_on": "2022-04-01"},
        keeper_id=digital, actor="test", valid_from=date(2022, 4, 1),
    )  # fmt: skip


@pytest.fixture
def movers(world: World) -> Movers:
    """中村 family of 千代田区: parents and a child of five, all in 国保, with a car and the
    child allowance paid to the father into his registered account."""
    vault = MyNumberVault.from_settings(world.settings)
    child_born = tokyo_today() - timedelta(days=5 * 365)
    with transaction(world.factory) as session:
        household = parties.create_household(
            session,
            HouseholdIn(
                address=AddressIn(municipality_code="131016", town="永田町", block="1丁目1番1号")
            ),
            actor="test",
        ).id
        people = {
            "head": ("健太", date(1984, 6, 1), Relationship.HEAD, "世帯主"),
            "spouse": ("美咲", date(1986, 2, 3), Relationship.SPOUSE, "妻"),
            "child": ("蓮", child_born, Relationship.CHILD, "子"),
        }
        ids = {}
        for key, (given, born, relation, zokugara) in people.items():
            ids[key] = _member(session, vault, household, given, born, relation)
            record = juki(
                "h-nakamura", resident_code=_code(ids[key]),
                name={"family": "中村", "given": given}, birth_date=born.isoformat(),
            )  # fmt: skip
            record["household"].update(head_name="中村 健太", relationship=zokugara)
            registry.assert_fact(
                session, "juki", ids[key], record, keeper_id=world.chiyoda, actor="test",
                valid_from=SINCE,
            )  # fmt: skip
            registry.assert_fact(
                session, "kokuho", ids[key],
                {"insurer_number": "131016", "symbol": "千代", "number": "1234",
                 "head_of_household": "中村 健太", "acquired_on": SINCE.isoformat(),
                 "status": "資格取得"},
                keeper_id=world.chiyoda, actor="test", valid_from=SINCE,
            )  # fmt: skip
        registry.assert_fact(
            session, "jidou_teate", ids["head"],
            {"recipient_number": "1310169999", "certified_on": SINCE.isoformat(),
             "children": [{"name": "中村 蓮", "person_id": ids["child"],
                           "birth_date": child_born.isoformat(), "cohabiting": True}],
             "monthly_amount": 10000, "status": "支給中"},
            keeper_id=world.chiyoda, actor="test", valid_from=SINCE,
        )  # fmt: skip
        transport = parties.create_organization(
            session,
            OrganizationIn(kind=OrganizationKind.MINISTRY, name_ja="国土交通省",
                           name_kana="コクドコウツウショウ", name_en="MLIT",
                           corporate_number="2000012100001"),
            actor="test",
        ).id  # fmt: skip
        exchange.designate(session, transport, "transport_bureau", actor="test")
        world.store.ensure(session, transport, actor="test")
        benefit_account(
            session, ids["head"],
            {"bank_code": "0001", "branch_code": "123", "type": "普通", "number": "7654321",
             "holder_kana": "ナカムラ ケンタ"},
        )  # fmt: skip
        owner = {
            "name": "中村 健太",
            "address": "東京都千代田区永田町1-1",
            "person_id": ids["head"],
        }
        registry.assert_fact(
            session, "jidosha", CAR,
            {"registration_number": "品川 300 さ 12-34", "chassis_number": "ABC12-1234567",
             "make": "トヨタ", "first_registered": "2020-04", "owner": owner,
             "user": {"name": owner["name"], "address": owner["address"]}, "status": "登録"},
            keeper_id=transport, actor="test", valid_from=date(2020, 4, 1),
        )  # fmt: skip
        world.signers[ids["head"]] = _signer(session, world.settings, ids["head"])
    return Movers(ids["head"], ids["spouse"], ids["child"], transport)


def values(**overrides: Any) -> dict[str, Any]:
    values = {
        "move_date": (tokyo_today() - timedelta(days=1)).isoformat(),
        "new_address.municipality_code": "271004",
        "new_address.town": "梅田",
        "new_address.block": "1丁目1番1号",
    }
    values.update(overrides)
    return values
