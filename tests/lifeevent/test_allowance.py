"""The child-allowance calculator: known amounts under each rule version, and who may ask."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tests.procedure.conftest import Login, World
from tsunagu.core.errors import ValidationError
from tsunagu.lifeevent.allowance import ChildIn, calculate, end_of_fiscal_year_of_age

from .conftest import Family


def _total(births: list[str], on: str, income: str = "under_limit") -> tuple[str, int, list[int]]:
    result = calculate(
        [ChildIn(date.fromisoformat(b), str(i)) for i, b in enumerate(births)],
        date.fromisoformat(on),
        income=income,
    )
    return result.version.id, result.monthly_total, [c.amount for c in result.children]


@pytest.mark.parametrize(
    ("births", "on", "expected"),
    [
        # Three children aged 1, 10 and 19 in 2025: the 19-year-old is no longer paid for
        # but, under 22, still counts, so the 1-year-old is the third child (¥30,000).
        (
            ["2024-03-10", "2015-05-05", "2006-05-20"],
            "2025-07-15",
            ("r6-10", 40000, [30000, 10000, 0]),
        ),
        # The same family in September 2024 (old rules): the eldest, 18, is counted but not paid;
        # the 9-year-old is in primary school (2nd, ¥10,000); the baby is under 3 (¥15,000).
        (
            ["2024-03-10", "2015-05-05", "2006-05-20"],
            "2024-09-01",
            ("r4-10", 25000, [15000, 10000, 0]),
        ),
        # High-school age is paid from October 2024 on, not before.
        (["2008-06-01"], "2024-09-01", ("r4-10", 0, [0])),
        (["2008-06-01"], "2024-10-01", ("r6-10", 10000, [10000])),
        # Old rules: third child ¥15,000 from 3 to the end of primary school; junior high ¥10,000.
        (
            ["2010-05-01", "2013-05-01", "2016-05-01"],
            "2020-06-01",
            ("h24-06", 35000, [10000, 10000, 15000]),
        ),
        (
            ["2004-05-01", "2007-05-01", "2010-05-01"],
            "2020-06-01",
            ("h24-06", 25000, [0, 10000, 15000]),
        ),
        # The same ages under the 2024 rules: everyone to 18 is paid, the third child ¥30,000.
        (
            ["2009-05-01", "2012-05-01", "2015-05-01"],
            "2025-06-01",
            ("r6-10", 50000, [10000, 10000, 30000]),
        ),
        # Two under 3, then a fourth child: 3rd and later are all ¥30,000.
        (
            ["2019-01-01", "2020-01-01", "2023-01-01", "2024-06-01"],
            "2025-06-01",
            ("r6-10", 80000, [10000, 10000, 30000, 30000]),
        ),
        # Not yet born: nothing, not counted.
        (["2026-01-01"], "2025-06-01", ("r6-10", 0, [0])),
    ],
)
def test_known_amounts(births: list[str], on: str, expected: tuple[str, int, list[int]]) -> None:
    assert _total(births, on) == expected


def test_under_three_ends_with_the_birthday_month() -> None:
    assert _total(["2022-05-15"], "2025-05-31")[1] == 15000
    assert _total(["2022-05-15"], "2025-06-01")[1] == 10000
    # Born on the 1st: three years have passed at the end of 30 April, so May is at age 3.
    assert _total(["2022-05-01"], "2025-05-01")[1] == 10000


def test_fiscal_year_of_an_age_follows_the_age_calculation_act() -> None:
    # Born on 1 April: reaches 18 on 31 March, in the earlier fiscal year (早生まれ).
    assert end_of_fiscal_year_of_age(date(2007, 4, 1), 18) == date(2025, 3, 31)
    assert end_of_fiscal_year_of_age(date(2007, 4, 2), 18) == date(2026, 3, 31)
    assert _total(["2007-04-01"], "2025-04-01")[1] == 0
    assert _total(["2007-04-02"], "2025-04-01")[1] == 10000


def test_income_limits_by_version() -> None:
    births = ["2010-05-01", "2013-05-01", "2016-05-01"]
    assert _total(births, "2020-06-01", "above_limit")[1] == 15000  # 特例給付 ¥5,000 each
    assert _total(births, "2020-06-01", "above_upper_limit")[1] == 15000  # no upper limit yet
    assert _total(births, "2023-06-01", "above_upper_limit")[1] == 0  # from October 2022
    assert _total(["2015-05-01"], "2025-06-01", "above_upper_limit")[1] == 10000  # no limit


def test_payments_and_the_version_in_force() -> None:
    old = calculate([ChildIn(date(2020, 5, 1))], date(2024, 9, 30))
    assert (old.version.id, old.payment_months, old.per_payment) == ("r4-10", (2, 6, 10), 40000)
    new = calculate([ChildIn(date(2020, 5, 1))], date(2024, 10, 1))
    assert (new.version.id, new.payment_months, new.per_payment) == (
        "r6-10", (2, 4, 6, 8, 10, 12), 20000
    )  # fmt: skip
    assert new.version.valid_from == date(2024, 10, 1)
    with pytest.raises(ValidationError):
        calculate([ChildIn(date(2010, 5, 1))], date(2012, 5, 31))
    with pytest.raises(ValidationError):
        calculate([ChildIn(date(2010, 5, 1))], date(2025, 5, 31), income="rich")


def test_reasoning_names_age_order_and_version() -> None:
    result = calculate(
        [ChildIn(date(2024, 3, 10), "a"), ChildIn(date(2006, 5, 20), "c")], date(2025, 7, 15)
    )
    baby, grown = result.children
    assert (baby.age, baby.birth_order, baby.band and baby.band.id) == (1, 2, "under_3")
    assert "第2子" in baby.reason.ja and "2nd child" in baby.reason.en
    assert (grown.age, grown.birth_order, grown.eligible, grown.counted) == (19, 1, False, True)
    assert "22" in grown.reason.en


# --- API and pages ---------------------------------------------------------------------------


def test_public_api_calculates_for_anyone(client: TestClient) -> None:
    body = {
        "on": "2025-07-15",
        "children": [
            {"birth_date": "2024-03-10", "label": "末っ子"},
            {"birth_date": "2015-05-05"},
            {"birth_date": "2006-05-20"},
        ],
    }
    answer = client.post("/api/child-allowance", json=body)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert (data["version_id"], data["version_valid_from"], data["monthly_total"]) == (
        "r6-10", "2024-10-01", 40000
    )  # fmt: skip
    first = data["children"][0]
    assert (first["label"], first["birth_order"], first["amount"]) == (
        "末っ子", 3, 30000
    )  # fmt: skip
    assert (
        client.post("/api/child-allowance", json={"children": [{"birth_date": "x"}]}).status_code
        == 422
    )
    too_many = {"children": [{"birth_date": "2020-01-01"}] * 21}
    assert client.post("/api/child-allowance", json=too_many).status_code == 422
    early = client.post("/api/child-allowance", json={**body, "on": "2011-01-01"})
    assert early.status_code == 400 or early.status_code == 422


def test_resident_api_uses_the_household_in_the_register(
    world: World, family: Family, login: Login, client: TestClient
) -> None:
    assert client.get("/api/me/child-allowance").status_code == 401
    data = login(person=family.ichiro).get("/api/me/child-allowance?on=2026-06-15").json()
    assert data["monthly_total"] == 30000  # 健 and 芽衣 under 3; 翼 lives elsewhere
    assert sorted(c["label"] for c in data["children"]) == ["健", "芽衣"]
    # Another household's resident sees their own (none), never this one.
    other = login(person=world.stranger).get("/api/me/child-allowance?on=2026-06-15").json()
    assert other["children"] == [] and other["monthly_total"] == 0
    official = login(official=world.chiyoda_reviewer)
    assert official.get("/api/me/child-allowance").status_code == 403


def test_calculator_page_in_both_languages(client: TestClient) -> None:
    query = "birth_date=2024-03-10&birth_date=2015-05-05&birth_date=2006-05-20&on=2025-07-15"
    ja = client.get(f"/child-allowance?{query}&lang=ja")
    assert ja.status_code == 200
    assert "児童手当" in ja.text and "月額: 40,000 円" in ja.text and "令和6年10月" in ja.text
    assert "第3子" in ja.text
    en = client.get(f"/child-allowance?{query}&lang=en").text
    assert "Child allowance calculator" in en and "3rd child" in en and "October 2024" in en
    assert "Monthly amount: ¥40,000" in en
    wrong = client.get("/child-allowance?birth_date=2024-13-01&lang=en")
    assert wrong.status_code == 200 and 'aria-invalid="true"' in wrong.text
    assert "Enter a date like 2025-04-01." in wrong.text


def test_household_page_needs_a_resident(
    world: World, family: Family, login: Login, client: TestClient
) -> None:
    assert client.get("/me/child-allowance").status_code == 401
    page = login(person=family.ichiro).get("/me/child-allowance?on=2026-06-15&lang=ja")
    assert page.status_code == 200 and "月額: 30,000 円" in page.text and "芽衣" in page.text


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_calculator_passes_axe_and_the_keyboard(page: Page, lang: str) -> None:
    path = f"/child-allowance?lang={lang}&birth_date=2024-03-10&birth_date=2006-05-20&on=2025-07-15"
    page.goto(path)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, path)
    page.goto(f"/child-allowance?lang={lang}")
    page.fill("#birth_date_1", "2015-05-05")
    page.locator("button[type=submit]").press("Enter")
    page.wait_for_url("**birth_date=2015-05-05**")
    assert "10,000" in page.locator("#result-title").locator("..").inner_text()
    assert_no_axe_violations(page)
