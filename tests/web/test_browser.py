"""The web shell in headless Chromium: axe-core, keyboard use, language switch, reflow."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from playwright.sync_api import Page, expect

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(
    ("path", "lang", "heading"),
    [
        ("/", "ja", "つながる行政サービス"),
        ("/?lang=en", "en", "Government services, connected"),
        ("/no-such-page", "ja", "ページが見つかりません"),
        ("/no-such-page?lang=en", "en", "Page not found"),
    ],
    ids=["home-ja", "home-en", "not-found-ja", "not-found-en"],
)
def test_pages_have_no_axe_violations(page: Page, path: str, lang: str, heading: str) -> None:
    page.goto(path)
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_no_axe_violations(page)


def test_server_error_page_has_no_axe_violations(page: Page, app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("test failure")

    app.include_router(router)
    response = page.goto("/boom")
    assert response is not None and response.status == 500
    expect(page.get_by_role("heading", level=1)).to_have_text("システムエラー")
    assert_no_axe_violations(page)


def test_layout_landmarks(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("contentinfo")).to_have_count(1)
    expect(page.get_by_role("navigation", name="言語")).to_have_count(1)
    english = page.get_by_role("link", name="English")
    expect(english).to_have_attribute("lang", "en")


def test_home_page_works_with_the_keyboard(page: Page) -> None:
    assert_keyboard_accessible(page, "/")
    assert_keyboard_accessible(page, "/?lang=en")


def test_not_found_page_works_with_the_keyboard(page: Page) -> None:
    assert_keyboard_accessible(page, "/no-such-page")


def test_language_switch_by_clicking_keeps_the_page(page: Page) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Government services, connected")

    # The choice is remembered, and switching from a deeper page comes back to it.
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    page.get_by_role("link", name="日本語").click()
    assert page.url.endswith("/no-such-page")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("ページが見つかりません")


def test_language_switch_with_the_keyboard(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="English").focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("width", [320, 768, 1280])
def test_content_reflows_without_horizontal_scrolling(page: Page, width: int) -> None:
    """WCAG 1.4.10: usable at 320 CSS px wide (400% zoom of 1280) without scrolling sideways."""
    page.set_viewport_size({"width": width, "height": 800})
    for path in ("/", "/?lang=en", "/no-such-page?lang=en"):
        page.goto(path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px"


def test_design_tokens_are_applied(page: Page) -> None:
    page.goto("/")
    body = page.locator("body")
    expect(body).to_have_css("color", "rgb(26, 26, 26)")  # --color-neutral-solid-gray-900
    expect(page.locator(".site-header")).to_have_css(
        "border-top-color",
        "rgb(0, 23, 193)",  # --color-primitive-blue-900
    )
