"""行政手続の棚卸: the public JSON and CSV inventory and how its live figures move."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient

from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.procedure import service
from tsunagu.procedure.definitions import procedures
from tsunagu.procedure.inventory import COLUMNS

from .conftest import World, tennyu_form


def _tennyu(client: TestClient) -> dict:
    [row] = [
        r for r in client.get("/api/procedures/inventory").json() if r["procedure_id"] == "tennyu"
    ]
    return row


def _file(world: World, form: dict) -> str:
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "tennyu", form)
        signature = world.sign(world.hanako, service.document(draft))
        return service.submit(session, actor, draft.id, signature, store=world.store).application.id


def test_inventory_lists_every_procedure_publicly(world: World, client: TestClient) -> None:
    rows = client.get("/api/procedures/inventory").json()
    assert len(rows) == len(procedures())
    shibou = next(r for r in rows if r["procedure_id"] == "shibou")
    assert shibou["name_ja"] == "死亡届" and shibou["online"]
    assert shibou["legal_basis_ja"].startswith("戸籍法")
    tennyu = _tennyu(client)
    assert tennyu["attachments_eliminated"] == 1 and tennyu["owner_kind"] == "municipality"
    assert (tennyu["applications"], tennyu["online_share"], tennyu["median_days"]) == (
        0,
        None,
        None,
    )


def test_figures_follow_the_applications(world: World, client: TestClient) -> None:
    _file(world, tennyu_form())  # decided by the rules
    late = tennyu_form()
    late["moved_in_on"] = (tokyo_today() - timedelta(days=30)).isoformat()
    manual = _file(world, late)
    with transaction(world.factory) as session:  # a draft does not count
        service.create(session, world.person(world.hanako), "tennyu", tennyu_form())
    pending = _tennyu(client)
    assert (pending["applications"], pending["decided"], pending["automatic_share"]) == (2, 1, 1.0)
    reviewer = world.official(world.osaka_reviewer)
    with transaction(world.factory) as session:
        service.assign(session, reviewer, manual)
        service.decide(session, reviewer, manual, False, "期間外です。")
    row = _tennyu(client)
    assert (row["applications"], row["decided"]) == (2, 2)
    assert row["online_share"] == 1.0 and row["automatic_share"] == 0.5
    assert row["median_days"] == 0.0 and row["within_standard_share"] == 1.0
    response = client.get("/api/procedures/inventory.csv")
    assert response.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(parsed[0]) == COLUMNS and len(parsed) == len(procedures())
    tennyu = next(r for r in parsed if r["procedure_id"] == "tennyu")
    assert (tennyu["name_ja"], tennyu["automatic_share"], tennyu["applications"]) == (
        "転入届",
        "0.5",
        "2",
    )
    assert next(r for r in parsed if r["procedure_id"] == "kokuho")["median_days"] == ""
