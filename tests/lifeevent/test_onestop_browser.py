"""Moving in headless Chromium: the card in this browser, one form (the household shown, an
error fixed without losing anything), one signature for every part, and the tracker. Every
page passes axe-core and works with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.lifeevent.movers import Movers, values
from tests.procedure.conftest import World
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import card, sessions
from tsunagu.identity import service as parties
from tsunagu.identity.schemas import OfficialIn, OfficialRole

pytestmark = pytest.mark.browser
PIN = "246813"


def _enrollment_code(world: World, person_id: str) -> str:
    with transaction(world.factory) as session:
        counter = parties.create_official(
            session,
            OfficialIn(organization_id=world.chiyoda, display_name="窓口",
                       login_name="chiyoda-counter", roles=[OfficialRole.COUNTER_STAFF]),
            actor="test",
        ).id  # fmt: skip
    with transaction(world.factory) as session:
        actor = world.official(counter)
        return card.issue_at_counter(session, actor, person_id=person_id, document="passport").code


def test_moving_in_the_browser(
    page: Page, live_server: str, settings: Settings, world: World, movers: Movers
) -> None:
    settings.base_url = live_server  # login challenges are bound to this origin
    page.goto("/wallet/enroll")
    page.get_by_label("窓口で受け取ったコード", exact=True).fill(
        _enrollment_code(world, movers.head)
    )
    page.locator("#enroll-pin").fill(PIN)
    page.locator("#enroll-pin2").fill(PIN)
    page.locator("#enroll-pin2").press("Enter")
    expect(page.locator("#wallet-status")).to_contain_text("証明書の準備ができました")

    page.goto("/life-events")
    assert_no_axe_violations(page)
    page.get_by_role("link", name="引越し").click()
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="このブラウザの証明書でログイン").click()
    page.wait_for_url("**/life-events/moving")
    expect(page.get_by_role("table")).to_contain_text("中村 蓮")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, "/life-events/moving")

    # keyboard only: choose, type, forget the town, submit with Enter
    typed = values()
    page.goto("/life-events/moving")
    page.locator("#q-scope-other_city").focus()
    page.keyboard.press("Space")
    page.locator("#f-move_date").focus()
    page.keyboard.type(typed["move_date"])
    page.locator("#f-new_address-municipality_code").focus()
    page.keyboard.type(typed["new_address.municipality_code"])
    page.locator("#f-new_address-block").focus()
    page.keyboard.type(typed["new_address.block"])
    page.keyboard.press("Enter")
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(page.locator("#f-new_address-town")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-new_address-block")).to_have_value(typed["new_address.block"])
    assert_no_axe_violations(page)
    summary.get_by_role("link").first.focus()
    page.keyboard.press("Enter")
    page.locator("#f-new_address-town").focus()
    page.keyboard.type(typed["new_address.town"])
    page.keyboard.press("Enter")

    # one signature for every part
    page.wait_for_url(re.compile(r".*/life-events/filings/[0-9a-f-]{36}/sign$"))
    expect(page.locator("main")).to_contain_text("自動車の変更登録")
    assert_no_axe_violations(page)
    page.get_by_label("このブラウザの証明書の暗証番号", exact=True).fill(PIN)
    page.get_by_role("button", name="まとめて署名して提出する").click()
    page.wait_for_url(re.compile(r".*/life-events/filings/[0-9a-f-]{36}$"))
    expect(page.get_by_role("status")).to_contain_text("児童手当")  # the one still pending
    assert_no_axe_violations(page)
    tracker = page.url.removeprefix(live_server)
    assert_keyboard_accessible(page, tracker)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_life_event_pages_in_both_languages(
    page: Page, live_server: str, world: World, movers: Movers, lang: str
) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=2, person_id=movers.head)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    bundles = ("moving", "death", "care", "birth")
    for path in (f"/life-events?lang={lang}", *(f"/life-events/{b}?lang={lang}" for b in bundles)):
        page.goto(path)
        assert_no_axe_violations(page)
        assert_keyboard_accessible(page, path)
    # an error shown on the death form: summary and inline, still accessible
    page.goto(f"/life-events/death?lang={lang}")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    assert_no_axe_violations(page)
