"""The officials' pages in headless Chromium: axe-core finds nothing, the keyboard reaches all."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.anonymize.conftest import World
from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.rendering import LANGUAGE_COOKIE
from tsunagu.identity import sessions

pytestmark = pytest.mark.browser


def _log_in(
    page: Page, live_server: str, factory: sessionmaker[Session], official: str, lang: str
) -> None:
    """An official's session cookie, and the language chosen for every page."""
    with transaction(factory) as session:
        started = sessions.start(session, method="test", ial=2, aal=2, official_id=official)
    page.context.add_cookies(
        [
            {"name": sessions.COOKIE, "value": started.token, "url": live_server},
            {"name": LANGUAGE_COOKIE, "value": lang, "url": live_server},
        ]
    )


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_pages_pass_axe_and_work_by_keyboard(
    page: Page,
    live_server: str,
    world: World,
    session_factory: sessionmaker[Session],
    settings: Settings,
    csv_text: str,
    lang: str,
) -> None:
    _log_in(page, live_server, session_factory, world.officials["publisher"], lang)
    page.goto("/anonymize")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, "/anonymize")

    # Upload by keyboard-operable controls, then configure with the form.
    # with a date column, so the date levels are offered too
    table = pl.read_csv(csv_text.encode()).with_columns(
        moved_in=pl.date_range(date(2000, 1, 1), date(2005, 6, 23), eager=True)[:2000]
    )
    source = settings.var_dir.parent / "residents.csv"
    table.write_csv(source)
    page.goto("/anonymize")
    page.set_input_files("#file", str(source))
    page.locator("form[action='/anonymize/work'] button[type=submit]").click()
    expect(page.locator("#role_1")).to_be_visible()
    expect(page.locator("#levels_6_year")).to_be_checked()
    work_path = page.url.removeprefix(live_server)
    assert_no_axe_violations(page)
    for index, role in ((0, "identifier"), (1, "quasi_identifier"), (2, "quasi_identifier")):
        page.select_option(f"#role_{index}", role)
    page.select_option("#role_3", "quasi_identifier")
    page.select_option("#role_5", "sensitive")
    page.locator("form[action$='/run'] button[type=submit]").click()
    expect(page.locator("#result")).to_be_visible()
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, work_path)
    # a mistake is announced and the page still passes
    page.fill("#config-text", "attributes: {salary: {role: quasi_identifier}}")
    page.locator("form[action$='/run-yaml'] button[type=submit]").click()
    expect(page.locator("#form-error")).to_be_visible()
    assert_no_axe_violations(page)

    # Record, seal and publish; the release page passes at every step.
    page.fill("#title", "住民の属性")
    page.fill("#provision", "オープンデータカタログでの公開")
    page.locator("form[action$='/release'] button[type=submit]").click()
    expect(page.locator("form[action$='/sign']")).to_be_visible()
    release_path = page.url.removeprefix(live_server)
    assert_no_axe_violations(page)
    page.locator("form[action$='/sign'] button").focus()
    page.keyboard.press("Enter")
    expect(page.locator("form[action$='/publish']")).to_be_visible()
    assert_no_axe_violations(page)
    page.locator("form[action$='/publish'] button").click()
    dataset = f"/dataset/anonymized-{release_path.rsplit('/', 1)[1]}"
    expect(page.locator(f"a[href='{dataset}']")).to_be_visible()
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, release_path)
