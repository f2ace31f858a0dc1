"""The public inventory page (行政手続の棚卸): content in both languages, axe-core, keyboard."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.db import transaction
from tsunagu.procedure import service

from .conftest import World, tennyu_form


def test_inventory_page_is_public_and_shows_live_figures(world: World, client: TestClient) -> None:
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "tennyu", tennyu_form())
        signature = world.sign(world.hanako, service.document(draft))
        service.submit(session, actor, draft.id, signature, store=world.store)
    ja = client.get("/procedures/inventory?lang=ja")
    assert ja.status_code == 200 and ja.headers["content-language"] == "ja"
    assert "行政手続の棚卸" in ja.text and "転入届" in ja.text and "死亡届" in ja.text
    assert "100.0%" in ja.text  # the 転入届 was decided automatically
    en = client.get("/procedures/inventory?lang=en").text
    assert "Inventory of procedures" in en and "Notification of moving in" in en


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_inventory_page_passes_axe_and_the_keyboard(
    page: Page, live_server: str, lang: str
) -> None:
    page.goto(f"/procedures/inventory?lang={lang}")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, f"/procedures/inventory?lang={lang}")
