"""Datastore: encodings, typing, and datastore_search as CKAN defines it."""

from __future__ import annotations

import io

from fastapi.testclient import TestClient
from openpyxl import Workbook

from tests.opendata.conftest import CallAction, World, dataset

ROWS = [
    ("名称", "住所", "市区町村コード", "収容人数", "標高"),
    ("九段小学校", "千代田区九段北1丁目", "131016", "300", "12.5"),
    ("①番町公園", "千代田区一番町", "131016", "1200", "30.1"),
    ("麹町中学校", "千代田区麹町2丁目", "131016", "", "28"),
]


def csv_bytes(encoding: str, delimiter: str = ",") -> bytes:
    return "\r\n".join(delimiter.join(r) for r in ROWS).encode(encoding) + b"\r\n"


def upload(
    client: TestClient, world: World, data: bytes, filename: str, fmt: str, **fields: str
) -> dict:
    response = client.post(
        "/api/3/action/resource_create",
        headers={"Authorization": world.tokens["editor"]},
        data={"package_id": "shelters", "name": filename, "format": fmt, **fields},
        files={"upload": (filename, io.BytesIO(data), "text/csv")},
    )
    assert response.status_code == 200, response.text
    return response.json()["result"]


def ds(call: CallAction, **params: object) -> dict:
    response = call("datastore_search", **params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_shift_jis_csv_loads_with_correct_japanese(
    world: World, call: CallAction, client: TestClient
) -> None:
    call("package_create", "editor", world, **dataset(name="shelters", resources=[]))
    resource = upload(client, world, csv_bytes("cp932"), "shelters.csv", "CSV")
    assert resource["datastore_active"] is True
    result = ds(call, resource_id=resource["id"])
    assert result["total"] == 3
    assert [f["id"] for f in result["fields"]] == ["_id", *ROWS[0]]
    types = {f["id"]: f["type"] for f in result["fields"]}
    assert types == {
        "_id": "int",
        "名称": "text",
        "住所": "text",
        "市区町村コード": "int",
        "収容人数": "int",
        "標高": "numeric",
    }
    assert result["records"][1]["名称"] == "①番町公園"
    assert result["records"][2]["収容人数"] is None


def test_leading_zero_codes_stay_text_and_other_formats(
    world: World, call: CallAction, client: TestClient
) -> None:
    call("package_create", "editor", world, **dataset(name="shelters", resources=[]))
    tsv = "コード\t名前\n011002\t札幌市\n131016\t千代田区\n".encode("utf-8-sig")
    resource = upload(client, world, tsv, "codes.tsv", "TSV")
    result = ds(call, resource_id=resource["id"])
    assert {f["id"]: f["type"] for f in result["fields"]}["コード"] == "text"
    assert result["records"][0] == {"_id": 1, "コード": "011002", "名前": "札幌市"}
    book = Workbook()
    sheet = book.active
    for row in ROWS:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = upload(client, world, buffer.getvalue(), "shelters.xlsx", "XLSX")
    assert ds(call, resource_id=xlsx["id"])["records"][0]["名称"] == "九段小学校"


def test_datastore_search_parameters(world: World, call: CallAction, client: TestClient) -> None:
    call("package_create", "editor", world, **dataset(name="shelters", resources=[]))
    rid = upload(client, world, csv_bytes("utf-8"), "s.csv", "CSV")["id"]
    assert (
        ds(call, resource_id=rid, filters={"収容人数": 1200})["records"][0]["名称"] == "①番町公園"
    )
    assert ds(call, resource_id=rid, filters='{"名称": ["九段小学校", "麹町中学校"]}')["total"] == 2
    assert ds(call, resource_id=rid, q="麹町")["total"] == 1
    assert ds(call, resource_id=rid, q={"住所": "一番町"})["records"][0]["_id"] == 2
    sorted_rows = ds(call, resource_id=rid, sort="標高 desc", fields="名称,標高")
    assert [r["名称"] for r in sorted_rows["records"]] == ["①番町公園", "麹町中学校", "九段小学校"]
    assert set(sorted_rows["records"][0]) == {"名称", "標高"}
    page = ds(call, resource_id=rid, limit=1, offset=1)
    assert page["total"] == 3 and [r["_id"] for r in page["records"]] == [2]
    assert page["_links"]["next"].endswith("offset=2")
    for bad in ({"filters": {"nope": 1}}, {"sort": "nope"}, {"fields": ["nope"]}):
        response = call("datastore_search", resource_id=rid, **bad)
        assert response.status_code == 409, bad
        assert response.json()["error"]["__type"] == "Validation Error"


def test_datastore_follows_dataset_visibility(
    world: World, call: CallAction, client: TestClient
) -> None:
    call("package_create", "editor", world, **dataset(name="shelters", resources=[], private=True))
    rid = upload(client, world, csv_bytes("utf-8"), "s.csv", "CSV")["id"]
    assert call("datastore_search", resource_id=rid).status_code == 404
    assert call("datastore_search", "outsider", world, resource_id=rid).status_code == 404
    assert call("datastore_search", "member", world, resource_id=rid).status_code == 200


def test_unloadable_file_is_reported_not_loaded(
    world: World, call: CallAction, client: TestClient
) -> None:
    call("package_create", "editor", world, **dataset(name="shelters", resources=[]))
    resource = upload(client, world, b"", "empty.csv", "CSV")
    assert resource["datastore_active"] is False
    assert "datastore_error" in resource
    assert call("datastore_search", resource_id=resource["id"]).status_code == 404


def test_large_table_totals_and_paging_agree_with_the_rows(
    world: World, call: CallAction, client: TestClient
) -> None:
    """Totals kept from the load and ``_id`` paging give what counting the rows gives."""
    kinds = ["公園", "学校", "病院"]
    lines = ["番号,区分,コード,値"]
    lines += [f"{n},{kinds[n % 3]},0{n % 4},{n / 2}" for n in range(1, 12_001)]
    call("package_create", "editor", world, **dataset(name="shelters", resources=[]))
    rid = upload(client, world, "\n".join(lines).encode(), "big.csv", "CSV")["id"]
    assert ds(call, resource_id=rid, filters={"区分": "公園"}, limit=1)["total"] == 4_000
    assert ds(call, resource_id=rid, filters={"区分": ["公園", "学校", "x"]})["total"] == 8_000
    assert ds(call, resource_id=rid, filters={"コード": "01"})["total"] == 3_000
    assert ds(call, resource_id=rid, filters={"番号": "7"})["total"] == 1
    assert ds(call, resource_id=rid, filters={"値": 3.5})["total"] == 1
    both = ds(call, resource_id=rid, filters={"区分": "公園", "コード": "03"})
    assert both["total"] == 1_000 and all(r["区分"] == "公園" for r in both["records"])
    page = ds(call, resource_id=rid, offset=11_998, limit=5)
    assert [r["番号"] for r in page["records"]] == [11_999, 12_000]
    assert page["total"] == 12_000
    backwards = ds(call, resource_id=rid, sort="番号 desc", offset=2, limit=2)
    assert [r["番号"] for r in backwards["records"]] == [11_998, 11_997]
    parks = ds(call, resource_id=rid, filters={"区分": "公園"}, sort="番号 desc", limit=3)
    assert [r["番号"] for r in parks["records"]] == [12_000, 11_997, 11_994]
    assert parks["total"] == 4_000
    late = ds(call, resource_id=rid, filters={"区分": "病院"}, sort="値", offset=3_998)
    assert [r["番号"] for r in late["records"]] == [11_996, 11_999]
