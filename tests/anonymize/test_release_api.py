"""Release records and the JSON API: who may call it, sealing, verification, publication."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rdflib import Graph, Literal, URIRef
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tests.anonymize.conftest import CONFIG, RESIDENT, Login, World
from tsunagu.anonymize import release, service, workspace
from tsunagu.anonymize.engine import run
from tsunagu.anonymize.models import AnonymizationRelease
from tsunagu.anonymize.schemas import PublicationIn
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError
from tsunagu.core.outbox.models import OutboxEvent
from tsunagu.trust import service as trust

SPDX_VALUE = URIRef("http://spdx.org/rdf/terms#checksumValue")


@pytest.fixture
def report(tmp_path: Path, csv_text: str) -> dict[str, Any]:
    from tsunagu.anonymize.config import load_config

    source = tmp_path / "in.csv"
    source.write_text(csv_text, encoding="utf-8")
    return run(load_config(CONFIG), source, tmp_path / "out.csv")


def _create(session: Session, report: dict[str, Any], organization_id: str) -> AnonymizationRelease:
    return service.create_release(
        session,
        report=report,
        title="住民の年齢・性別・所得階級 (匿名加工情報)",
        organization_id=organization_id,
        publication=PublicationIn(provision_method="オープンデータカタログでの公開"),
        actor="official:test",
    )


def test_release_is_recorded_audited_and_announced(
    session_factory: sessionmaker[Session], report: dict[str, Any], world: World
) -> None:
    with transaction(session_factory) as session:
        release_id = _create(session, report, world.chiyoda).id
    with transaction(session_factory) as session:
        row = service.get_release(session, release_id)
        assert row.organization == "千代田区" and row.organization_id == world.chiyoda
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
        content = json.loads(service.to_be_signed(row))
        assert content["creation_record"]["achieved"] == report["achieved"]
        assert release.digest(content) == row.record_sha256
        assert release.catalog_metadata(content)["anonymization_k"] == row.achieved_k


def test_same_output_cannot_be_recorded_twice(
    session_factory: sessionmaker[Session], report: dict[str, Any], world: World
) -> None:
    with transaction(session_factory) as session:
        _create(session, report, world.chiyoda)
    with pytest.raises(ConflictError), transaction(session_factory) as session:
        _create(session, report, world.chiyoda)


def test_altered_record_is_detected(
    session_factory: sessionmaker[Session], report: dict[str, Any], world: World
) -> None:
    with transaction(session_factory) as session:
        row = _create(session, report, world.chiyoda)
        row.title = "changed afterwards"
        with pytest.raises(ConflictError):
            service.to_be_signed(row)


# --- HTTP -------------------------------------------------------------------------------


def _run(client: TestClient, csv_text: str, configuration: str = CONFIG) -> Any:
    return client.post(
        "/api/anonymize/runs",
        files={"file": ("residents.csv", csv_text, "text/csv")},
        data={"configuration": configuration, "include_output": "true"},
    )


def _record(client: TestClient, run_id: str, title: str = "住民統計") -> Any:
    return client.post(
        "/api/anonymize/releases",
        json={
            "run_id": run_id,
            "title": title,
            "publication": {"categories": ["年齢", "性別"], "provision_method": "ウェブ公開"},
        },
    )


def _recorded(client: TestClient, csv_text: str) -> str:
    ran = _run(client, csv_text)
    assert ran.status_code == 200, ran.text
    created = _record(client, ran.json()["run_id"])
    assert created.status_code == 201, created.text
    release_id: str = created.json()["id"]
    return release_id


def _published(client: TestClient, csv_text: str) -> str:
    release_id = _recorded(client, csv_text)
    assert client.post(f"/api/anonymize/releases/{release_id}/sign").status_code == 200
    published = client.post(f"/api/anonymize/releases/{release_id}/publish", json={})
    assert published.status_code == 200, published.text
    return release_id


def test_who_may_call_each_endpoint(login: Login, world: World, csv_text: str) -> None:
    publisher = login(official_id=world.officials["publisher"])
    release_id = _recorded(publisher, csv_text)
    outsiders = {
        "anonymous": (login(), 401),
        "resident": (login(person_id=RESIDENT), 403),
        "official without the role": (login(official_id=world.officials["clerk"]), 403),
        "administrator without the role": (login(official_id=world.officials["admin"]), 403),
    }
    base = f"/api/anonymize/releases/{release_id}"
    for who, (client, status) in outsiders.items():
        assert _run(client, csv_text).status_code == status, who
        assert _record(client, "0" * 32).status_code == status, who
        for path in ("/api/anonymize/releases", base, f"{base}/signing-input"):
            assert client.get(path).status_code == status, (who, path)
        for action in ("sign", "publish"):
            assert client.post(f"{base}/{action}", json={}).status_code == status, (who, action)
        # the public views of a release exist only once it is published
        for path in (f"{base}/record.json", f"{base}/record.p7s", f"{base}/verification"):
            assert client.get(path).status_code == 404, (who, path)
    # A data publisher of another organization: the release looks absent, the list is theirs.
    osaka = login(official_id=world.officials["osaka"])
    assert osaka.get("/api/anonymize/releases").json() == []
    for path in (base, f"{base}/signing-input", f"{base}/record.json", f"{base}/verification"):
        assert osaka.get(path).status_code == 404, path
    for action in ("sign", "publish"):
        assert osaka.post(f"{base}/{action}", json={}).status_code == 404, action
    # ... nor can they record a release from someone else's run, or discard it.
    foreign_run = _run(publisher, csv_text).json()["run_id"]
    assert _record(osaka, foreign_run).status_code == 404
    assert osaka.delete(f"/api/anonymize/runs/{foreign_run}").status_code == 404
    for who, (client, status) in outsiders.items():
        assert client.delete(f"/api/anonymize/runs/{foreign_run}").status_code == status, who
    assert publisher.delete(f"/api/anonymize/runs/{foreign_run}").status_code == 204
    assert _record(publisher, foreign_run).status_code == 404
    assert [r["id"] for r in publisher.get("/api/anonymize/releases").json()] == [release_id]


def test_changes_need_the_csrf_token(login: Login, world: World, csv_text: str) -> None:
    publisher = login(official_id=world.officials["publisher"])
    release_id = _recorded(publisher, csv_text)
    forged = login(official_id=world.officials["publisher"], csrf=False)
    assert _run(forged, csv_text).status_code == 403
    assert forged.post(f"/api/anonymize/releases/{release_id}/sign").status_code == 403
    assert forged.get(f"/api/anonymize/releases/{release_id}").status_code == 200


def test_sealing_needs_a_second_factor(login: Login, world: World, csv_text: str) -> None:
    release_id = _recorded(login(official_id=world.officials["publisher"]), csv_text)
    weak = login(official_id=world.officials["publisher"], aal=1)
    response = weak.post(f"/api/anonymize/releases/{release_id}/sign")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "assurance_too_low"


def _openssl_verify(content: Path, signature: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
            "-content", str(content), "-CAfile", str(root), "-purpose", "any", "-out", "/dev/null",
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip


def test_sealed_release_verifies_with_openssl_and_a_tampered_one_fails(
    login: Login,
    world: World,
    csv_text: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    release_id = _recorded(publisher, csv_text)
    base = f"/api/anonymize/releases/{release_id}"
    unsigned = publisher.get(f"{base}/verification").json()
    assert unsigned["valid"] is False and unsigned["code"] == "anonymize.not_signed"
    signed = publisher.post(f"{base}/sign")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "signed" and signed.json()["signer_serial"]
    assert publisher.post(f"{base}/sign").status_code == 409  # once only
    checked = publisher.get(f"{base}/verification").json()
    assert checked["valid"] is True, checked
    assert checked["signer_organization_id"] == world.chiyoda and checked["time_stamp"]

    content, signature = tmp_path / "record.json", tmp_path / "record.p7s"
    content.write_bytes(publisher.get(f"{base}/record.json").content)
    signature.write_bytes(publisher.get(f"{base}/record.p7s").content)
    root = tmp_path / "root.pem"
    with transaction(session_factory) as session:
        root.write_bytes(trust.root_certificate_pem(session))
    result = _openssl_verify(content, signature, root)
    assert result.returncode == 0 and "Verification successful" in result.stderr, result.stderr
    assert json.loads(content.read_bytes())["creation_record"]["achieved"]["k"] >= 5

    # Someone changes the stored figures behind the API's back: the digest no longer matches ...
    with transaction(session_factory) as session:
        row = service.get_release(session, release_id)
        forged = json.loads(row.creation_record)
        forged["achieved"]["k"] = 50
        forged_digest = release.digest({**service.content_of(row), "creation_record": forged})
        session.execute(
            update(AnonymizationRelease)
            .where(AnonymizationRelease.id == release_id)
            .values(
                creation_record=json.dumps(forged, ensure_ascii=False, sort_keys=True),
                achieved_k=50,
            )
        )
    tampered = publisher.get(f"{base}/verification").json()
    assert tampered["valid"] is False and tampered["code"] == "anonymize.record_altered"
    # ... and with the digest forged too, the seal no longer covers the record.
    with transaction(session_factory) as session:
        session.execute(
            update(AnonymizationRelease)
            .where(AnonymizationRelease.id == release_id)
            .values(record_sha256=forged_digest)
        )
    tampered = publisher.get(f"{base}/verification").json()
    assert tampered["valid"] is False and tampered["code"] == "content_mismatch", tampered
    content.write_bytes(publisher.get(f"{base}/record.json").content)
    assert json.loads(content.read_bytes())["creation_record"]["achieved"]["k"] == 50
    assert _openssl_verify(content, signature, root).returncode != 0
    # a tampered release cannot be published either
    response = publisher.post(f"{base}/publish", json={})
    assert response.status_code == 409


def test_published_dataset_carries_the_figures(
    login: Login, world: World, csv_text: str, session_factory: sessionmaker[Session]
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    release_id = _recorded(publisher, csv_text)
    base = f"/api/anonymize/releases/{release_id}"
    early = publisher.post(f"{base}/publish", json={})
    assert early.status_code == 409 and early.json()["error"]["code"] == "anonymize.not_signed"
    publisher.post(f"{base}/sign")
    published = publisher.post(f"{base}/publish", json={"license_id": "cc-by-4.0"})
    assert published.status_code == 200, published.text
    row = published.json()
    assert row["status"] == "published" and row["package_id"]
    assert publisher.post(f"{base}/publish", json={}).status_code == 409  # once only

    anonymous = login()
    shown = anonymous.get("/api/3/action/package_show", params={"id": f"anonymized-{release_id}"})
    assert shown.status_code == 200, shown.text
    package = shown.json()["result"]
    extras = {e["key"]: e["value"] for e in package["extras"]}
    creation = row["creation_record"]
    assert extras["anonymization_method"] == row["method"] == creation["algorithm"]
    assert int(extras["anonymization_k"]) == row["achieved_k"] >= 5
    assert int(extras["anonymization_l"]) == row["achieved_l"] >= 2
    assert float(extras["information_loss_gcp"]) == row["gcp"]
    assert int(extras["suppressed_rows"]) == row["suppressed_rows"]
    assert json.loads(extras["personal_information_categories"]) == ["年齢", "性別"]
    assert extras["provision_method"] == "ウェブ公開"
    assert extras["release_record_sha256"] == row["record_sha256"]
    assert extras["release_verification_url"].endswith(f"{base}/verification")
    assert package["organization"]["name"] == "chiyoda" and package["license_id"] == "cc-by-4.0"
    assert "k=" in package["notes"] and "匿名加工情報" in [t["name"] for t in package["tags"]]
    (resource,) = package["resources"]
    assert resource["format"] == "CSV" and resource["hash"] == f"sha256:{row['output_sha256']}"
    download = anonymous.get(resource["url"].removeprefix("http://testserver"))
    assert download.status_code == 200 and download.text.startswith("age,sex,municipality")
    # The record, its seal and the check are public once published.
    assert anonymous.get(f"{base}/verification").json()["valid"] is True
    assert anonymous.get(f"{base}/record.json").status_code == 200
    assert anonymous.get(f"{base}/record.p7s").status_code == 200
    assert anonymous.get(base).status_code == 401  # the full record stays internal

    # DCAT: the dataset with its description (the figures) and the CSV's checksum.
    # (The catalog does not export CKAN extras to DCAT.)
    turtle = anonymous.get(f"/dataset/anonymized-{release_id}.ttl")
    assert turtle.status_code == 200
    graph = Graph().parse(data=turtle.text, format="turtle")
    node = URIRef(f"http://testserver/dataset/{row['package_id']}")
    descriptions = [
        str(o) for o in graph.objects(node, URIRef("http://purl.org/dc/terms/description"))
    ]
    assert any(f"k={row['achieved_k']}" in d for d in descriptions)
    assert (None, SPDX_VALUE, Literal(row["output_sha256"], datatype=URIRef(
        "http://www.w3.org/2001/XMLSchema#hexBinary"))) in graph  # fmt: skip
    with transaction(session_factory) as session:
        actions = set(
            session.scalars(select(AuditRecord.action).where(AuditRecord.object_id == release_id))
        )
    assert {"anonymize.release.sign", "anonymize.release.publish"} <= actions


def test_sealing_and_publishing_need_a_seal_and_a_catalog_organization(
    login: Login, world: World, csv_text: str
) -> None:
    osaka = login(official_id=world.officials["osaka"])
    release_id = _recorded(osaka, csv_text)
    base = f"/api/anonymize/releases/{release_id}"
    no_seal = osaka.post(f"{base}/sign")
    assert no_seal.status_code == 409 and no_seal.json()["error"]["code"] == "no_seal"
    # an administrator of Osaka has a seal issued (held by this deployment) ...
    admin = login(official_id=world.officials["osaka_admin"])
    assert admin.post("/anonymize/seal", follow_redirects=False).status_code == 303
    assert osaka.post(f"{base}/sign").status_code == 200
    # ... but Osaka has no organization in the catalog yet
    refused = osaka.post(f"{base}/publish", json={})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "anonymize.no_catalog_organization"
    assert osaka.get(base).json()["status"] == "signed"
    # only administrators may have seals issued
    assert osaka.post("/anonymize/seal").status_code == 403


def test_api_reports_configuration_errors_and_leaves_nothing(
    login: Login, world: World, csv_text: str, settings: Settings
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    response = _run(publisher, csv_text, "attributes: {salary: {role: quasi_identifier}}")
    assert response.status_code == 422 and "salary" in response.text
    work_root = settings.var_dir / "anonymize" / "work"
    assert not work_root.exists() or not any(work_root.iterdir())
    assert _record(publisher, "f" * 32).status_code == 404


@pytest.mark.parametrize(
    ("filename", "content", "status"),
    [
        ("residents.exe", b"MZ\x90\x00", 415),
        ("residents.csv", b"\x00\x01binary", 415),
        ("residents.csv", "年齢,性別\n30,男\n".encode("cp932"), 415),
        ("residents.parquet", b"age,sex\n", 415),
        ("residents.csv", b"", 415),
    ],
)
def test_uploads_are_limited_by_type(
    login: Login, world: World, filename: str, content: bytes, status: int, settings: Settings
) -> None:
    publisher = login(official_id=world.officials["publisher"])
    response = publisher.post(
        "/api/anonymize/runs",
        files={"file": (filename, content, "application/octet-stream")},
        data={"configuration": CONFIG},
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == "anonymize.unsupported_file"
    assert not any((settings.var_dir / "anonymize" / "work").glob("*"))


def test_uploads_are_limited_by_size(
    login: Login, world: World, csv_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "MAX_UPLOAD_BYTES", 1024)
    response = _run(login(official_id=world.officials["publisher"]), csv_text)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "anonymize.too_large"
