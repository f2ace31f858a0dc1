"""Records that belong together (a household's 住民票) are found through the group column.

住民基本台帳 names ``household.household_id`` as its group field: writes keep it in the
indexed ``group_key`` column, ``kept_with`` uses the column, and the migration fills it
for rows written before it.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from tests.registry.conftest import resident
from tsunagu.core import migrate
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.identity import service as identity
from tsunagu.migrations.versions.registry_0002_group_key import FILL
from tsunagu.packs import PackError
from tsunagu.registry import service
from tsunagu.registry.definitions import parse_definition
from tsunagu.registry.models import RECORDS

PACK = Path(service.__file__).resolve().parent.parent / "packs" / "jp" / "registries"
HOUSE = str(uuid.UUID(int=1))
OTHER_HOUSE = str(uuid.UUID(int=2))


def _person(i: int) -> str:
    return str(uuid.UUID(int=100 + i))


def _members(session: Session, keeper: str, household: str) -> list[str]:
    return [
        v.subject_id
        for v in service.kept_with(session, keeper, "juki", "household.household_id", household)
    ]


def _household(household_id: str, relationship: str) -> dict[str, str]:
    return {"household_id": household_id, "head_name": "山田 花子", "relationship": relationship}


def test_a_household_is_found_by_its_group_column_and_follows_changes(
    session: Session, chiyoda: str
) -> None:
    for i, (house, relationship) in enumerate(
        [(HOUSE, "世帯主"), (HOUSE, "子"), (OTHER_HOUSE, "世帯主")]
    ):
        service.assert_fact(
            session, "juki", _person(i), resident(household=_household(house, relationship)),
            keeper_id=chiyoda, actor="keeper", valid_from=date(2010, 4, 1),
        )  # fmt: skip
    assert _members(session, chiyoda, HOUSE) == [_person(0), _person(1)]
    keys = session.execute(
        select(RECORDS.c.subject_id, RECORDS.c.group_key).order_by(RECORDS.c.subject_id)
    ).all()
    assert [tuple(k) for k in keys] == [
        (_person(0), HOUSE), (_person(1), HOUSE), (_person(2), OTHER_HOUSE)
    ]  # fmt: skip

    # the child joins the other household (世帯変更): the new version carries the new key
    service.change(
        session, "juki", _person(1), {"household": _household(OTHER_HOUSE, "同居人")},
        actor="keeper", valid_from=date(2024, 4, 1),
    )  # fmt: skip
    assert _members(session, chiyoda, HOUSE) == [_person(0)]
    assert _members(session, chiyoda, OTHER_HOUSE) == [_person(1), _person(2)]
    # as of a day before the change the register still said otherwise
    before = service.kept_with(
        session, chiyoda, "juki", "household.household_id", HOUSE, valid_on=date(2020, 1, 1)
    )
    assert [v.subject_id for v in before] == [_person(0), _person(1)]
    # found through the column, not the JSON text
    session.execute(
        update(RECORDS).where(RECORDS.c.subject_id == _person(0)).values(group_key="elsewhere")
    )
    assert _members(session, chiyoda, HOUSE) == []


def test_the_migration_fills_the_group_of_existing_rows(session: Session, chiyoda: str) -> None:
    """The fill statement of registry_0002, on this database's dialect."""
    service.assert_fact(
        session, "juki", _person(0), resident(), keeper_id=chiyoda, actor="keeper",
        valid_from=date(2010, 4, 1),
    )  # fmt: skip
    session.execute(update(RECORDS).values(group_key=None))
    session.execute(text(FILL[session.get_bind().dialect.name]))
    assert session.execute(select(RECORDS.c.group_key)).scalar_one() == HOUSE


def test_upgrading_an_existing_register_fills_the_group(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/registry.db"
    migrate.upgrade(url)
    migrate.downgrade(url, "registry_0001")
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        keeper = identity.ensure_local_government(session, "131016", actor="test").id
        session.execute(
            text(
                "INSERT INTO registry_records (registry_id, subject_id, record_key, keeper_id,"
                " valid_from, recorded_at, data, recorded_by, reason) VALUES ('juki', :subject,"
                " '', :keeper, '2010-04-01', '2026-01-01 00:00:00', :data, 'keeper', 'initial')"
            ),
            {"subject": _person(0), "keeper": keeper, "data": json.dumps(resident())},
        )
    migrate.upgrade(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT group_key FROM registry_records")).scalar() == HOUSE
    engine.dispose()


def test_a_group_field_must_be_a_field_of_the_schema() -> None:
    raw = yaml.safe_load((PACK / "juki.yaml").read_text(encoding="utf-8"))
    assert parse_definition(raw, "juki.yaml").group_field == "household.household_id"
    with pytest.raises(PackError, match=r"group 'household\.number'"):
        parse_definition({**raw, "group": "household.number"}, "juki.yaml")
