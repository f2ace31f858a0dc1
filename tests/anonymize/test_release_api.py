"""Release records and the JSON API, including who may call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.anonymize import release, service
from tsunagu.anonymize.access import operator_token
from tsunagu.anonymize.engine import run
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.anonymize.schemas import PublicationIn
from tsunagu.anonymize.synthetic import residents
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox.models import OutboxEvent

CONFIG = """\
attributes:
  resident_id: {role: identifier, kind: linking_code}
  age: {role: quasi_identifier}
  sex: {role: quasi_identifier}
  municipality: {role: quasi_identifier, hierarchy: {type: municipality}}
  income_band: {role: sensitive}
privacy: {k: 5, l_diversity: {l: 2}}
suppression_limit: 0.05
"""


@pytest.fixture
def csv_text() -> str:
    return residents(2_000, prefectures=("13", "14")).write_csv()


@pytest.fixture
def report(tmp_path: Path, csv_text: str) -> dict[str, Any]:
    from tsunagu.anonymize.config import load_config

    source = tmp_path / "in.csv"
    source.write_text(csv_text, encoding="utf-8")
    return run(load_config(CONFIG), source, tmp_path / "out.csv")


def _create(session: Session, report: dict[str, Any]) -> AnonymizationRelease:
    return service.create_release(
        session,
        report=report,
        title="住民の年齢・性別・所得階級 (匿名加工情報)",
        organization="テスト市",
        publication=PublicationIn(provision_method="オープンデータカタログでの公開"),
        actor="official:test",
    )


def test_release_is_recorded_audited_and_announced(
    session_factory: sessionmaker[Session], report: dict[str, Any]
) -> None:
    with transaction(session_factory) as session:
        row = _create(session, report)
        release_id = row.id
    with transaction(session_factory) as session:
        row = service.get_release(session, release_id)
        assert row.achieved_k >= 5 and row.achieved_l is not None and row.achieved_l >= 2
        assert row.output_sha256 == report["output"]["sha256"]
        publication = json.loads(row.publication)
        assert publication["categories"] == ["age", "sex", "municipality", "income_band"]
        audit = session.scalars(
            select(AuditRecord).where(AuditRecord.object_id == release_id)
        ).one()
        assert audit.action == "anonymize.release.create"
        event = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == service.TOPIC_RECORDED)
        ).one()
        assert json.loads(event.payload)["release_id"] == release_id
        signed = service.to_be_signed(row)
        content = json.loads(signed)
        assert content["creation_record"]["achieved"] == report["achieved"]
        assert release.digest(content) == row.record_sha256
        assert release.catalog_metadata(content)["anonymization_k"] == row.achieved_k


def test_same_output_cannot_be_recorded_twice(
    session_factory: sessionmaker[Session], report: dict[str, Any]
) -> None:
    with transaction(session_factory) as session:
        _create(session, report)
    with pytest.raises(ConflictError), transaction(session_factory) as session:
        _create(session, report)


def test_altered_record_is_detected(
    session_factory: sessionmaker[Session], report: dict[str, Any]
) -> None:
    with transaction(session_factory) as session:
        row = _create(session, report)
        row.title = "changed afterwards"
        with pytest.raises(ConflictError):
            service.to_be_signed(row)


def _auth(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_token(settings.secret_key)}"}


def test_api_requires_the_operator_token(client: TestClient, csv_text: str) -> None:
    files = {"file": ("in.csv", csv_text, "text/csv")}
    data = {"configuration": CONFIG}
    assert client.post("/api/anonymize/runs", files=files, data=data).status_code == 401
    wrong = {"Authorization": "Bearer " + "0" * 64}
    response = client.post("/api/anonymize/runs", files=files, data=data, headers=wrong)
    assert response.status_code == 403
    for path in ("/api/anonymize/releases", "/api/anonymize/releases/x/signing-input"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=wrong).status_code == 403


def test_api_run_then_release(client: TestClient, settings: Settings, csv_text: str) -> None:
    headers = _auth(settings)
    response = client.post(
        "/api/anonymize/runs",
        files={"file": ("in.csv", csv_text, "text/csv")},
        data={"configuration": CONFIG, "include_output": "true"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["report"]["achieved"]["k"] >= 5
    assert body["output_csv"].startswith("age,sex,municipality,income_band")
    created = client.post(
        "/api/anonymize/releases",
        json={
            "title": "住民統計",
            "organization": "テスト市",
            "publication": {"categories": ["年齢", "性別"], "provision_method": "ウェブ公開"},
            "report": body["report"],
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    release_id = created.json()["id"]
    listed = client.get("/api/anonymize/releases", headers=headers).json()
    assert [r["id"] for r in listed] == [release_id]
    one = client.get(f"/api/anonymize/releases/{release_id}", headers=headers).json()
    assert one["publication"]["categories"] == ["年齢", "性別"]
    signing = client.get(f"/api/anonymize/releases/{release_id}/signing-input", headers=headers)
    assert signing.status_code == 200
    assert release.digest(signing.json()) == one["record_sha256"]
    missing = client.get("/api/anonymize/releases/nope", headers=headers)
    assert missing.status_code == 404


def test_api_reports_configuration_errors(
    client: TestClient, settings: Settings, csv_text: str
) -> None:
    response = client.post(
        "/api/anonymize/runs",
        files={"file": ("in.csv", csv_text, "text/csv")},
        data={"configuration": "attributes: {salary: {role: quasi_identifier}}"},
        headers=_auth(settings),
    )
    assert response.status_code == 422
    assert "salary" in response.text


def test_api_rejects_a_report_that_is_not_one(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/api/anonymize/releases",
        json={
            "title": "x",
            "organization": "y",
            "publication": {"provision_method": "z"},
            "report": {"schema": "something else"},
        },
        headers=_auth(settings),
    )
    assert response.status_code == 422
