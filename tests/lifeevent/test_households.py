"""Identity's households follow the resident register: after an approved 死亡届 of the head the
household has the new head and no longer lists the deceased; after a 転出 the person leaves it.
The change travels through the outbox (``registry.changed``), so it shows once the worker ran."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.lifeevent.movers import Movers
from tests.lifeevent.test_death_bundle import _file_and_approve
from tests.procedure.conftest import Login, World, _code, _signer, juki
from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import (
    AddressIn,
    HouseholdIn,
    HouseholdRecord,
    PersonIn,
    PersonRecord,
    Relationship,
    Sex,
)
from tsunagu.lifeevent import households  # registers the handler, as the worker does
from tsunagu.registry import service as registry


def _identity(world: World, member: str) -> tuple[HouseholdRecord, dict[str, PersonRecord]]:
    """The identity household ``member`` is in, and each of the family's person records."""
    with transaction(world.factory) as session:
        household_id = parties.get_person(session, member).household_id
        assert household_id is not None
        household = parties.get_household(session, household_id)
        people = {
            p.id: p for p in parties.list_persons(session, municipality_code="131016", limit=1000)
        }
    return household, people


def test_the_heads_death_makes_the_new_head_and_drops_the_deceased(
    world: World, movers: Movers
) -> None:
    with transaction(world.factory) as session:
        world.signers[movers.spouse] = _signer(session, world.settings, movers.spouse)
    form = _file_and_approve(world, movers.spouse, movers.head)
    assert form["household_change"]["head_name"] == "中村 美咲"
    household, _ = _identity(world, movers.spouse)
    assert household.head_id == movers.head  # the register changed; identity follows it ...

    world.drain()  # ... through the outbox, without breaking the one-head index on the switch

    household, people = _identity(world, movers.spouse)
    assert household.head_id == movers.spouse
    assert set(household.member_ids) == {movers.spouse, movers.child}
    assert people[movers.child].relationship is Relationship.CHILD
    deceased = people[movers.head]
    assert (deceased.household_id, deceased.relationship) == (None, None)
    world.drain()  # nothing left to do, and doing it again changes nothing
    assert _identity(world, movers.spouse)[0] == household


@pytest.mark.parametrize("days", [-1, 7], ids=["moved", "moving_next_week"])
def test_moving_out_takes_the_person_out_of_the_household(
    world: World, login: Login, movers: Movers, days: int
) -> None:
    form = {
        "moving_out_on": (tokyo_today() + timedelta(days=days)).isoformat(),
        "destination": "大阪府大阪市北区梅田1丁目1番1号",
    }
    head = login(person=movers.head)  # files for his wife, of the same household
    _created, submitted = world.file_for_member(head, movers.head, movers.spouse, "tenshutsu", form)
    assert submitted["status"] == "approved"  # the rules decide a 転出届 in time

    world.drain()

    household, people = _identity(world, movers.head)
    assert household.head_id == movers.head
    assert set(household.member_ids) == {movers.head, movers.child}
    assert people[movers.spouse].household_id is None
    assert people[movers.child].relationship is Relationship.CHILD


# --- joining: a move in, a birth, a household change --------------------------------------


def _newcomer(world: World, given: str, born: date, **register: str) -> str:
    """An identity person in no household, with a resident record of 千代田区 naming the
    register household and 続柄 given (``household_id``, ``relationship``) from today."""
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        person = parties.create_person(
            session,
            PersonIn(
                family_name="中村", given_name=given, family_name_kana="ナカムラ",
                given_name_kana="テスト", birth_date=born, sex=Sex.FEMALE,
                address=AddressIn(municipality_code="131016", town="大手町", block="1丁目1番1号"),
            ),
            actor="test", vault=vault,
        ).id  # fmt: skip
        _record(world, session, person, given, born, **register)
    return person


def _record(
    world: World, session: Session, person: str, given: str, born: date, *,
    household_id: str, relationship: str,
) -> None:  # fmt: skip
    record = juki(
        household_id, resident_code=_code(person), name={"family": "中村", "given": given},
        birth_date=born.isoformat(),
    )  # fmt: skip
    record["household"].update(head_name="中村 健太", relationship=relationship)
    registry.assert_fact(
        session, "juki", person, record, keeper_id=world.chiyoda, actor="test",
        valid_from=max(born, tokyo_today() - timedelta(days=1)),
    )  # fmt: skip


def _rearrangements(world: World, household_id: str) -> list[dict[str, Any]]:
    with transaction(world.factory) as session:
        return [
            json.loads(r.data)
            for r in audit.records_of(session, "household", household_id)
            if r.action == "identity.household.rearranged"
        ]


def test_a_person_moving_in_joins_the_household_the_register_names(
    world: World, movers: Movers
) -> None:
    before, _ = _identity(world, movers.head)
    mother = _newcomer(
        world, "節子", date(1958, 5, 5), household_id="h-nakamura", relationship="夫の母"
    )
    world.drain()

    household, people = _identity(world, movers.head)
    assert household.head_id == movers.head
    assert set(household.member_ids) == {*before.member_ids, mother}
    assert people[mother].relationship is Relationship.PARENT_IN_LAW
    assert people[mother].address == household.address  # she lives where the household does
    [joined] = _rearrangements(world, household.id)
    assert joined == {"joined": [mother], "left": [], "relationships": {mother: "parent_in_law"}}

    with transaction(world.factory) as session:  # the handler again: nothing left to do
        assert households.follow_register(session, mother, tokyo_today()) is None
    world.drain()
    assert _identity(world, movers.head)[0] == household
    assert len(_rearrangements(world, household.id)) == 1


def test_a_newborn_identity_person_joins_the_parents_household(
    world: World, movers: Movers
) -> None:
    born = tokyo_today() - timedelta(days=3)
    baby = _newcomer(world, "葵", born, household_id="h-nakamura", relationship="子")
    world.drain()

    household, people = _identity(world, movers.head)
    assert baby in household.member_ids and household.head_id == movers.head
    assert people[baby].relationship is Relationship.CHILD


def _head_of_own_household(
    world: World, name: tuple[str, str, str, str], born: date, block: str, register_household: str
) -> tuple[str, str]:
    """A man heading an identity household of his own, recorded as 世帯主 of
    ``register_household``; returns (identity household id, person id)."""
    family, given, family_kana, given_kana = name
    vault = MyNumberVault.from_settings(world.settings)
    with transaction(world.factory) as session:
        household = parties.create_household(
            session,
            HouseholdIn(address=AddressIn(municipality_code="131016", town="大手町", block=block)),
            actor="test",
        ).id
        person = parties.create_person(
            session,
            PersonIn(
                family_name=family, given_name=given, family_name_kana=family_kana,
                given_name_kana=given_kana, birth_date=born, sex=Sex.MALE,
                household_id=household, relationship=Relationship.HEAD,
            ),
            actor="test", vault=vault,
        ).id  # fmt: skip
        _record(world, session, person, given, born,
                household_id=register_household, relationship="世帯主")  # fmt: skip
    world.drain()
    return household, person


def test_a_household_change_moves_the_person_from_one_household_to_the_other(
    world: World, movers: Movers
) -> None:
    """世帯変更: the register puts 太郎 (head of his own identity household) into 中村's."""
    own, lodger = _head_of_own_household(
        world, ("鈴木", "太郎", "スズキ", "タロウ"), date(1990, 1, 1), "2番", "h-lodger"
    )
    assert _identity(world, lodger)[0].id == own  # his own register household: he stays
    with transaction(world.factory) as session:
        _record(world, session, lodger, "太郎", date(1990, 1, 1),
                household_id="h-nakamura", relationship="同居人")  # fmt: skip
    world.drain()

    household, people = _identity(world, movers.head)
    assert lodger in household.member_ids and household.head_id == movers.head
    assert people[lodger].relationship is Relationship.NON_RELATIVE
    with transaction(world.factory) as session:
        assert parties.get_household(session, own).member_ids == []
    assert _rearrangements(world, own)[-1]["left"] == [lodger]


def test_a_register_household_nobody_of_identity_is_in_places_nobody(
    world: World, movers: Movers
) -> None:
    before, _ = _identity(world, movers.head)
    loner = _newcomer(
        world, "一人", date(1970, 1, 1), household_id="h-elsewhere", relationship="世帯主"
    )
    world.drain()

    with transaction(world.factory) as session:
        assert parties.get_person(session, loner).household_id is None
    assert _identity(world, movers.head)[0] == before  # and 中村's household is untouched
    assert _rearrangements(world, before.id) == []


def test_a_move_into_one_household_leaves_another_alone(world: World, movers: Movers) -> None:
    other, _neighbour = _head_of_own_household(
        world, ("佐藤", "隣", "サトウ", "トナリ"), date(1975, 1, 1), "3番", "h-neighbour"
    )
    with transaction(world.factory) as session:
        neighbours = parties.get_household(session, other)

    _newcomer(world, "節子", date(1958, 5, 5), household_id="h-nakamura", relationship="夫の母")
    world.drain()

    with transaction(world.factory) as session:
        assert parties.get_household(session, other) == neighbours
    assert _rearrangements(world, other) == []
