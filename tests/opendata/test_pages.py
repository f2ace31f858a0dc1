"""Catalog pages: content, visibility, data requests; axe-core in headless Chromium."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.browser import assert_no_axe_violations
from tests.opendata.conftest import CallAction, World, dataset


@pytest.fixture
def catalog(world: World, call: CallAction, client: TestClient) -> World:
    call(
        "package_create",
        "editor",
        world,
        **dataset(
            name="evacuation",
            title="指定緊急避難場所一覧",
            spatial_lg_code="131016",
            temporal_start="2024-04-01",
            conforms_to="aed-locations",
            resources=[],
        ),
    )
    call(
        "package_create",
        "editor",
        world,
        **dataset(name="hidden", title="非公開データ", private=True),
    )
    csv = "名称,収容人数\n九段小学校,300\n番町公園,1200\n".encode("cp932")
    client.post(
        "/api/3/action/resource_create",
        headers={"Authorization": world.tokens["editor"]},
        data={
            "package_id": "evacuation",
            "name": "一覧CSV",
            "format": "CSV",
            "conforms_to": "aed-locations",
        },
        files={"upload": ("e.csv", io.BytesIO(csv), "text/csv")},
    )
    return world


def test_pages_show_public_data_only(catalog: World, client: TestClient) -> None:
    home = client.get("/opendata")
    assert home.status_code == 200 and "指定緊急避難場所一覧" in home.text
    assert "非公開データ" not in home.text
    found = client.get("/opendata/search", params={"q": "避難所"})
    assert "指定緊急避難場所一覧" in found.text
    faceted = client.get("/opendata/search", params={"organization": "sapporo"})
    assert "指定緊急避難場所一覧" not in faceted.text
    page = client.get("/dataset/evacuation")
    assert (
        "九段小学校" in page.text and "<svg" in page.text and "/dataset/evacuation.ttl" in page.text
    )
    assert "必須の列" in page.text  # the validation report names the missing columns
    assert client.get("/dataset/hidden").status_code == 404
    english = client.get("/dataset/evacuation?lang=en")
    assert "Data and resources" in english.text
    assert "千代田区" in client.get("/organization/chiyoda").text
    assert client.get("/organization").status_code == 200


def test_data_request_workflow(
    catalog: World, client: TestClient, call: CallAction, session_factory
) -> None:  # type: ignore[no-untyped-def]
    from tsunagu.core.db import transaction
    from tsunagu.opendata import auth, service

    missing = client.post("/opendata/requests", data={"title": "", "description": ""})
    assert missing.status_code == 422 and 'aria-invalid="true"' in missing.text
    sent = client.post(
        "/opendata/requests",
        data={
            "title": "公衆トイレの位置",
            "description": "バリアフリー情報も",
            "organization": "chiyoda",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    with transaction(session_factory) as session:
        request_id = service.list_data_requests(session)[0].id
        outsider = auth.actor_for_user(session, auth.get_user(session, "outsider"))
        with pytest.raises(service.PermissionDenied):
            service.answer_data_request(
                session, outsider, request_id, status="accepted", response="x"
            )
    with transaction(session_factory) as session:
        editor = auth.actor_for_user(session, auth.get_user(session, "editor"))
        service.answer_data_request(
            session,
            editor,
            request_id,
            status="published",
            response="公開しました",
            package="evacuation",
        )
    listing = client.get("/opendata/requests")
    assert "公開済み" in listing.text and "公開しました" in listing.text


@pytest.mark.browser
@pytest.mark.parametrize(
    "path",
    [
        "/opendata",
        "/opendata/search?q=避難所",
        "/dataset/evacuation",
        "/organization",
        "/organization/chiyoda",
        "/opendata/requests",
        "/dataset/evacuation?lang=en",
    ],
)
def test_catalog_pages_pass_axe(catalog: World, page: Page, path: str) -> None:
    page.goto(path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_no_axe_violations(page)
