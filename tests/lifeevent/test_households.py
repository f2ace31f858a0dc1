"""Identity's households follow the resident register: after an approved 死亡届 of the head the
household has the new head and no longer lists the deceased; after a 転出 the person leaves it.
The change travels through the outbox (``registry.changed``), so it shows once the worker ran."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.lifeevent.movers import Movers
from tests.lifeevent.test_death_bundle import _file_and_approve
from tests.procedure.conftest import Login, World, _signer
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.schemas import HouseholdRecord, PersonRecord, Relationship
from tsunagu.lifeevent import households  # noqa: F401  (registers the handler, as the worker does)
from tsunagu.trust import protocol


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
    created = head.post(
        "/api/procedures/tenshutsu/applications",
        json={"form": form, "on_behalf_of": {"kind": "person", "id": movers.spouse}},
    ).json()
    cms = protocol.b64(world.sign(movers.head, created["document"]))
    submitted = head.post(f"/api/applications/{created['id']}/submit", json={"cms": cms}).json()
    assert submitted["status"] == "approved"  # the rules decide a 転出届 in time

    world.drain()

    household, people = _identity(world, movers.head)
    assert household.head_id == movers.head
    assert set(household.member_ids) == {movers.head, movers.child}
    assert people[movers.spouse].household_id is None
    assert people[movers.child].relationship is Relationship.CHILD
