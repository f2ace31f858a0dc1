"""Recommended datasets: schema conversion, templates, validation reports and badges."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.opendata.conftest import CallAction, World, dataset
from tsunagu.opendata import recommended

AED_HEADER = [
    "都道府県コード又は市区町村コード",
    "NO",
    "名称",
    "名称_カナ",
    "住所",
    "設置位置",
    "緯度",
    "経度",
    "小児対応設備の有無",
    "開始時間",
    "法人番号",
]
GOOD = [
    "131016",
    "1",
    "千代田区役所",
    "チヨダクヤクショ",
    "東京都千代田区九段南1-2-1",
    "1階",
    "35.6940",
    "139.7536",
    "有",
    "08:30",
    "7000012050002",
]


def aed_csv(*rows: list[str], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AED_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def test_all_fourteen_definitions_become_table_schemas() -> None:
    items = recommended.definitions()
    assert len(items) == 14
    aed = items["aed-locations"]
    assert aed.title == "AED設置箇所一覧"
    assert aed.required == ["名称", "名称_カナ", "住所", "設置位置"]
    fields = {f["name"]: f for f in aed.schema["fields"]}
    assert "location" not in fields
    assert fields["緯度"]["type"] == "number"
    assert fields["開始時間"]["type"] == "time"
    assert fields["小児対応設備の有無"]["constraints"]["enum"] == ["有", "無"]
    assert fields["都道府県コード又は市区町村コード"]["x-tsunagu-check"] == "lgcode"
    assert fields["法人番号"]["x-tsunagu-check"] == "corporate"
    evacuation = items["designated-evacuation-sites"]
    assert "" not in {f["name"]: f for f in evacuation.schema["fields"]}["災害種別_洪水"].get(
        "constraints", {}
    ).get("enum", [])


def test_template_csv_and_schema_endpoints(client: TestClient) -> None:
    listing = client.get("/api/opendata/recommended").json()
    assert [r["number"] for r in listing] == list(range(1, 15))
    template = client.get("/api/opendata/recommended/aed-locations/template.csv")
    assert template.status_code == 200
    assert template.content.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(template.content.decode("utf-8-sig"))))
    assert header[:3] == ["都道府県コード又は市区町村コード", "NO", "都道府県名"]
    schema = client.get("/api/opendata/recommended/aed-locations/schema.json").json()
    assert schema["title"] == "AED設置箇所一覧"
    assert client.get("/api/opendata/recommended/nope/template.csv").status_code == 404


def test_valid_file_conforms() -> None:
    report = recommended.validate_bytes("aed-locations", aed_csv(GOOD, encoding="cp932"))
    assert report["valid"], report["errors"]
    assert report["rows"] == 1


def test_errors_name_row_column_and_cause_in_both_languages() -> None:
    wrong_code = [*GOOD[:0], "131017", *GOOD[1:]]
    empty_name = GOOD.copy()
    empty_name[2] = ""
    bad_enum = GOOD.copy()
    bad_enum[8] = "あり"
    bad_number = GOOD.copy()
    bad_number[6] = "北緯35度"
    bad_corporate = GOOD.copy()
    bad_corporate[10] = "1000012050002"
    report = recommended.validate_bytes(
        "aed-locations", aed_csv(GOOD, wrong_code, empty_name, bad_enum, bad_number, bad_corporate)
    )
    assert not report["valid"]
    found = {(e["row"], e["column"], e["type"]) for e in report["errors"]}
    assert found == {
        (3, "都道府県コード又は市区町村コード", "check-digit"),
        (4, "名称", "constraint-error"),
        (5, "小児対応設備の有無", "constraint-error"),
        (6, "緯度", "type-error"),
        (7, "法人番号", "check-digit"),
    }
    by_row = {e["row"]: e for e in report["errors"]}
    assert "チェックデジット" in by_row[3]["message_ja"]
    assert "check digit" in by_row[3]["message_en"]
    assert "あり" in by_row[5]["message_ja"] and "有、無" in by_row[5]["message_ja"]
    assert "数値" in by_row[6]["message_ja"] and "number" in by_row[6]["message_en"]


def test_missing_required_column_is_reported() -> None:
    data = "名称,住所\n区役所,千代田区\n".encode()
    report = recommended.validate_bytes("aed-locations", data)
    missing = {e["column"] for e in report["errors"] if e["type"] == "missing-column"}
    assert missing == {"名称_カナ", "設置位置"}


def test_declared_resource_is_validated_on_upload_with_badge(
    world: World, call: CallAction, client: TestClient
) -> None:
    call("package_create", "editor", world, **dataset(resources=[], conforms_to="aed-locations"))
    bad = [*GOOD]
    bad[0] = "131017"
    response = client.post(
        "/api/3/action/resource_create",
        headers={"Authorization": world.tokens["editor"]},
        data={"package_id": "aed", "name": "AED", "format": "CSV", "conforms_to": "aed-locations"},
        files={"upload": ("aed.csv", io.BytesIO(aed_csv(GOOD, bad, encoding="cp932")), "text/csv")},
    )
    resource = response.json()["result"]
    report = client.get(f"/api/opendata/resources/{resource['id']}/validation").json()
    assert report["valid"] is False
    assert [(e["row"], e["type"]) for e in report["errors"]] == [(3, "check-digit")]
    badge = client.get(f"/api/opendata/resources/{resource['id']}/badge.svg")
    assert badge.headers["content-type"].startswith("image/svg+xml")
    assert "不適合 1" in badge.text
    checked = client.post(
        "/api/opendata/recommended/aed-locations/validate",
        files={"file": ("ok.csv", aed_csv(GOOD), "text/csv")},
    ).json()
    assert checked["valid"] is True
