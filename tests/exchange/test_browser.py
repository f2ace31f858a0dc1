"""The resident's access-log page in headless Chromium: axe-core finds nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.exchange.conftest import HANAKO, World
from tests.exchange.test_api import _fetch_as_chiyoda
from tests.exchange.test_api import actors as actors  # the fixture
from tsunagu.core.db import transaction
from tsunagu.identity import sessions

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.usefixtures("actors")
def test_access_log_page_passes_axe(
    page: Page,
    live_server: str,
    world: World,
    session_factory: sessionmaker[Session],
    lang: str,
) -> None:
    _fetch_as_chiyoda(session_factory, world, f"JT-{lang}")
    with transaction(session_factory) as session:
        started = sessions.start(session, method="test", ial=3, aal=3, person_id=HANAKO)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )
    page.goto(f"/me/access-log?lang={lang}")
    expect(page.locator("table.access-log tbody tr")).to_have_count(1)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"/me/access-log?lang={lang}")
