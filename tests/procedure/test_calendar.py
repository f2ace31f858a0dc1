"""Business days follow Saturdays/Sundays, national holidays and the year-end closure."""

from __future__ import annotations

from datetime import date

import pytest

from tsunagu.procedure.calendar import add_business_days, business_days_between, is_business_day


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2025, 4, 1), True),  # Tuesday
        (date(2025, 4, 5), False),  # Saturday
        (date(2025, 5, 5), False),  # こどもの日
        (date(2025, 5, 6), False),  # 振替休日
        (date(2025, 12, 29), False),  # 年末
        (date(2026, 1, 2), False),  # 年始
        (date(2026, 1, 5), True),
    ],
)
def test_is_business_day(day: date, open_: bool) -> None:
    assert is_business_day(day) is open_


def test_golden_week_is_skipped() -> None:
    # 2025-05-02 (Fri) + 1 business day: 3 (Sat, 憲法記念日), 4, 5, 6 (振替) closed → 7 May
    assert add_business_days(date(2025, 5, 2), 1) == date(2025, 5, 7)
    assert add_business_days(date(2025, 5, 2), 0) == date(2025, 5, 2)
    assert business_days_between(date(2025, 5, 2), date(2025, 5, 7)) == 1
    assert business_days_between(date(2025, 5, 7), date(2025, 5, 2)) == 0


def test_year_end() -> None:
    assert add_business_days(date(2025, 12, 26), 1) == date(2026, 1, 5)


def test_negative_days_refused() -> None:
    with pytest.raises(ValueError):
        add_business_days(date(2025, 1, 6), -1)
