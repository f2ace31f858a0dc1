"""Browser-test infrastructure shared by every module (pytest plugin).

- ``live_server``: the app of the ``app`` fixture served by uvicorn on a free
  127.0.0.1 port in a background thread; its base URL.
- ``browser``: Debian's headless Chromium driven by Playwright (never a
  downloaded browser).
- ``page``: a fresh browser context (no cookies) whose relative URLs resolve
  against the live server, so ``page.goto("/")`` opens the home page.
- ``assert_no_axe_violations(page)``: axe-core finds nothing on the page.
- ``assert_keyboard_accessible(page, path)``: skip link first, Enter moves
  focus to ``main``, every control reachable with Tab and visibly focused.

Mark browser tests ``@pytest.mark.browser``: they then run on SQLite only
(the browser exercises pages, not the database backend). Without
``/usr/bin/chromium`` they are skipped, except in CI (``CI`` set), where a
missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 15.0
PAGE_TIMEOUT_MS = 10_000
# WCAG 2.x 1.4.11 / 2.4.13: a focus indicator needs 3:1 against what surrounds it.
FOCUS_MIN_CONTRAST = 3.0
FOCUS_MIN_OUTLINE_PX = 2.0


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run ``browser``-marked tests on the SQLite database only.

    A parametrize mark on the test takes precedence over the fixture's own
    sqlite/postgresql parameters, so adding it here is enough.
    """
    if metafunc.definition.get_closest_marker("browser") and "database_url" in (
        metafunc.fixturenames
    ):
        metafunc.definition.add_marker(
            pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
        )


# --- server ---------------------------------------------------------------------------


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """Base URL of ``app`` served over real HTTP, for a browser to visit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_TIMEOUT)
        sock.close()


# --- browser --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for the whole session."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium (make browser)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; in CI a missing browser is a failure")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A page in a fresh context (Japanese browser, no cookies) on the live server."""
    context = browser.new_context(base_url=live_server, locale="ja-JP")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- accessibility checks -------------------------------------------------------------


def assert_no_axe_violations(page: Page) -> None:
    """axe-core (every rule it runs by default: WCAG 2.x A/AA and best practices) finds nothing."""
    results = Axe().run(page)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


_FOCUSABLE_JS = """
() => {
  const selector = 'a[href], area[href], button, input, select, textarea, summary, iframe, '
    + '[tabindex], [contenteditable=""], [contenteditable="true"]';
  // A radio group is one Tab stop (its checked radio, else its first); arrows move within it.
  const groupStop = el => {
    const group = [...document.getElementsByName(el.name)].filter(r => r.type === 'radio');
    return group.find(r => r.checked) || group[0];
  };
  const found = [...document.querySelectorAll(selector)].filter(el =>
    el.tabIndex >= 0 && !el.disabled && !el.closest('[inert]')
    && el.checkVisibility({visibilityProperty: true})
    && (el.type !== 'radio' || !el.name || groupStop(el) === el));
  found.forEach((el, i) => el.setAttribute('data-keyboard-check', String(i)));
  return found.map(el => el.outerHTML.slice(0, 120));
}
"""

_FOCUS_STATE_JS = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const style = getComputedStyle(el);
  let back = null;
  for (let node = el.parentElement; node && !back; node = node.parentElement) {
    const color = getComputedStyle(node).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(color) && color !== 'transparent') back = color;
  }
  const box = el.getBoundingClientRect();
  return {
    index: el.getAttribute('data-keyboard-check'),
    id: el.id,
    html: el.outerHTML.slice(0, 120),
    href: el.getAttribute('href'),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth),
    outlineColor: style.outlineColor,
    background: back || 'rgb(255, 255, 255)',
    inViewport: box.width > 0 && box.height > 0 && box.bottom > 0 && box.right > 0
      && box.top < innerHeight && box.left < innerWidth,
  };
}
"""


def _rgb(color: str) -> tuple[float, float, float]:
    numbers = re.findall(r"[\d.]+", color)
    if not color.startswith("rgb") or len(numbers) < 3:
        raise AssertionError(f"unexpected computed color {color!r}")
    red, green, blue = (float(n) for n in numbers[:3])
    return red, green, blue


def _luminance(color: str) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(v) for v in _rgb(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS ``rgb()``/``rgba()`` colors (alpha ignored)."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _assert_visible_focus(state: dict[str, object]) -> None:
    where = state["html"]
    assert state["inViewport"], f"focused element is off screen: {where}"
    assert state["outlineStyle"] not in ("none", "hidden"), f"no focus outline: {where}"
    width = state["outlineWidth"]
    assert isinstance(width, float | int) and width >= FOCUS_MIN_OUTLINE_PX, (
        f"focus outline thinner than {FOCUS_MIN_OUTLINE_PX}px: {where}"
    )
    ratio = contrast_ratio(str(state["outlineColor"]), str(state["background"]))
    assert ratio >= FOCUS_MIN_CONTRAST, f"focus outline contrast {ratio:.2f}:1: {where}"


def _focus_state(page: Page) -> dict[str, object] | None:
    state: dict[str, object] | None = page.evaluate(_FOCUS_STATE_JS)
    return state


def assert_keyboard_accessible(page: Page, path: str) -> None:
    """The page at ``path`` can be used with the keyboard alone.

    Tab from the top reaches the skip link first and shows it; Enter on it
    moves focus to ``main``; tabbing on visits every visible control, each
    with an outline of at least 2px and 3:1 contrast, without getting stuck.
    """
    page.goto(path)
    page.keyboard.press("Tab")
    first = _focus_state(page)
    assert first is not None, "Tab from the top focused nothing"
    assert first["href"] == "#main", f"first Tab stop is not the skip link: {first['html']}"
    _assert_visible_focus(first)
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'main'")

    page.goto(path)
    controls = page.evaluate(_FOCUSABLE_JS)
    reached: set[str] = set()
    for _ in range(len(controls) + 2):
        page.keyboard.press("Tab")
        state = _focus_state(page)
        if state is None or state["index"] in reached:
            break
        assert state["index"] is not None, f"focus landed outside the controls: {state['html']}"
        _assert_visible_focus(state)
        reached.add(str(state["index"]))
    missing = [html for i, html in enumerate(controls) if str(i) not in reached]
    assert not missing, f"not reachable with Tab: {missing}"
