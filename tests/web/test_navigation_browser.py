"""Navigation in headless Chromium: the home page and "My page" pass axe-core in Japanese
and English, and "My page" works with the keyboard alone — Tab reaches every link in order,
Enter follows one."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.identity import sessions
from tsunagu.identity.navigation import Audience
from tsunagu.web.navigation import ENTRY_POINTS

from .navigation_world import People, people_fixture, settings_fixture  # noqa: F401

pytestmark = pytest.mark.browser

RESIDENT_PATHS = [entry.path for entry in ENTRY_POINTS if entry.audience is Audience.RESIDENT]
PUBLIC_PATHS = [entry.path for entry in ENTRY_POINTS if entry.audience is Audience.PUBLIC]

_FOCUSED_LINK_IN_MAIN = """
() => {
  const el = document.activeElement;
  return el && el.closest('main') && el.getAttribute('href');
}
"""


def _tab_through_main(page: Page, stops: int) -> list[str]:
    """The links of ``main`` that Tab focuses, in the order it focuses them, once round."""
    reached: list[str] = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        href = page.evaluate(_FOCUSED_LINK_IN_MAIN)
        if href in reached:  # focus went round the page and came back
            break
        if href:
            reached.append(href)
    return reached


def _log_in(page: Page, live_server: str, token: str) -> None:
    page.context.add_cookies([{"name": sessions.COOKIE, "value": token, "url": live_server}])


@pytest.mark.parametrize(("lang", "services"), [("ja", "サービス"), ("en", "Services")])
def test_home_lists_the_public_pages(page: Page, lang: str, services: str) -> None:
    page.goto(f"/?lang={lang}")
    section = page.get_by_role("region", name=services)
    for path in PUBLIC_PATHS:
        expect(section.locator(f'a[href="{path}"]')).to_have_count(1)
    assert_no_axe_violations(page)


@pytest.mark.parametrize(
    ("lang", "heading", "link"),
    [("ja", "マイページ", "わたしの申請"), ("en", "My page", "My applications")],
)
def test_my_page_is_accessible_and_works_with_the_keyboard(
    page: Page,
    live_server: str,
    people: People,
    lang: str,
    heading: str,
    link: str,
) -> None:
    _log_in(page, live_server, people.resident)
    page.goto(f"/lang/{lang}?next=/")  # the header's "My page" link leads to the hub
    page.get_by_role("navigation", name="アカウント" if lang == "ja" else "Account").get_by_role(
        "link", name=heading
    ).click()
    page.wait_for_url("**/me")
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_role("link", name=link)).to_be_visible()
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, "/me")

    page.goto("/me")
    assert _tab_through_main(page, 30) == RESIDENT_PATHS
    page.goto("/me")
    target = RESIDENT_PATHS[-1]
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(_FOCUSED_LINK_IN_MAIN) == target:
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{target}")
