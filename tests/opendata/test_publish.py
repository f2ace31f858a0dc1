"""Publisher pages: who may create and edit datasets and add resources; forms; axe-core."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.browser import assert_no_axe_violations
from tests.opendata.conftest import World
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import service as identity
from tsunagu.identity import sessions
from tsunagu.identity.mynumber import MyNumberVault
from tsunagu.identity.schemas import OfficialIn, OfficialRole, PersonIn, Sex
from tsunagu.opendata import service
from tsunagu.opendata.auth import ANONYMOUS
from tsunagu.opendata.models import OdOrganization, OdPackage, OdResource

Login = Callable[[str | None], TestClient]


@dataclass
class People:
    """Session ids of each kind of visitor, by name."""

    ids: dict[str, dict[str, str]]


@pytest.fixture
def people(world: World, settings: Settings, session_factory: sessionmaker[Session]) -> People:
    """Chiyoda's catalog organization is linked to 千代田区; Sapporo's to 札幌市."""
    with transaction(session_factory) as session:
        chiyoda = identity.ensure_local_government(session, "131016", actor="test").id
        sapporo = identity.ensure_local_government(session, "011002", actor="test").id
        for catalog_id, identity_id in (
            (world.org_ids["chiyoda"], chiyoda),
            (world.org_ids["sapporo"], sapporo),
        ):
            org = session.get(OdOrganization, catalog_id)
            assert org is not None
            org.identity_org_id = identity_id

        def official(org: str, name: str, *roles: OfficialRole) -> dict[str, str]:
            data = OfficialIn(
                organization_id=org, display_name=name, login_name=name, roles=list(roles)
            )
            return {"official_id": identity.create_official(session, data, actor="test").id}

        resident = identity.create_person(
            session,
            PersonIn(family_name="山田", given_name="花子", family_name_kana="ヤマダ",
                     given_name_kana="ハナコ", birth_date=date(1980, 1, 2), sex=Sex.FEMALE),
            actor="test", vault=MyNumberVault.from_settings(settings),
        )  # fmt: skip
        return People(
            {
                "publisher": official(chiyoda, "chiyoda-data", OfficialRole.DATA_PUBLISHER),
                "clerk": official(chiyoda, "chiyoda-clerk", OfficialRole.COUNTER_STAFF),
                "sapporo": official(sapporo, "sapporo-data", OfficialRole.DATA_PUBLISHER),
                "resident": {"person_id": resident.id},
            }
        )


@pytest.fixture
def login(
    app: FastAPI, settings: Settings, session_factory: sessionmaker[Session], people: People
) -> Iterator[Login]:
    """A client logged in as ``who`` (None: not logged in), sending its CSRF token."""
    clients: list[TestClient] = []

    def make(who: str | None) -> TestClient:
        client = TestClient(app, follow_redirects=False)
        clients.append(client)
        if who is not None:
            client.cookies.set(sessions.COOKIE, start_session(session_factory, people, who))
            client.headers[sessions.CSRF_HEADER] = sessions.csrf_token(
                settings.secret_key, client.cookies[sessions.COOKIE]
            )
        return client

    yield make
    for client in clients:
        client.close()


def start_session(factory: sessionmaker[Session], people: People, who: str) -> str:
    with transaction(factory) as session:
        started = sessions.start(session, method="test", ial=2, aal=2, **people.ids[who])
    return started.token


DATASET = {
    "title": "公衆トイレ一覧",
    "name": "toilets",
    "notes": "区内の公衆トイレ",
    "license_id": "cc-by-4.0",
    "tags": "トイレ, バリアフリー",
    "private": "false",
    "spatial_lg_code": "131016",
}


def _package(factory: sessionmaker[Session], name: str) -> OdPackage | None:
    with factory() as session:
        return session.execute(select(OdPackage).where(OdPackage.name == name)).scalar()


def test_publisher_creates_edits_and_uploads(
    login: Login, world: World, session_factory: sessionmaker[Session]
) -> None:
    client = login("publisher")
    assert client.get("/opendata/publish").status_code == 200
    form = client.get("/opendata/publish/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    created = client.post(
        "/opendata/publish/new", data={**DATASET, "owner_org": world.org_ids["chiyoda"]}
    )
    assert created.status_code == 303
    assert created.headers["location"] == "/opendata/publish/toilets?saved=created"
    package = _package(session_factory, "toilets")
    assert package is not None and package.owner_org == world.org_ids["chiyoda"]
    with session_factory() as session:
        found = service.package_search(session, ANONYMOUS, {"q": "トイレ"}, "http://t")
    assert [p["name"] for p in found["results"]] == ["toilets"]
    assert found["results"][0]["tags"][0]["name"] == "トイレ"

    edited = client.post(
        "/opendata/publish/toilets",
        data={**DATASET, "title": "公衆トイレ位置", "tags": "トイレ", "private": "true",
              "owner_org": world.org_ids["chiyoda"]},
    )  # fmt: skip
    assert edited.status_code == 303
    with session_factory() as session:
        pkg = service.package_dict(session, service.get_package(session, "toilets"), "http://t")
    assert pkg["title"] == "公衆トイレ位置" and pkg["private"] is True
    assert [t["name"] for t in pkg["tags"]] == ["トイレ"]
    assert "公衆トイレ位置" in client.get("/opendata/publish").text  # private ones listed

    csv = "名称,所在地\n九段トイレ,九段北1\n番町トイレ,一番町\n".encode("cp932")
    uploaded = client.post(
        "/opendata/publish/toilets/resources",
        data={"resource_name": "一覧", "format": ""},
        files={"file": ("toilets.csv", io.BytesIO(csv), "text/csv")},
    )
    assert uploaded.status_code == 303
    linked = client.post(
        "/opendata/publish/toilets/resources",
        data={"resource_name": "地図", "url": "https://example.jp/map.pdf"},
    )
    assert linked.status_code == 303
    with session_factory() as session:
        resources = service.get_resources(session, pkg["id"])
    assert [(r.name, r.format) for r in resources] == [("一覧", "CSV"), ("地図", "PDF")]
    assert resources[0].datastore_active
    page = client.get("/opendata/publish/toilets?saved=resource")
    assert "九段" not in page.text and "toilets.csv" in page.text


def test_form_errors_are_summarised_and_inline(login: Login, world: World) -> None:
    client = login("publisher")
    response = client.post(
        "/opendata/publish/new",
        data={"title": "", "name": "Bad Name", "spatial_lg_code": "131017",
              "owner_org": world.org_ids["chiyoda"]},
    )  # fmt: skip
    assert response.status_code == 422
    text = response.text
    assert 'role="alert"' in text and 'href="#title"' in text and 'href="#name"' in text
    assert 'id="name-error"' in text and 'aria-describedby="name-error name-hint"' in text
    assert 'id="spatial_lg_code-error"' in text
    assert "タイトルを入力してください" in text  # the page's language, not both
    assert "Must be 2-100 characters" not in text
    english = client.post(
        "/opendata/publish/new?lang=en",
        data={"title": "", "name": "x", "owner_org": world.org_ids["chiyoda"]},
    )
    assert "Enter a title." in english.text and "名前は" not in english.text
    missing = client.post("/opendata/publish/new", data={**DATASET, "owner_org": "nowhere"})
    assert missing.status_code == 422 and 'id="owner_org-error"' in missing.text
    client.post("/opendata/publish/new", data={**DATASET, "owner_org": world.org_ids["chiyoda"]})
    nothing = client.post("/opendata/publish/toilets/resources", data={"resource_name": "x"})
    assert nothing.status_code == 422 and 'id="url-error"' in nothing.text


@pytest.mark.parametrize("who", [None, "resident", "clerk", "sapporo"])
def test_who_may_not_publish_for_chiyoda(
    who: str | None, login: Login, world: World, session_factory: sessionmaker[Session]
) -> None:
    publisher = login("publisher")
    publisher.post("/opendata/publish/new", data={**DATASET, "owner_org": world.org_ids["chiyoda"]})
    client = login(who)
    pages = ("/opendata/publish", "/opendata/publish/new", "/opendata/publish/toilets")
    data = {**DATASET, "name": "intruder", "owner_org": world.org_ids["chiyoda"]}
    posts = (
        ("/opendata/publish/new", data),
        ("/opendata/publish/toilets", {**data, "name": "toilets", "title": "改ざん"}),
        ("/opendata/publish/toilets/resources", {"url": "https://evil.example/x.csv"}),
    )
    if who is None:
        for path in pages:
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        for path, form in posts:
            assert client.post(path, data=form).status_code == 303, path
    elif who == "sapporo":
        # Sapporo's publisher may publish for Sapporo, never for Chiyoda
        assert client.get("/opendata/publish").status_code == 200
        assert client.get("/opendata/publish/toilets").status_code == 403
        for path, form in posts:
            assert client.post(path, data=form).status_code == 403, path
    else:
        for path in pages:
            assert client.get(path).status_code == 403, path
        for path, form in posts:
            assert client.post(path, data=form).status_code == 403, path
    assert _package(session_factory, "intruder") is None
    package = _package(session_factory, "toilets")
    assert package is not None and package.title == DATASET["title"]
    with session_factory() as session:
        assert session.execute(select(OdResource)).first() is None


def test_changes_need_the_csrf_token(
    login: Login, world: World, session_factory: sessionmaker[Session], app: FastAPI
) -> None:
    client = login("publisher")
    del client.headers[sessions.CSRF_HEADER]
    data = {**DATASET, "owner_org": world.org_ids["chiyoda"]}
    assert client.post("/opendata/publish/new", data=data).status_code == 403
    token = client.get("/opendata/publish/new").text.split('name="csrf_token" value="')[1][:64]
    accepted = client.post("/opendata/publish/new", data={**data, "csrf_token": token})
    assert accepted.status_code == 303


def test_private_datasets_of_other_organizations_stay_hidden(login: Login, world: World) -> None:
    login("publisher").post(
        "/opendata/publish/new",
        data={**DATASET, "private": "true", "owner_org": world.org_ids["chiyoda"]},
    )
    assert login("sapporo").get("/opendata/publish/toilets").status_code == 404


@pytest.mark.browser
def test_publisher_pages_pass_axe(
    page: Page,
    live_server: str,
    world: World,
    people: People,
    session_factory: sessionmaker[Session],
) -> None:
    token = start_session(session_factory, people, "publisher")
    page.context.add_cookies([{"name": sessions.COOKIE, "value": token, "url": live_server}])
    page.goto("/opendata/publish/new")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("button", name="データセットを作成").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_label("タイトル（必須）").fill("公衆トイレ一覧")
    page.get_by_label("URL名（必須）").fill("toilets")
    page.get_by_role("button", name="データセットを作成").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert_no_axe_violations(page)
    page.get_by_role("button", name="リソースを追加").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_axe_violations(page)
    for path in ("/opendata/publish", "/opendata/publish?lang=en"):
        page.goto(path)
        assert_no_axe_violations(page)
