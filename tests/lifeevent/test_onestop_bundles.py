"""The other bundles: a death notified once (registers change, nothing more to file, a dated
checklist of what remains) and care certification by the person, a household member or a
care manager under a power of attorney."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from tests.lifeevent.movers import Movers
from tests.procedure.conftest import World
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.core.errors import PermissionDenied, ValidationError
from tsunagu.lifeevent import onestop
from tsunagu.procedure import service as procedures
from tsunagu.registry import service as registry

DOCTOR = {"certificate.doctor": "佐藤 医師", "certificate.institution": "千代田病院"}


def _death(world: World, movers: Movers) -> str:
    head = world.person(movers.head)
    died = (tokyo_today() - timedelta(days=2)).isoformat()
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, head, "death", choices={"informant": "同居の親族"},
            values={"death_date": died, "death_place": "東京都千代田区", **DOCTOR},
            member_ids=[movers.spouse],
        )  # fmt: skip
        assert filing.document is not None
        filing_id, signed = filing.id, filing.document
    with transaction(world.factory) as session:
        onestop.submit(
            session, head, filing_id, world.signers[movers.head](signed.encode()), store=world.store
        )  # fmt: skip
    return filing_id


def test_a_death_is_notified_once_and_the_registers_follow(world: World, movers: Movers) -> None:
    filing_id = _death(world, movers)
    head = world.person(movers.head)
    with transaction(world.factory) as session:
        tracker = onestop.tracker(session, head, filing_id)
    [part] = tracker.parts
    assert (part.procedure_id, part.subject_id, part.status) == (
        "shibou", movers.spouse, "submitted"
    )  # fmt: skip
    reviewer = world.official(world.chiyoda_reviewer)
    with transaction(world.factory) as session:
        procedures.assign(session, reviewer, part.application_id)
        procedures.decide(
            session, reviewer, part.application_id, True, "死亡診断書を確認しました。"
        )
    with transaction(world.factory) as session:
        [record] = registry.as_of(session, "juki", movers.spouse)
        [insurance] = registry.as_of(session, "kokuho", movers.spouse)
        tracker = onestop.tracker(session, head, filing_id)
    assert record.data["status"] == "死亡"
    assert (insurance.data["status"], insurance.data["loss_reason"]) == ("資格喪失", "死亡")
    assert tracker.all_completed and tracker.unnecessary == 6
    died = tokyo_today() - timedelta(days=2)
    due = {item.id: day for item, day in tracker.deadlines}
    assert list(due) == ["renunciation", "final_return", "inheritance_tax"]
    assert due["renunciation"] > died + timedelta(days=88)
    assert due["inheritance_tax"].month == (died.month + 9) % 12 + 1


def test_a_death_needs_exactly_one_member_and_never_the_informant(
    world: World, movers: Movers
) -> None:
    head = world.person(movers.head)
    values = {"death_date": "2026-01-01", "death_place": "自宅", **DOCTOR}
    for members in ([], [movers.spouse, movers.child], [movers.head]):
        with pytest.raises(ValidationError), transaction(world.factory) as session:
            onestop.prepare(
                session, head, "death", choices={"informant": "同居の親族"}, values=values,
                member_ids=members,
            )  # fmt: skip


def _care(
    world: World,
    filer: str,
    members: list[str],
    *,
    kind: str = "新規",
    values: dict[str, str] | None = None,
    principal_id: str | None = None,
) -> list[dict[str, Any]]:
    typed = {"doctor.name": "田中 医師", "doctor.institution": "千代田クリニック", **(values or {})}
    with transaction(world.factory) as session:
        filing = onestop.prepare(
            session, world.person(filer), "care", choices={"kind": kind, "situation": "在宅"},
            values=typed, member_ids=members, principal_id=principal_id,
        )  # fmt: skip
        return list(json.loads(filing.document or "{}")["applications"])


def test_care_asks_the_insured_number_only_when_the_register_lacks_it(
    world: World, movers: Movers
) -> None:
    with pytest.raises(ValidationError), transaction(world.factory) as session:
        onestop.prepare(
            session, world.person(movers.head), "care",
            choices={"kind": "新規", "situation": "在宅"},
            values={"doctor.name": "田中", "doctor.institution": "クリニック"},
            member_ids=[movers.head],
        )  # fmt: skip
    [first] = _care(world, movers.head, [movers.head], values={"insured_number": "1234567890"})
    assert first["form"]["insured_number"] == "1234567890" and first["role"] == "self"
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "kaigo", movers.spouse,
            {"insurer_number": "131016", "insured_number": "0987654321", "care_level": "要介護1",
             "certified_on": "2025-01-10", "period": {"from": "2025-01-10", "to": "2026-12-31"}},
            keeper_id=world.chiyoda, actor="test", valid_from=date(2025, 1, 10),
        )  # fmt: skip
    [renewal] = _care(world, movers.head, [movers.spouse], kind="更新")
    assert renewal["form"]["insured_number"] == "0987654321"
    assert renewal["role"] == "household" and renewal["subject"]["id"] == movers.spouse


def test_a_care_manager_files_only_under_a_power_of_attorney(world: World, movers: Movers) -> None:
    manager = world.stranger  # another household: a care manager
    with pytest.raises(PermissionDenied), transaction(world.factory) as session:
        onestop.prepare(
            session, world.person(manager), "care", choices={"kind": "新規", "situation": "在宅"},
            values={"insured_number": "1234567890", "doctor.name": "田中",
                    "doctor.institution": "クリニック"},
            principal_id=movers.head, member_ids=[movers.head],
        )  # fmt: skip
    world.power_of_attorney(movers.head, manager, ["kaigo_nintei"])
    [part] = _care(
        world, manager, [movers.head], values={"insured_number": "1234567890"},
        principal_id=movers.head,
    )  # fmt: skip
    assert part["role"] == "proxy" and part["subject"]["id"] == movers.head
