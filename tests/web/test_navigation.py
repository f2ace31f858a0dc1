"""Navigation: the home page links to every public page, "My page" (/me) to every page
meant for the logged-in party — and each link it shows answers 200 for that party."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tsunagu.identity import sessions
from tsunagu.identity.navigation import Audience
from tsunagu.identity.schemas import OfficialRole
from tsunagu.web.navigation import ENTRY_POINTS

from .navigation_world import BASE, People, people_fixture, settings_fixture  # noqa: F401


@pytest.fixture
def web(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as client:
        yield client


def _as(client: TestClient, token: str) -> TestClient:
    client.cookies.set(sessions.COOKIE, token)
    return client


def _links(html: str) -> list[str]:
    """The link targets of the page's main content, in document order."""
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', main)


def _paths(audience: Audience) -> list[str]:
    return [entry.path for entry in ENTRY_POINTS if entry.audience is audience]


def test_home_links_to_every_public_entry_point(web: TestClient) -> None:
    for lang, heading in (("ja", "サービス"), ("en", "Services")):
        page = web.get(f"/?lang={lang}")
        assert page.status_code == 200
        assert f'<h2 id="entry-points-title">{heading}</h2>' in page.text
        links = _links(page.text)
        for path in _paths(Audience.PUBLIC):
            assert path in links, path
            assert web.get(path).status_code == 200, path
        assert "/me" in links
        for path in _paths(Audience.RESIDENT) + _paths(Audience.OFFICIAL):
            assert path not in links or path in _paths(Audience.PUBLIC), path


def test_anonymous_visitor_is_sent_to_login_from_my_page(web: TestClient) -> None:
    response = web.get("/me", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fme"


def test_resident_my_page_lists_every_resident_entry_point_and_each_opens(
    web: TestClient,
    people: People,
) -> None:
    client = _as(web, people.resident)
    page = client.get("/me")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert '<a class="language-switch__link" href="/me">マイページ' in page.text
    links = _links(page.text)
    assert links == _paths(Audience.RESIDENT)
    for path in links:
        assert client.get(path).status_code == 200, path
    english = client.get("/me?lang=en")
    assert "<h1>My page</h1>" in english.text and ">My applications</a>" in english.text


def test_business_member_my_page_lists_business_entry_points(
    web: TestClient,
    people: People,
) -> None:
    client = _as(web, people.member)
    links = _links(client.get("/me").text)
    assert links == _paths(Audience.BUSINESS)
    for path in links:
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("role", list(OfficialRole), ids=lambda role: role.value)
def test_official_sees_exactly_the_pages_their_role_opens(
    web: TestClient,
    people: People,
    role: OfficialRole,
) -> None:
    """Every official page is listed if and only if it answers 200 for the role: no link
    that only answers 403, no page of theirs left out, and no resident's page."""
    client = _as(web, people.officials[role])
    page = client.get("/me")
    assert page.status_code == 200
    links = _links(page.text)
    assert links, "every role has a page of its own"
    opens = [path for path in _paths(Audience.OFFICIAL) if client.get(path).status_code == 200]
    assert links == opens
    assert not set(links) & (set(_paths(Audience.RESIDENT)) | set(_paths(Audience.BUSINESS)))
