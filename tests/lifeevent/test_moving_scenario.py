"""``tsunagu demo scenario moving``: a family of three with a car moves through the HTTP API of
a server started in process; four companies' receiver gets exactly one signed notice each."""

from __future__ import annotations

import json

import pytest

from tests.lifeevent.movers import CAR, Movers
from tests.procedure.conftest import World
from tsunagu.core import ids
from tsunagu.core.db import transaction
from tsunagu.identity import service as parties
from tsunagu.identity.models import Person
from tsunagu.identity.schemas import OrganizationIn, OrganizationKind
from tsunagu.lifeevent import scenario
from tsunagu.registry import service as registry
from tsunagu.web.app import create_app

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_family(world: World, movers: Movers) -> Movers:
    """The movers as demo residents, four companies, and the operator's seal."""
    with transaction(world.factory) as session:
        for person_id in (movers.head, movers.spouse, movers.child):
            person = session.get(Person, person_id)
            assert person is not None
            person.demo = True
        for serial in range(4):
            number = ids.complete(ids.IdKind.CORPORATE, f"{100100100100 + serial:012d}")
            parties.create_organization(
                session,
                OrganizationIn(kind=OrganizationKind.CORPORATION, name_ja=f"会社{serial}",
                               name_kana="カイシャ" + "アイウエ"[serial], corporate_number=number),
                actor="test",
            )  # fmt: skip
        world.settings.platform_corporate_number = ids.complete(
            ids.IdKind.CORPORATE, "000012010023"
        )
    return movers


def test_moving_scenario_through_the_http_api(world: World, demo_family: Movers) -> None:
    result = scenario.run(
        world.settings, world.factory, make_app=create_app, lgcodes=["131016", "271004"]
    )
    assert json.loads(json.dumps(result)) == result  # one JSON object
    assert result["all_completed"], result["applications"]
    assert {a["status"] for a in result["applications"]} == {"approved"}
    assert len(result["applications"]) == 11
    assert result["attachments_requested"] == 0
    assert result["fields_typed"] == 4 and result["choices"] == 1
    assert result["fields_prefilled"] > result["fields_typed"]
    assert result["private_notices_delivered"] == 4
    assert len(set(result["private_notice_recipients"])) == 4
    assert result["elapsed_ms"] > 0
    with transaction(world.factory) as session:
        [car] = registry.as_of(session, "jidosha", CAR)
        [allowance] = registry.as_of(session, "jidou_teate", demo_family.head)
    assert car.data["owner"]["address"].startswith("大阪府大阪市")
    assert allowance.keeper_id == world.osaka and allowance.data["monthly_amount"] == 10000
