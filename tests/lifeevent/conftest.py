"""Life-event tests stand on the procedure tests' world (municipalities, residents, logins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from tests.lifeevent.bereaved import bereaved  # noqa: F401
from tests.lifeevent.movers import movers  # noqa: F401
from tests.procedure.conftest import World, _code, _person, juki, login, settings, world  # noqa: F401
from tsunagu.core.db import transaction
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.registry import service as registry

SINCE = date(2010, 4, 1)
# The family's facts are fixed in time; proactive scans run on chosen days around them.
KEN_BORN = date(2023, 7, 20)  # turns 3 on 2026-07-20
MEI_BORN = date(2026, 5, 30)
CARE_ENDS = date(2026, 7, 31)


@dataclass
class Family:
    """高橋 household of 千代田区: parents, a grandmother under long-term care, two children.

    The father receives the child allowance for 健 and for a child living apart (a boarding
    school); 芽衣 was just born and nobody has claimed for her yet.
    """

    ichiro: str  # 世帯主
    yoko: str  # 妻
    tome: str  # 母, 要介護1 until CARE_ENDS
    ken: str  # 子
    mei: str  # 子, newborn


@pytest.fixture
def family(world: World) -> Family:  # noqa: F811
    vault = MyNumberVault.from_settings(world.settings)
    household = "h-takahashi"
    with transaction(world.factory) as session:
        ids = {
            key: _person(session, vault, "高橋", given)
            for key, given in (
                ("ichiro", "一郎"),
                ("yoko", "洋子"),
                ("tome", "とめ"),
                ("ken", "健"),
            )
        }
        ids["mei"] = _person(session, vault, "高橋", "芽衣")
        facts = {
            "ichiro": ("世帯主", "1985-04-02", SINCE),
            "yoko": ("妻", "1987-09-09", SINCE),
            "tome": ("母", "1940-01-15", SINCE),
            "ken": ("子", KEN_BORN.isoformat(), KEN_BORN),
            "mei": ("子", MEI_BORN.isoformat(), MEI_BORN),
        }
        for key, (relationship, born, since) in facts.items():
            given = {"ichiro": "一郎", "yoko": "洋子", "tome": "とめ", "ken": "健", "mei": "芽衣"}
            record = juki(
                household,
                resident_code=_code(ids[key]),
                name={"family": "高橋", "given": given[key]},
                birth_date=born,
            )
            record["household"].update(head_name="高橋 一郎", relationship=relationship)
            registry.assert_fact(
                session, "juki", ids[key], record, keeper_id=world.chiyoda, actor="test",
                valid_from=since,
            )  # fmt: skip
        registry.assert_fact(
            session, "jidou_teate", ids["ichiro"],
            {
                "recipient_number": "1310160001",
                "certified_on": "2023-08-01",
                "children": [
                    {"name": "高橋 健", "person_id": ids["ken"], "birth_date": KEN_BORN.isoformat(),
                     "cohabiting": True},
                    {"name": "高橋 翼", "birth_date": "2010-05-05", "cohabiting": False},
                ],
                "monthly_amount": 25000,
                "status": "支給中",
            },
            keeper_id=world.chiyoda, actor="test", valid_from=date(2023, 8, 1),
        )  # fmt: skip
        registry.assert_fact(
            session, "kaigo", ids["tome"],
            {
                "insurer_number": "131016",
                "insured_number": "0000012345",
                "care_level": "要介護1",
                "certified_on": "2025-07-20",
                "period": {"from": "2025-08-01", "to": CARE_ENDS.isoformat()},
            },
            keeper_id=world.chiyoda, actor="test", valid_from=date(2025, 8, 1),
        )  # fmt: skip
    return Family(**ids)
