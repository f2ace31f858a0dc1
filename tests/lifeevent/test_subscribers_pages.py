"""Pages of private-sector notices: who may open and post them, the forms, axe-core, keyboard."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.lifeevent.test_subscribers import (
    HANAKO,
    POWER_NUMBER,
    TARO,
    Login,
    World,
    consent,
    drain,
    move,
    register,
)
from tests.lifeevent.test_subscribers import login as login  # the fixture
from tests.lifeevent.test_subscribers import receiver as receiver  # the fixture
from tests.lifeevent.test_subscribers import settings as settings  # the fixture
from tests.lifeevent.test_subscribers import world as world  # the fixture
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import sessions
from tsunagu.lifeevent.receiver import Receiver, ReceiverThread

RESIDENT = "/me/life-notices"
COMPANY = "/lifeevent/subscribers"


def _form_client(login: Login, **who: str) -> TestClient:
    """A logged-in browser-like client: the CSRF token comes from the page's form."""
    client = login(**who)
    client.headers.pop(sessions.CSRF_HEADER, None)
    client.follow_redirects = False
    return client


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, RESIDENT, 401),
        ("official:power", RESIDENT, 403),
        ("person:hanako", RESIDENT, 200),
        (None, COMPANY, 401),
        ("person:hanako", COMPANY, 403),  # a resident who is no business member
        ("official:power_clerk", COMPANY, 403),  # the company's official, not an administrator
        ("official:power", COMPANY, 200),
        ("official:chiyoda", COMPANY, 200),  # any organization's administrator sees its own
    ],
)
def test_who_may_open_the_pages(
    login: Login, world: World, who: str | None, path: str, status: int
) -> None:
    if who is None:
        client = login()
    elif who.startswith("person:"):
        client = login(person_id=HANAKO)
    else:
        client = login(official_id=world.officials[who.split(":")[1]])
    assert client.get(path).status_code == status


def test_company_registers_with_the_form_and_sees_the_secret_once(
    login: Login, world: World
) -> None:
    client = _form_client(login, official_id=world.officials["power"])
    form = {
        "csrf_token": _csrf(client, COMPANY),
        "corporate_number": "1180301018772",
        "sector": "electricity",
        "webhook_url": "https://power.example/hook",
        "fields_moved": ["new_address", "move_date"],
    }
    refused = client.post(COMPANY, data=form)
    assert refused.status_code == 422 and "法人番号" in refused.text
    assert 'value="1180301018772"' in refused.text  # what was typed is kept
    created = client.post(COMPANY, data={**form, "corporate_number": POWER_NUMBER})
    assert created.status_code == 200 and 'id="webhook-secret"' in created.text
    page = client.get(COMPANY).text
    assert "つなぐ電力株式会社" in page and 'id="webhook-secret"' not in page
    no_token = client.post(COMPANY, data={**form, "csrf_token": "x"})
    assert no_token.status_code == 403
    clerk = _form_client(login, official_id=world.officials["power_clerk"])
    assert clerk.post(COMPANY, data=form).status_code == 403


def test_resident_consents_and_withdraws_with_the_forms(
    login: Login, world: World, receiver: ReceiverThread
) -> None:
    subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
    hanako = _form_client(login, person_id=HANAKO)
    token = _csrf(hanako, RESIDENT)
    form = {"csrf_token": token, "subscriber_id": subscriber, "event": "moved"}
    assert hanako.post(f"{RESIDENT}/consents", data={**form, "fields": []}).status_code == 422
    given = hanako.post(f"{RESIDENT}/consents", data={**form, "fields": ["new_address"]})
    assert given.status_code == 303
    page = hanako.get(f"{RESIDENT}?saved=given").text
    assert "同意済み" in page
    withdraw = re.search(r'action="(/me/life-notices/consents/[^"]+/withdraw)"', page)
    assert withdraw
    taro = _form_client(login, person_id=TARO)
    stolen = taro.post(withdraw.group(1), data={"csrf_token": _csrf(taro, RESIDENT)})
    assert stolen.status_code == 404
    assert hanako.post(withdraw.group(1), data={"csrf_token": token}).status_code == 303
    assert "同意済み" not in hanako.get(RESIDENT).text


def test_company_replays_a_dead_delivery_from_its_page(
    login: Login, world: World, settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    with ReceiverThread(Receiver(fail_first=1)) as flaky:
        subscriber = register(login, world, flaky.url).json()["subscriber"]["id"]
        consent(login, HANAKO, subscriber)
        move(session_factory)
        drain(session_factory, settings, max_attempts=1)
        power = _form_client(login, official_id=world.officials["power"])
        page = power.get(COMPANY).text
        replay = re.search(r'action="(/lifeevent/deliveries/[^"]+/replay)"', page)
        assert replay
        gas = _form_client(login, official_id=world.officials["gas"])
        assert (
            gas.post(replay.group(1), data={"csrf_token": _csrf(gas, COMPANY)}).status_code == 404
        )
        token = _csrf(power, COMPANY)
        assert power.post(replay.group(1), data={"csrf_token": token}).status_code == 303
        drain(session_factory, settings)
        assert flaky.app.accepted == 1
        assert "配信を打ち切り" not in login(person_id=HANAKO).get(RESIDENT).text


# --- in the browser -------------------------------------------------------------------------


def _log_in(page: Page, live_server: str, factory: sessionmaker[Session], **who: str) -> None:
    with transaction(factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=3, **who)  # type: ignore[arg-type]
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_resident_page_passes_axe_and_the_keyboard(
    page: Page, live_server: str, login: Login, world: World, receiver: ReceiverThread,
    settings: Settings, session_factory: sessionmaker[Session], lang: str,
) -> None:  # fmt: skip
    subscriber = register(login, world, receiver.url).json()["subscriber"]["id"]
    consent(login, HANAKO, subscriber)
    move(session_factory)
    drain(session_factory, settings)
    _log_in(page, live_server, session_factory, person_id=HANAKO)
    page.goto(f"{RESIDENT}?lang={lang}")
    expect(page.locator("table.data-table tbody tr")).to_have_count(1)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"{RESIDENT}?lang={lang}")
    # withdraw with the keyboard alone: focus the button, press Enter
    page.goto(f"{RESIDENT}?lang={lang}")
    page.locator("form[action*='/withdraw'] button").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".notice--success")).to_be_visible()
    assert_no_axe_violations(page)


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_company_page_passes_axe_and_the_keyboard(
    page: Page, live_server: str, world: World, session_factory: sessionmaker[Session],
    lang: str,
) -> None:  # fmt: skip
    _log_in(page, live_server, session_factory, official_id=world.officials["power"])
    page.goto(f"{COMPANY}?lang={lang}")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"{COMPANY}?lang={lang}")
    page.goto(f"{COMPANY}?lang={lang}")
    page.locator("#corporate_number").fill(POWER_NUMBER)
    page.locator("#webhook_url").fill("https://power.example/hook")
    page.locator("#fields_moved_new_address").check()
    page.locator("#fields_moved_new_address").press("Enter")  # Enter submits the form
    expect(page.locator("#webhook-secret")).to_be_visible()
    assert_no_axe_violations(page)
