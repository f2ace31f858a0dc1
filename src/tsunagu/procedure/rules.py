"""Automatic decision rules: a small, closed expression language evaluated without ``eval``.

A rule is data (YAML), never code. An expression is a literal or a one-key
mapping naming an operator::

    {all: [e, …]}  {any: [e, …]}  {not: e}
    {eq: [a, b]} {ne: …} {lt: …} {le: …} {gt: …} {ge: …}   (numbers or ISO dates)
    {in: [a, [x, y, …]]}
    {var: "form.moved_on"}          value at a dotted path of the context (None if absent)
    {present: "evidence.juminhyo"}  the path holds something other than None, "" or []
    {today: null}                   today's date in Japan, ISO 8601
    {date_offset: [e, days]}        the ISO date ``days`` days after the date ``e``
    {add_months: [e, months]}       the same day ``months`` months later (clamped to the month's
                                    end), e.g. a third birthday is ``add_months: [birth, 36]``
    {date: [year, month, day]}      the ISO date of those numbers (a yearly deadline)

Definitions are checked when the pack loads (:func:`check`), so a typo in a
rule is a pack error, not a surprise during a submission. A missing value
makes comparisons false rather than raising, so a rule can only ever *not*
decide; the application then goes to a person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tsunagu.core.clock import tokyo_today
from tsunagu.packs import PackError

MAX_DEPTH = 20
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
_ARITY = {**dict.fromkeys(_COMPARE, 2), "in": 2, "date_offset": 2, "add_months": 2, "date": 3}
OPERATORS = frozenset({*_ARITY, "all", "any", "not", "var", "present", "today"})


def _operator(expression: Any) -> tuple[str, Any] | None:
    if isinstance(expression, Mapping) and len(expression) == 1:
        ((name, argument),) = expression.items()
        return str(name), argument
    return None


def check(expression: Any, where: str, depth: int = 0) -> None:
    """Raise PackError unless ``expression`` is well formed."""
    if depth > MAX_DEPTH:
        raise PackError(f"{where}: rule nested deeper than {MAX_DEPTH}")
    found = _operator(expression)
    if found is None:
        if isinstance(expression, Mapping):
            raise PackError(f"{where}: an operator mapping must have exactly one key")
        if isinstance(expression, list):
            for item in expression:
                check(item, where, depth + 1)
        return
    name, argument = found
    if name not in OPERATORS:
        raise PackError(f"{where}: unknown rule operator {name!r}")
    if name in ("var", "present") and not isinstance(argument, str):
        raise PackError(f"{where}: {name} takes a dotted path")
    if name in ("all", "any") and not isinstance(argument, list):
        raise PackError(f"{where}: {name} takes a list")
    if name in _ARITY and (not isinstance(argument, list) or len(argument) != _ARITY[name]):
        raise PackError(f"{where}: {name} takes {_ARITY[name]} operands")
    if name not in ("var", "present", "today"):
        for item in argument if isinstance(argument, list) else [argument]:
            check(item, where, depth + 1)


def lookup(context: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (list items by index), or None."""
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def evaluate(expression: Any, context: Mapping[str, Any]) -> Any:
    """The value of a checked expression in ``context``."""
    found = _operator(expression)
    if found is None:
        if isinstance(expression, list):
            return [evaluate(item, context) for item in expression]
        return expression
    name, argument = found
    if name == "var":
        return lookup(context, argument)
    if name == "present":
        return lookup(context, argument) not in (None, "", [], {})
    if name == "today":
        return tokyo_today().isoformat()
    if name == "all":
        return all(bool(evaluate(item, context)) for item in argument)
    if name == "any":
        return any(bool(evaluate(item, context)) for item in argument)
    if name == "not":
        return not bool(evaluate(argument, context))
    if name == "date":
        return _date(*(evaluate(item, context) for item in argument))
    left, right = (evaluate(item, context) for item in argument)
    if name == "add_months":
        return _add_months(left, right)
    if name == "date_offset":
        return date_offset(left, right)
    if name == "in":
        return isinstance(right, list) and left in right
    return _compare(name, left, right)


def date_offset(value: Any, days: Any) -> str | None:
    """The ISO date ``days`` days after ``value``; None when either is not one (also for the
    ``$date_offset`` of an effect's template)."""
    try:
        return (date.fromisoformat(str(value)) + timedelta(days=int(days))).isoformat()
    except (TypeError, ValueError):
        return None


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; the 31st becomes the last day of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, min(day.day, (following - timedelta(days=1)).day))


def _add_months(value: Any, months: Any) -> str | None:
    try:
        return add_months(date.fromisoformat(str(value)), int(months)).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _date(year: Any, month: Any, day: Any) -> str | None:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


def _compare(name: str, left: Any, right: Any) -> bool:
    if name in ("eq", "ne"):
        return _COMPARE[name](left, right)
    comparable = (isinstance(left, int | float) and isinstance(right, int | float)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    return comparable and _COMPARE[name](left, right)


@dataclass(frozen=True)
class Rule:
    """When ``when`` holds, the application is decided ``decision`` for ``reason``."""

    when: Any
    decision: str
    reason_ja: str
    reason_en: str


DECISIONS = ("approved", "rejected")


def parse(raw: Any, where: str) -> tuple[Rule, ...]:
    """The ordered rules of a procedure (first match decides)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PackError(f"{where}: auto_decision must be a list of rules")
    parsed = []
    for index, item in enumerate(raw):
        spot = f"{where} auto_decision[{index}]"
        if not isinstance(item, Mapping) or item.get("decision") not in DECISIONS:
            raise PackError(f"{spot}: needs when, decision ({' or '.join(DECISIONS)}) and reason")
        reason = item.get("reason") or {}
        if not reason.get("ja") or not reason.get("en"):
            raise PackError(f"{spot}: needs a reason in ja and en")
        check(item.get("when"), spot)
        parsed.append(Rule(item["when"], item["decision"], reason["ja"], reason["en"]))
    return tuple(parsed)


def decide(rules: tuple[Rule, ...], context: Mapping[str, Any]) -> Rule | None:
    """The first rule that holds, or None (a person decides)."""
    for rule in rules:
        if evaluate(rule.when, context) is True:
            return rule
    return None
