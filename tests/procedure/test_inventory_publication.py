"""Open data by design (No.2-3): the procedure inventory is published to the catalog."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.opendata.config import storage_for
from tsunagu.procedure.definitions import procedures
from tsunagu.procedure.inventory import INVENTORY_DATASET, publish_inventory


def test_inventory_is_published_and_refreshed_as_one_dataset(
    client: TestClient, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(2):  # a scheduled re-run refreshes, never duplicates
        with transaction(session_factory) as session:
            publish_inventory(session, "http://testserver", storage_for(settings))
    found = client.get("/api/3/action/package_search", params={"q": "棚卸"}).json()["result"]
    assert [p["name"] for p in found["results"]] == [INVENTORY_DATASET.name]
    package = found["results"][0]
    assert len(package["resources"]) == 1 and package["resources"][0]["datastore_active"]
    resource = package["resources"][0]
    download = client.get(resource["url"].replace("http://testserver", ""))
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {row["procedure_id"] for row in rows} == set(procedures())
    assert all(row["online"] for row in rows)
    records = client.get(
        "/api/3/action/datastore_search", params={"resource_id": resource["id"], "limit": 100}
    ).json()["result"]
    assert records["total"] == len(procedures())
