"""The certificate verification page and the resident's inbox in headless Chromium: axe-core
finds nothing, the keyboard reaches everything, and a number typed in verifies."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.db import transaction
from tsunagu.identity import sessions

from .conftest import World
from .test_certificates import JUMINHYO, certificate_of, request

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_verification_page_with_the_keyboard(
    page: Page, live_server: str, world: World, lang: str
) -> None:
    row = certificate_of(world, request(world, world.taro, "juminhyo_kofu", JUMINHYO))
    page.goto(f"/certificates/verify?lang={lang}")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"/certificates/verify?lang={lang}")
    page.goto(f"/certificates/verify?lang={lang}")
    page.locator("#number").focus()
    page.keyboard.type(row.number.lower())
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#certificate-status")).to_contain_text("有効" if lang == "ja" else "Valid")
    assert_no_axe_violations(page)
    page.goto(f"/certificates/verify?number=0000-0000-0000-0000-0&lang={lang}")
    expect(page.locator("#form-error")).to_be_visible()
    assert_no_axe_violations(page)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_inbox_page_with_the_keyboard(
    page: Page, live_server: str, world: World, lang: str
) -> None:
    request(world, world.taro, "juminhyo_kofu", JUMINHYO)
    with transaction(world.factory) as session:
        started = sessions.start(session, method="card", ial=3, aal=2, person_id=world.taro)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto(f"/inbox?lang={lang}")
    expect(page.locator("table.inbox-table tbody tr")).to_have_count(2)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"/inbox?lang={lang}")
