"""The child-allowance calculator (児童手当): a household's monthly amount with its reasoning.

The amounts and counting rules are data (``packs/<pack>/lifeevents/child_allowance.yaml``),
one version per revision of the Act with the day it took effect, so a month is always
calculated with the rules in force then (October 2024 changed the ages, the third-child
amount and the income limit) and the answer names the version it used.

Ages follow the Act on Calculating Age: a child reaches an age at the end of the day
before the birthday, so "the fiscal year in which the child reaches 18" for a child born
on 1 April is the earlier one. Everything is decided for the first day of the month.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.packs import DEFAULT_PACK, PackError, load_document
from tsunagu.procedure.rules import add_months
from tsunagu.registry import service as registry
from tsunagu.registry.definitions import Names, parse_names

DOCUMENT = "lifeevents/child_allowance.yaml"
INCOMES = ("under_limit", "above_limit", "above_upper_limit")
MAX_CHILDREN = 20


@dataclass(frozen=True)
class Band:
    """An age band: under ``under_months`` months, or until the end of the fiscal year of an age."""

    id: str
    name: Names
    under_months: int | None
    until_fiscal_year_of_age: int | None
    amounts: tuple[int, int, int]  # 1st, 2nd, 3rd and later child

    def holds(self, birth: date, month_start: date) -> bool:
        if self.under_months is not None:
            return month_start < add_months(birth, self.under_months)
        assert self.until_fiscal_year_of_age is not None
        return month_start <= end_of_fiscal_year_of_age(birth, self.until_fiscal_year_of_age)

    def amount(self, order: int) -> int:
        return self.amounts[min(order, 3) - 1]


@dataclass(frozen=True)
class RuleVersion:
    id: str
    valid_from: date
    name: Names
    law: Names
    eligible_until: int
    counted_until: int
    payment_months: tuple[int, ...]
    bands: tuple[Band, ...]
    income: dict[str, int | None]


def _band(raw: Any, where: str) -> Band:
    amounts = raw.get("amounts") if isinstance(raw, Mapping) else None
    if (
        not isinstance(amounts, list)
        or len(amounts) != 3
        or not all(isinstance(a, int) and a >= 0 for a in amounts)
    ):
        raise PackError(f"{where}: a band needs amounts for the 1st, 2nd and 3rd+ child")
    under, until = raw.get("under_months"), raw.get("until_fiscal_year_of_age")
    if (under is None) == (until is None):
        raise PackError(f"{where}: a band needs under_months or until_fiscal_year_of_age")
    return Band(
        str(raw["id"]),
        parse_names(raw.get("name"), where),
        under,
        until,
        (amounts[0], amounts[1], amounts[2]),
    )


def _version(raw: Any, where: str) -> RuleVersion:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("valid_from"), date):
        raise PackError(f"{where}: a version needs an id and valid_from (a date)")
    where = f"{where} {raw.get('id')}"
    income = raw.get("income") or {}
    if set(income) != set(INCOMES):
        raise PackError(f"{where}: income needs exactly {INCOMES}")
    return RuleVersion(
        id=str(raw["id"]),
        valid_from=raw["valid_from"],
        name=parse_names(raw.get("name"), f"{where} name"),
        law=parse_names(raw.get("law"), f"{where} law"),
        eligible_until=int(raw["eligible_until_fiscal_year_of_age"]),
        counted_until=int(raw["counted_until_fiscal_year_of_age"]),
        payment_months=tuple(int(m) for m in raw["payment_months"]),
        bands=tuple(_band(b, f"{where} band") for b in raw.get("bands") or []),
        income={k: (None if v is None else int(v)) for k, v in income.items()},
    )


@lru_cache(maxsize=4)
def versions(pack: str = DEFAULT_PACK) -> tuple[RuleVersion, ...]:
    """Every rule version, oldest first."""
    raw = load_document(DOCUMENT, pack)
    found = [_version(v, DOCUMENT) for v in (raw or {}).get("versions") or []]
    if not found:
        raise PackError(f"{DOCUMENT}: no versions")
    return tuple(sorted(found, key=lambda v: v.valid_from))


def version_on(day: date, pack: str = DEFAULT_PACK) -> RuleVersion:
    """The version in force on the first day of ``day``'s month."""
    month_start = day.replace(day=1)
    in_force = [v for v in versions(pack) if v.valid_from <= month_start]
    if not in_force:
        raise ValidationError(
            "allowance_date_out_of_range",
            f"{versions(pack)[0].valid_from.isoformat()} より前の月は計算できません。",
            f"Months before {versions(pack)[0].valid_from.isoformat()} cannot be calculated.",
        )
    return in_force[-1]


def end_of_fiscal_year_of_age(birth: date, age: int) -> date:
    """31 March of the fiscal year (April–March) in which a child born on ``birth`` reaches
    ``age`` — at the end of the day before the birthday."""
    reached = add_months(birth, 12 * age) - timedelta(days=1)
    return date(reached.year + (1 if reached.month >= 4 else 0), 3, 31)


def age_on(birth: date, day: date) -> int:
    """Full years on ``day`` (満年齢)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class ChildIn:
    birth_date: date
    label: str = ""


@dataclass(frozen=True)
class ChildResult:
    label: str
    birth_date: date
    age: int
    counted: bool  # counts for the birth order
    birth_order: int | None
    eligible: bool
    band: Band | None
    amount: int
    reason: Names


@dataclass(frozen=True)
class HouseholdResult:
    month: date
    version: RuleVersion
    income: str
    children: tuple[ChildResult, ...]
    monthly_total: int
    payment_months: tuple[int, ...]
    per_payment: int  # paid in each payment month for the months it covers, if nothing changes


def _ordinal(order: int) -> Names:
    return Names(f"第{order}子", {1: "1st", 2: "2nd", 3: "3rd"}.get(order, f"{order}th") + " child")


def calculate(
    children: Sequence[ChildIn], day: date, *, income: str = "under_limit",
    pack: str = DEFAULT_PACK,
) -> HouseholdResult:  # fmt: skip
    """The allowance for the month of ``day`` for these children of one claimant."""
    if income not in INCOMES:
        raise ValidationError("bad_income", "所得の区分が不正です。", "Unknown income bracket.")
    if len(children) > MAX_CHILDREN:
        raise ValidationError(
            "too_many_children",
            f"児童は {MAX_CHILDREN} 人までです。",
            f"At most {MAX_CHILDREN} children.",
        )
    version = version_on(day, pack)
    month = day.replace(day=1)
    born = [c for c in children if c.birth_date <= day]
    counted = sorted(
        (
            c
            for c in born
            if month <= end_of_fiscal_year_of_age(c.birth_date, version.counted_until)
        ),
        key=lambda c: c.birth_date,
    )
    order = {id(c): index for index, c in enumerate(counted, start=1)}
    results = []
    for child in children:
        results.append(_child(version, month, day, child, order.get(id(child)), income))
    total = sum(r.amount for r in results)
    covered = 12 // len(version.payment_months)
    return HouseholdResult(
        month, version, income, tuple(results), total, version.payment_months, total * covered
    )


def _child(
    version: RuleVersion, month: date, day: date, child: ChildIn, order: int | None, income: str
) -> ChildResult:
    birth = child.birth_date
    band, amount, reason = _amount(version, month, day, birth, order, income)
    return ChildResult(
        label=child.label,
        birth_date=birth,
        age=age_on(birth, day) if birth <= day else 0,
        counted=order is not None,
        birth_order=order,
        eligible=band is not None,
        band=band,
        amount=amount,
        reason=reason,
    )


def _amount(
    version: RuleVersion, month: date, day: date, birth: date, order: int | None, income: str
) -> tuple[Band | None, int, Names]:
    """(age band, monthly amount, why) of one child; no band when not eligible."""
    if birth > day:
        return None, 0, Names("まだ生まれていません。", "Not born yet.")
    if order is None or month > end_of_fiscal_year_of_age(birth, version.eligible_until):
        limit = version.counted_until
        if order is None:
            return (
                None,
                0,
                Names(
                    f"支給対象外で、出生順位にも数えません（{limit}歳到達年度末を過ぎています）。",
                    f"Not eligible and not counted (past the fiscal year of age {limit}).",
                ),
            )
        return (
            None,
            0,
            Names(
                f"支給対象外（{version.eligible_until}歳到達年度末を過ぎています）。"
                f"{limit}歳到達年度末までは出生順位に数えます（{_ordinal(order).ja}）。",
                f"Not eligible (past the fiscal year of age {version.eligible_until}); counted "
                f"for the birth order until the fiscal year of age {limit} ({_ordinal(order).en}).",
            ),
        )
    band = next(b for b in version.bands if b.holds(birth, month))
    amount, ordinal = band.amount(order), _ordinal(order)
    reason = Names(
        f"{band.name.ja}・{ordinal.ja}: 月額 {amount:,} 円",
        f"{band.name.en}, {ordinal.en}: ¥{amount:,} a month",
    )
    special = version.income.get(income)
    if special is None:
        return band, amount, reason
    return (
        band,
        special,
        Names(
            f"{reason.ja}。所得が限度額以上のため月額 {special:,} 円",
            f"{reason.en}; the claimant's income is above the limit, so ¥{special:,} a month",
        ),
    )


def household_children(session: Session, person_id: str, day: date) -> list[ChildIn]:
    """The children (続柄 子) in the person's household of the resident register on ``day``."""
    own = registry.as_of(session, "juki", person_id, valid_on=day)
    if not own:
        raise NotFoundError(
            "no_resident_record",
            "住民基本台帳に記録がありません。",
            "You are not recorded in the resident register.",
        )
    household = own[0].data["household"]["household_id"]
    return [
        ChildIn(date.fromisoformat(v.data["birth_date"]), v.data["name"]["given"])
        for v in registry.valid_on_day(session, "juki", day, keeper_id=own[0].keeper_id)
        if v.data["household"]["household_id"] == household
        and v.data["household"]["relationship"] == "子"
        and v.data.get("status") == "住民"
    ]
