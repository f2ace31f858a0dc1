"""A household whose head dies: 山田 of 千代田区 (the head under long-term care and in 国保 with
his wife, their son and a grandson of ten); the son files the death."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from tests.lifeevent.movers import _member
from tests.procedure.conftest import World, _code, _signer, juki
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import AddressIn, HouseholdIn, Relationship
from tsunagu.registry import service as registry

SINCE = date(2000, 4, 1)
DIED = tokyo_today() - timedelta(days=2)


@dataclass
class Bereaved:
    """山田 household of 千代田区: the head (要介護2) and his wife in 国保, their son and a
    grandson of ten; the son files."""

    head: str
    wife: str
    son: str
    grandson: str


@pytest.fixture
def bereaved(world: World) -> Bereaved:
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        household = parties.create_household(
            session,
            HouseholdIn(
                address=AddressIn(municipality_code="131016", town="永田町", block="1丁目1番1号")
            ),
            actor="test",
        ).id
        people = {
            "head": ("正", date(1948, 5, 1), Relationship.HEAD, "世帯主", False),
            "wife": ("和子", date(1950, 8, 8), Relationship.SPOUSE, "妻", True),
            "son": ("健一", date(1978, 3, 3), Relationship.CHILD, "子", False),
            "grandson": ("翔", tokyo_today() - timedelta(days=10 * 365), Relationship.GRANDCHILD,
                         "孫", False),
        }  # fmt: skip
        ids = {}
        for key, (given, born, relation, zokugara, female) in people.items():
            ids[key] = _member(
                session, vault, household, given, born, relation, family=("山田", "ヤマダ"),
                female=female,
            )  # fmt: skip
            record = juki(
                "h-yamada", resident_code=_code(ids[key]), name={"family": "山田", "given": given},
                birth_date=born.isoformat(), sex="女" if female else "男",
            )  # fmt: skip
            record["household"].update(head_name="山田 正", relationship=zokugara)
            registry.assert_fact(
                session, "juki", ids[key], record, keeper_id=world.chiyoda, actor="test",
                valid_from=SINCE,
            )  # fmt: skip
        for key, number in (("head", "5678"), ("wife", "5679")):  # the son is employed
            registry.assert_fact(
                session, "kokuho", ids[key],
                {"insurer_number": "131016", "symbol": "千代", "number": number,
                 "head_of_household": "山田 正", "acquired_on": "2013-05-01", "status": "資格取得"},
                keeper_id=world.chiyoda, actor="test", valid_from=date(2013, 5, 1),
            )  # fmt: skip
        registry.assert_fact(
            session, "kaigo", ids["head"],
            {"insurer_number": "131016", "insured_number": "0000054321",
             "insured_category": "第1号被保険者", "care_level": "要介護2",
             "certified_on": "2025-03-20",
             "period": {"from": "2025-04-01", "to": (DIED + timedelta(days=200)).isoformat()}},
            keeper_id=world.chiyoda, actor="test", valid_from=date(2025, 4, 1),
        )  # fmt: skip
        world.signers[ids["son"]] = _signer(session, world.settings, ids["son"])
    return Bereaved(**ids)
