"""The official console in headless Chromium: a reviewer logs in with password and one-time
code, filters the queue, assigns, returns with a reason, approves after the resubmission —
the last part with the keyboard alone — and every console page passes axe-core (ja and en)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.db import transaction
from tsunagu.identity import auth
from tsunagu.procedure import service

from .conftest import Login, World
from .test_console import QUEUE, file, late_tennyu

pytestmark = pytest.mark.browser
PASSWORD = "a long reviewer password 1"


def _log_in(page: Page, world: World) -> None:
    """Password + TOTP on the login page, reached by opening the queue."""
    with transaction(world.factory) as session:
        auth.set_password(
            session, world.settings, password=PASSWORD, official_id=world.osaka_reviewer,
            label="osaka-rev", actor="test",
        )  # fmt: skip
        code = auth.current_totp(world.settings, session, "osaka-rev")
    page.goto(QUEUE)
    assert "/login?next=" in page.url
    page.fill("#login-name", "osaka-rev")
    page.fill("#password", PASSWORD)
    page.fill("#totp", code)
    page.click("form[action='/login/password'] button[type=submit]")
    page.wait_for_url(f"**{QUEUE}")


def _tab_to(page: Page, selector: str, limit: int = 120) -> None:
    """Press Tab until ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def _axe_in_both_languages(page: Page, path: str) -> None:
    for lang in ("ja", "en"):
        page.goto(f"{path}{'&' if '?' in path else '?'}lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        assert_no_axe_violations(page)


def test_reviewer_returns_then_approves_with_the_keyboard(
    page: Page, world: World, login: Login
) -> None:
    wrong = late_tennyu(household={"head_name": "山田 花子", "relationship": "同居人"})
    app = file(world, wrong)
    other = file(world)  # stays unassigned
    _log_in(page, world)
    _axe_in_both_languages(page, QUEUE)
    assert_keyboard_accessible(page, QUEUE)

    # filter: unassigned, overdue or not — both are listed; "mine" lists none yet
    page.goto(f"{QUEUE}?lang=ja")
    page.select_option("#filter-assigned", "me")
    page.click("form.console-filters button[type=submit]")
    page.wait_for_url("**assigned=me**")
    assert page.locator("text=該当する申請はありません。").is_visible()
    page.select_option("#filter-assigned", "unassigned")
    page.select_option("#filter-status", "submitted")
    page.click("form.console-filters button[type=submit]")
    page.wait_for_url("**assigned=unassigned**")
    assert page.locator(f"a[href='{QUEUE}/{app.id}']").is_visible()
    assert page.locator(f"a[href='{QUEUE}/{other.id}']").is_visible()

    # open, assign to oneself, return with a reason (a blank reason is refused inline)
    page.click(f"a[href='{QUEUE}/{app.id}']")
    page.wait_for_url(f"**{QUEUE}/{app.id}")
    assert page.locator("text=同居人").first.is_visible()
    _axe_in_both_languages(page, f"{QUEUE}/{app.id}")
    page.goto(f"{QUEUE}/{app.id}")
    page.click("form[action$='/assign'] button[type=submit]")
    page.wait_for_url("**done=assigned")
    assert page.get_by_role("status").inner_text() == "担当者を割り当てました。"
    page.click("form[action$='/return'] button[type=submit]")
    page.wait_for_selector("#error-summary")
    assert page.locator("#return-reason").get_attribute("aria-invalid") == "true"
    assert_no_axe_violations(page)  # the page with the inline error
    reason = "世帯主との続柄をご確認ください。"
    page.fill("#return-reason", reason)
    page.click("form[action$='/return'] button[type=submit]")
    page.wait_for_url("**done=returned")

    # the applicant reads the reason, corrects the form and signs again
    hanako = login(person=world.hanako)
    assert hanako.get(f"/api/applications/{app.id}").json()["status"] == "returned"
    assert reason in hanako.get(f"/applications/{app.id}").text  # the applicant's status page
    assert [c["body"] for c in hanako.get(f"/api/applications/{app.id}/comments").json()] == [
        reason
    ]
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        service.update(session, actor, app.id, late_tennyu())
        draft = service.get(session, actor, app.id)
        service.submit(
            session, actor, app.id, world.sign(world.hanako, service.document(draft)),
            store=world.store,
        )  # fmt: skip

    # queue → detail → assign → approve, keyboard only
    page.goto(f"{QUEUE}?status=submitted")
    _tab_to(page, f"a[href='{QUEUE}/{app.id}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**{QUEUE}/{app.id}")
    _tab_to(page, "form[action$='/assign'] button")
    page.keyboard.press("Enter")
    page.wait_for_url("**done=assigned")
    assert_keyboard_accessible(page, f"{QUEUE}/{app.id}")
    page.goto(f"{QUEUE}/{app.id}")
    _tab_to(page, "#decision-outcome")
    page.keyboard.press("ArrowDown")  # a closed select changes its value with the arrow keys
    _tab_to(page, "#decision-reason")
    page.keyboard.type("続柄を確認しました。")
    _tab_to(page, "form[action$='/decision'] button")
    page.keyboard.press("Enter")
    page.wait_for_url("**done=approved")
    assert "申請を承認しました" in page.get_by_role("status").inner_text()
    assert_no_axe_violations(page)
    world.drain()  # the worker signs and issues the notice
    page.reload()
    assert page.locator("a[href$='/decision.pdf']").is_visible()
    assert hanako.get(f"/api/applications/{app.id}").json()["status"] == "approved"
