"""New parents: 小林 美咲 of 千代田区 (世帯主, in 国保, with an account registered for public
benefits and employed by つなぐ商事, whose employment record 就労証明 can be fetched) and her
husband; no child yet and no child allowance — or, with ``first_child``, a son 蓮 for whom
美咲 already receives the child allowance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from tests.lifeevent.movers import benefit_account
from tests.procedure.conftest import World, _code, _person, _signer, juki
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.registry import service as registry

SINCE = date(2018, 4, 1)
HOUSEHOLD = "h-kobayashi"
EMPLOYER_NUMBER = "1180301018771"


@dataclass
class Parents:
    mother: str
    father: str
    employer: str


@pytest.fixture(name="parents")
def parents_fixture(world: World) -> Parents:
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        ids = {key: _person(session, vault, "小林", given) for key, given in
               (("mother", "美咲"), ("father", "大輔"))}  # fmt: skip
        for key, given, relationship in (("mother", "美咲", "世帯主"), ("father", "大輔", "夫")):
            record = juki(HOUSEHOLD, resident_code=_code(ids[key]),
                          name={"family": "小林", "given": given})  # fmt: skip
            record["household"].update(head_name="小林 美咲", relationship=relationship)
            registry.assert_fact(
                session, "juki", ids[key], record, keeper_id=world.chiyoda, actor="test",
                valid_from=SINCE,
            )  # fmt: skip
        registry.assert_fact(
            session, "kokuho", ids["mother"],
            {"insurer_number": "131016", "symbol": "千代", "number": "5678",
             "head_of_household": "小林 美咲", "acquired_on": SINCE.isoformat(),
             "status": "資格取得"},
            keeper_id=world.chiyoda, actor="test", valid_from=SINCE,
        )  # fmt: skip
        benefit_account(
            session, ids["mother"],
            {"bank_code": "0005", "branch_code": "001", "type": "普通", "number": "1234567",
             "holder_kana": "コバヤシ ミサキ"},
        )  # fmt: skip
        employer = parties.create_organization(
            session,
            OrganizationIn(kind=OrganizationKind.CORPORATION, name_ja="つなぐ商事株式会社",
                           name_kana="ツナグショウジ", name_en="Tsunagu Trading",
                           corporate_number=EMPLOYER_NUMBER),
            actor="test",
        ).id  # fmt: skip
        world.store.ensure(session, employer, actor="test")
        registry.assert_fact(
            session, "shuro", ids["mother"],
            {"employer": {"name": "つなぐ商事株式会社", "corporate_number": EMPLOYER_NUMBER},
             "employee_name": "小林 美咲", "employment_type": "正社員",
             "employed_since": SINCE.isoformat(),
             "working_time": {"days_per_week": 5, "hours_per_week": 40},
             "leave": {"kind": "産前・産後休業", "from": "2026-01-01"}, "status": "休業中"},
            keeper_id=employer, actor="test", valid_from=SINCE,
        )  # fmt: skip
        world.signers[ids["mother"]] = _signer(session, world.settings, ids["mother"])
    return Parents(ids["mother"], ids["father"], employer)


FIRST_BORN = date(2023, 5, 10)
FIRST_AMOUNT = 15_000


@pytest.fixture(name="first_child")
def first_child_fixture(world: World, parents: Parents) -> str:
    """蓮, in the household, and the allowance 美咲 receives for him (the register's record)."""
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        son = _person(session, vault, "小林", "蓮")
        record = juki(HOUSEHOLD, resident_code=_code(son), name={"family": "小林", "given": "蓮"},
                      birth_date=FIRST_BORN.isoformat(), sex="男")  # fmt: skip
        record["household"].update(head_name="小林 美咲", relationship="子")
        registry.assert_fact(
            session, "juki", son, record, keeper_id=world.chiyoda, actor="test",
            valid_from=FIRST_BORN,
        )  # fmt: skip
        registry.assert_fact(
            session, "jidou_teate", parents.mother,
            {"recipient_number": "1310160002", "certified_on": "2023-05-20",
             "children": [{"name": "小林 蓮", "person_id": son,
                           "birth_date": FIRST_BORN.isoformat(), "cohabiting": True}],
             "monthly_amount": FIRST_AMOUNT, "status": "支給中"},
            keeper_id=world.chiyoda, actor="test", valid_from=date(2023, 5, 20),
        )  # fmt: skip
    return son
