"""The real ``ckanapi`` client (CLI and Python) against a live uvicorn server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from ckanapi import NotAuthorized, NotFound, RemoteCKAN

from tests.opendata.conftest import CallAction, World, dataset

BIN = Path(sys.executable).parent
CKANAPI = str(BIN / "ckanapi")
# dump/load start worker processes called plain ``ckanapi``: it must be on PATH.
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def ckanapi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CKANAPI, *args], capture_output=True, text=True, env=ENV, timeout=120, check=False
    )


@pytest.fixture
def catalog(world: World, call: CallAction) -> World:
    call("group_create", "sysadmin", world, name="bousai", title="防災")
    call("package_create", "editor", world, **dataset(groups=[{"name": "bousai"}]))
    call(
        "package_create",
        "editor",
        world,
        **dataset(
            name="evacuation",
            title="指定緊急避難場所一覧",
            notes="洪水・地震の避難場所",
            tags=[{"name": "防災"}],
            spatial_lg_code="131016",
            temporal_start="2024-04-01",
            extras=[{"key": "更新頻度", "value": "年1回"}],
            resources=[{"name": "避難場所", "url": "https://example.jp/hinan.csv"}],
        ),
    )
    call(
        "package_create",
        "outsider",
        world,
        **dataset(name="sapporo-aed", org="sapporo", title="札幌市AED", license_id="gov-jp-2.0"),
    )
    call("package_create", "editor", world, **dataset(name="hidden", private=True))
    return world


def test_cli_package_search(catalog: World, live_server: str) -> None:
    result = ckanapi("action", "package_search", "q=AED", "-r", live_server)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["count"] == 2
    assert {p["name"] for p in found["results"]} == {"aed", "sapporo-aed"}
    faceted = ckanapi(
        "action", "package_search", "q=避難所", 'facet.field:["organization"]', "-r", live_server
    )
    body = json.loads(faceted.stdout)
    assert [p["name"] for p in body["results"]] == ["evacuation"]
    assert body["facets"]["organization"] == {"chiyoda": 1}


def test_dump_and_load_round_trip(catalog: World, live_server: str, tmp_path: Path) -> None:
    first = tmp_path / "first.jsonl"
    dumped = ckanapi(
        "dump", "datasets", "--all", "-O", str(first), "-p", "1", "-q", "-r", live_server
    )
    assert dumped.returncode == 0, dumped.stderr
    records = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["name"] for r in records) == ["aed", "evacuation", "sapporo-aed"]

    # loading the dump back updates every dataset in place and changes nothing
    token = catalog.tokens["sysadmin"]
    loaded = ckanapi(
        "load", "datasets", "-I", str(first), "-p", "1", "-r", live_server, "-a", token
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr.count('"update"') == 3 or "update" in loaded.stdout + loaded.stderr
    second = tmp_path / "second.jsonl"
    ckanapi("dump", "datasets", "--all", "-O", str(second), "-p", "1", "-q", "-r", live_server)
    again = [json.loads(line) for line in second.read_text(encoding="utf-8").splitlines()]
    volatile = {"metadata_modified", "last_modified"}

    def stable(record: dict) -> dict:
        record = {k: v for k, v in record.items() if k not in volatile}
        record["resources"] = [
            {k: v for k, v in r.items() if k not in volatile} for r in record["resources"]
        ]
        return record

    assert [stable(r) for r in again] == [stable(r) for r in records]

    # as copies (no ids, new names) they are created, with the same content
    copies = tmp_path / "copies.jsonl"
    with copies.open("w", encoding="utf-8") as out:
        for record in records:
            record.pop("id")
            record["name"] += "-copy"
            for resource in record["resources"]:
                resource.pop("id")
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    created = ckanapi(
        "load", "datasets", "-I", str(copies), "-p", "1", "-r", live_server, "-a", token
    )
    assert created.returncode == 0, created.stderr
    remote = RemoteCKAN(live_server)
    copy = remote.action.package_show(id="evacuation-copy")
    original = remote.action.package_show(id="evacuation")
    for key in ("title", "notes", "tags", "spatial_lg_code", "temporal_start", "extras", "groups"):
        assert copy[key] == original[key], key
    assert copy["resources"][0]["url"] == original["resources"][0]["url"]


def test_python_client_upload_and_errors(catalog: World, live_server: str, tmp_path: Path) -> None:
    editor = RemoteCKAN(live_server, apikey=catalog.tokens["editor"])
    path = tmp_path / "aed.csv"
    path.write_bytes("名称,住所\n区役所,千代田区九段南1-2-1\n".encode("cp932"))
    with path.open("rb") as handle:
        resource = editor.action.resource_create(
            package_id="aed", name="AED (CP932)", format="CSV", upload=handle
        )
    assert resource["url_type"] == "upload"
    assert resource["url"].startswith(f"{live_server}/dataset/")
    assert resource["size"] == path.stat().st_size
    download = httpx2.get(resource["url"])
    assert download.status_code == 200, (resource["url"], download.text)
    assert download.content == path.read_bytes()
    anonymous = RemoteCKAN(live_server)
    with pytest.raises(NotFound):
        anonymous.action.package_show(id="hidden")
    with pytest.raises(NotAuthorized):
        anonymous.action.package_create(name="nope", owner_org="chiyoda")
    outsider = RemoteCKAN(live_server, apikey=catalog.tokens["outsider"])
    with pytest.raises(NotAuthorized):
        outsider.action.resource_delete(id=resource["id"])
