"""One-stop moving: one form and one signature become every agency's application; a refused
part does not stop the others; the registers change; nobody else's household can be filed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from tests.lifeevent.movers import CAR, SINCE, Movers, values
from tests.procedure.conftest import World
from tsunagu.core.db import transaction
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import onestop
from tsunagu.lifeevent.onestop import AnswersInvalid
from tsunagu.registry import service as registry
from tsunagu.trust import service as trust


def _prepare(world: World, actor: Actor, **overrides: Any) -> tuple[str, dict[str, Any]]:
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, actor, "moving", choices={"scope": "other_city"}, values=values(**overrides)
        )
        assert filing.document is not None
        return filing.id, json.loads(filing.document)


def test_moving_a_family_files_every_part_with_one_signature(world: World, movers: Movers) -> None:
    head = world.person(movers.head)
    filing_id, document = _prepare(world, head)
    procedures = [a["procedure_id"] for a in document["applications"]]
    assert procedures == [
        *["tenshutsu"] * 3, *["tennyu"] * 3, *["kokuho"] * 3, "jidou_teate", "jidosha_henko",
    ]  # fmt: skip
    jidou = document["applications"][9]["form"]
    assert jidou["account"] == {"bank_code": "0001", "branch_code": "123", "type": "普通",
                                "number": "7654321"}  # fmt: skip
    assert jidou["child"]["given_name"] == "蓮"
    with transaction(world.factory) as session:
        onestop.submit(
            session, head, filing_id, world.sign(movers.head, document), store=world.store
        )
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, head, filing_id)
        assert tracker.filing.fields_typed == 4 and tracker.filing.choices == 1
        assert tracker.filing.fields_prefilled == 24
        assert all(p.outcome == "submitted" for p in tracker.parts), tracker.parts
        statuses = {p.procedure_id: p.status for p in tracker.parts}
        # the rules decide all but the allowance, which a reviewer of 大阪市 examines
        assert [p for p in tracker.pending] == [tracker.parts[9]]
        assert statuses["jidou_teate"] == "submitted"
        assert not tracker.all_completed
        moved = [registry.as_of(session, "juki", p)[0] for p in (movers.head, movers.spouse,
                                                                 movers.child)]  # fmt: skip
        assert {v.keeper_id for v in moved} == {world.osaka}
        assert len({v.data["household"]["household_id"] for v in moved}) == 1
        assert moved[2].data["household"]["relationship"] == "子"
        [car] = registry.as_of(session, "jidosha", CAR)
        assert car.data["owner"]["address"].startswith("大阪府大阪市")


def test_a_certified_member_keeps_the_care_certification_after_moving(
    world: World, movers: Movers
) -> None:
    """介護保険法 第36条: the new municipality fetches the former one's certification."""
    certification = {
        "insurer_number": "131016", "insured_number": "0000012345",
        "insured_category": "第1号被保険者", "care_level": "要介護2",
        "certified_on": "2025-04-01", "period": {"from": "2025-04-01", "to": "2027-03-31"},
        "status": "資格取得",
    }  # fmt: skip
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "kaigo", movers.spouse, certification, keeper_id=world.chiyoda,
            actor="test", valid_from=SINCE,
        )  # fmt: skip
    head = world.person(movers.head)
    filing_id, document = _prepare(world, head)
    parts = [(a["procedure_id"], a["subject"]["id"]) for a in document["applications"]]
    assert [p for p in parts if p[0] == "kaigo_tennyu"] == [("kaigo_tennyu", movers.spouse)]
    with transaction(world.factory) as session:
        onestop.submit(
            session, head, filing_id, world.sign(movers.head, document), store=world.store
        )
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, head, filing_id)
        [care] = [p for p in tracker.parts if p.procedure_id == "kaigo_tennyu"]
        assert care.status == "approved"
        [now] = registry.as_of(session, "kaigo", movers.spouse)
        assert now.keeper_id == world.osaka
        assert now.data["care_level"] == "要介護2" and now.data["period"] == certification["period"]
        assert now.data["insurer_number"] == "271004" and now.data["status"] == "資格取得"
        moved_on = date.fromisoformat(document["applications"][0]["form"]["moving_out_on"])
        [before] = registry.as_of(
            session, "kaigo", movers.spouse, valid_on=moved_on - timedelta(days=1)
        )
        assert before.keeper_id == world.chiyoda and before.data["insurer_number"] == "131016"


def test_a_refused_part_leaves_the_others_going(world: World, movers: Movers) -> None:
    """The transport bureau's seal was revoked: its part cannot fetch evidence, the rest goes on."""
    head = world.person(movers.head)
    with transaction(world.factory) as session:
        serial = world.store.ensure(session, movers.transport, actor="test")
        trust.revoke(session, serial, trust.Reason.KEY_COMPROMISE, actor="test")
    filing_id, document = _prepare(world, head)
    with transaction(world.factory) as session:
        onestop.submit(
            session, head, filing_id, world.sign(movers.head, document), store=world.store
        )
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, head, filing_id)
    car = next(p for p in tracker.parts if p.procedure_id == "jidosha_henko")
    others = [p for p in tracker.parts if p.procedure_id != "jidosha_henko"]
    assert (car.outcome, car.status) == ("refused", "draft")
    assert car.error_ja and car.error_en
    assert all(p.outcome == "submitted" for p in others)
    assert car in tracker.pending and not tracker.all_completed


def test_errors_name_every_field_and_keep_nothing(world: World, movers: Movers) -> None:
    head = world.person(movers.head)
    with pytest.raises(AnswersInvalid) as raised, transaction(world.factory) as session:
        onestop.prepare(
            session, head, "moving", choices={"scope": "other_city"},
            values=values(**{"move_date": "yesterday", "new_address.town": ""}),
        )  # fmt: skip
    assert {e.path for e in raised.value.errors} >= {"move_date", "new_address.town"}
    with pytest.raises(AnswersInvalid), transaction(world.factory) as session:
        onestop.prepare(session, head, "moving", choices={"scope": "abroad"}, values=values())
    with transaction(world.factory) as session:
        assert onestop.filings(session, head) == []


def test_a_wrong_signature_refuses_the_whole_filing(world: World, movers: Movers) -> None:
    head = world.person(movers.head)
    filing_id, document = _prepare(world, head)
    forged = world.sign(world.taro, document)
    with pytest.raises(PermissionDenied), transaction(world.factory) as session:
        onestop.submit(session, head, filing_id, forged, store=world.store)
    altered = {**document, "notify": ["someone"]}
    with pytest.raises(Exception), transaction(world.factory) as session:  # noqa: B017
        onestop.submit(
            session, head, filing_id, world.sign(movers.head, altered), store=world.store
        )
    with transaction(world.factory) as session:
        assert {p.outcome for p in onestop.tracker(session, head, filing_id).parts} == {"drafted"}


def test_nobody_else_can_see_or_submit_a_filing(world: World, movers: Movers) -> None:
    filing_id, document = _prepare(world, world.person(movers.head))
    for other in (world.person(movers.spouse), world.person(world.stranger)):
        with pytest.raises(NotFoundError), transaction(world.factory) as session:
            onestop.tracker(session, other, filing_id)
        with pytest.raises(NotFoundError), transaction(world.factory) as session:
            onestop.submit(
                session, other, filing_id, world.sign(movers.head, document), store=world.store
            )
    with pytest.raises(PermissionDenied), transaction(world.factory) as session:
        onestop.prepare(
            session, world.official(world.osaka_reviewer), "moving",
            choices={"scope": "other_city"}, values=values(),
        )  # fmt: skip


def test_only_members_of_the_household_can_be_chosen(world: World, movers: Movers) -> None:
    with pytest.raises(ValidationError) as raised, transaction(world.factory) as session:
        onestop.prepare(
            session, world.person(movers.head), "moving", choices={"scope": "other_city"},
            values=values(), member_ids=[world.stranger],
        )  # fmt: skip
    assert raised.value.code == "not_in_household"
