"""Organizations' pages for change notifications: who may subscribe, end and read the inbox."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from sqlalchemy.orm import Session, sessionmaker

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.exchange.conftest import World
from tests.exchange.test_api import Login
from tests.exchange.test_api import actors as actors  # the fixture
from tests.exchange.test_api import login as login  # the fixture
from tests.exchange.test_notifications import _die, _drain
from tsunagu.core.db import transaction
from tsunagu.exchange import notifications
from tsunagu.identity import sessions

PAGE = "/exchange/subscriptions"


def _form_client(login: Login, official_id: str | None) -> TestClient:
    """A logged-in browser-like client: CSRF token from the page's form, not a header."""
    client = login(official_id=official_id)
    client.headers.pop(sessions.CSRF_HEADER, None)
    client.follow_redirects = False
    return client


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(PAGE).text)
    assert found
    return found.group(1)


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, PAGE, 401),
        ("chiyoda_clerk", PAGE, 403),  # an official, but not an administrator
        ("pension", PAGE, 200),
        ("company", PAGE, 200),
        (None, "/exchange/inbox", 401),
        ("chiyoda_clerk", "/exchange/inbox", 200),
    ],
)
def test_who_may_open_the_pages(
    login: Login, actors: dict[str, str], who: str | None, path: str, status: int
) -> None:
    client = login(official_id=actors[who] if who else None)
    assert client.get(path).status_code == status


def test_an_organization_sees_only_the_notifications_the_matrix_gives_it(
    login: Login, actors: dict[str, str]
) -> None:
    pension = login(official_id=actors["pension"]).get(PAGE).text
    assert 'value="juki-nenkin-shibo"' in pension and 'value="houjin-hojokin"' not in pension
    company = login(official_id=actors["company"]).get(PAGE).text
    assert 'name="basis_id"' not in company


def test_pension_office_subscribes_ends_and_is_told_of_a_death(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    client = _form_client(login, actors["pension"])
    form = {"csrf_token": _csrf(client), "basis_id": "juki-nenkin-shibo", "event_id": "died"}
    response = client.post(PAGE, data=form)
    assert response.status_code == 303
    again = client.post(PAGE, data=form)
    assert again.status_code == 409 and "既に購読しています" in again.text
    _die(session_factory, world)
    _drain(session_factory)
    inbox = client.get("/exchange/inbox").text
    assert "千代田区" in inbox and "死亡" in inbox and "山田" in inbox
    with session_factory() as session:
        (subscription,) = notifications.subscriptions_of(session, world.pension)
    other = _form_client(login, actors["chiyoda"])
    end = f"{PAGE}/{subscription.id}/end"
    assert other.post(end, data={"csrf_token": _csrf(other)}).status_code == 404
    assert client.post(end, data={"csrf_token": "forged"}).status_code == 403
    assert client.post(end, data={"csrf_token": _csrf(client)}).status_code == 303
    with session_factory() as session:
        (ended,) = notifications.subscriptions_of(session, world.pension)
        assert ended.ended_at is not None


def test_subscribing_without_a_legal_basis_is_refused_on_the_page(
    login: Login, actors: dict[str, str], world: World, session_factory: sessionmaker[Session]
) -> None:
    client = _form_client(login, actors["company"])
    form = {"csrf_token": _csrf(client), "basis_id": "juki-nenkin-shibo", "event_id": "died"}
    refused = client.post(f"{PAGE}?lang=en", data=form)
    assert refused.status_code == 403 and "no legal basis" in refused.text
    assert login(official_id=None).post(PAGE, data=form).status_code == 401
    with session_factory() as session:
        assert notifications.subscriptions_of(session, world.company) == []


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_subscription_page_passes_axe(
    page: Page,
    live_server: str,
    actors: dict[str, str],
    world: World,
    session_factory: sessionmaker[Session],
    lang: str,
) -> None:
    with transaction(session_factory) as session:
        notifications.subscribe(
            session, subscriber_id=world.pension, basis_id="juki-nenkin-shibo",
            event_id="died", actor="t",
        )  # fmt: skip
        started = sessions.start(
            session, method="test", ial=2, aal=2, official_id=actors["pension"]
        )
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto(f"{PAGE}?lang={lang}")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"{PAGE}?lang={lang}")
    page.goto(f"/exchange/inbox?lang={lang}")
    assert_no_axe_violations(page)
