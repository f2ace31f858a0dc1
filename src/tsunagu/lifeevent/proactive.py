"""Proactive services (プッシュ型): the government offers what a resident is due, unasked.

Rules are data (``packs/<pack>/lifeevents/proactive.yaml``) in the safe expression language
of :mod:`tsunagu.procedure.rules` — never ``eval`` — over what the base registers say about
a resident on a day: their household in the resident register, their child-allowance and
long-term care records. A rule that holds makes a :class:`ProactiveNotice`, once per
(rule, person, period): a daily ``tsunagu lifeevent scan`` finds what dates bring due, and
the ``registry.changed`` handler reacts at once when a birth is recorded. Accepting an
offer creates the procedure's draft, prefilled, in the resident's name ("ボタン一つで申請").
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.errors import NotFoundError, ValidationError
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.service import Event
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent.models import ProactiveNotice
from tsunagu.packs import DEFAULT_PACK, PackError, load_document
from tsunagu.procedure import rules
from tsunagu.procedure import service as procedures
from tsunagu.procedure.definitions import get_procedure
from tsunagu.registry import service as registry
from tsunagu.registry.definitions import Names, parse_names
from tsunagu.registry.service import Version

DOCUMENT = "lifeevents/proactive.yaml"
SYSTEM = "system:lifeevent-proactive"
OFFERED, ACCEPTED, DISMISSED = "offered", "accepted", "dismissed"
STATUSES = (OFFERED, ACCEPTED, DISMISSED)
CHILD = "子"
ENDED_ALLOWANCE = "消滅"


# --- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProactiveRule:
    """When ``when`` holds for a person (and an item of ``for_each``), offer ``procedure``."""

    id: str
    name: Names
    message: Names
    for_each: str | None
    when: Any
    period: Any
    about: Any
    due: Any
    procedure: str | None
    prefill: dict[str, Any]


def _reads_the_clock(expression: Any) -> bool:
    if isinstance(expression, Mapping):
        return "today" in expression or any(_reads_the_clock(v) for v in expression.values())
    return isinstance(expression, list) and any(_reads_the_clock(v) for v in expression)


def parse_rule(raw: Any, where: str) -> ProactiveRule:
    """One rule, checked: a malformed expression or an unknown form field is a pack error.

    Rules read the day from the context (``{var: today}``), never the clock (``{today:
    null}``), so a scan for a chosen day decides exactly as that day's scan would have.
    """
    if not isinstance(raw, Mapping) or not raw.get("id") or "when" not in raw:
        raise PackError(f"{where}: a rule needs an id and when")
    where = f"{where} {raw['id']}"
    for key in ("when", "period", "about", "due"):
        rules.check(raw.get(key), f"{where} {key}")
        if _reads_the_clock(raw.get(key)):
            raise PackError(f"{where} {key}: use {{var: today}}, the day being scanned")
    if raw.get("period") is None:
        raise PackError(f"{where}: a rule needs a period (which occurrence it notifies once)")
    procedure = raw.get("procedure")
    prefill = dict(raw.get("prefill") or {})
    if prefill and procedure is None:
        raise PackError(f"{where}: prefill needs a procedure")
    if procedure is not None:
        form = get_procedure(str(procedure)).form
        unknown = sorted(path for path in prefill if form.field(path) is None)
        if unknown:
            raise PackError(f"{where}: prefill paths {unknown} are not fields of {procedure}")
    for path, expression in prefill.items():
        rules.check(expression, f"{where} prefill {path}")
        if _reads_the_clock(expression):
            raise PackError(f"{where} prefill {path}: use {{var: today}}, the day being scanned")
    for_each = raw.get("for_each")
    if for_each is not None and not isinstance(for_each, str):
        raise PackError(f"{where}: for_each takes a dotted path")
    return ProactiveRule(
        id=str(raw["id"]),
        name=parse_names(raw.get("name"), f"{where} name"),
        message=parse_names(raw.get("message"), f"{where} message"),
        for_each=for_each,
        when=raw["when"],
        period=raw["period"],
        about=raw.get("about"),
        due=raw.get("due"),
        procedure=None if procedure is None else str(procedure),
        prefill=prefill,
    )


@lru_cache(maxsize=4)
def proactive_rules(pack: str = DEFAULT_PACK) -> dict[str, ProactiveRule]:
    raw = load_document(DOCUMENT, pack) or {}
    found = [parse_rule(item, DOCUMENT) for item in raw.get("rules") or []]
    by_id = {rule.id: rule for rule in found}
    if len(by_id) != len(found):
        raise PackError(f"{DOCUMENT}: rule ids must be unique")
    return by_id


def rule_of(rule_id: str) -> ProactiveRule | None:
    return proactive_rules().get(rule_id)


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"child.given_name": v}`` → ``{"child": {"given_name": v}}`` (empty values left out)."""
    nested: dict[str, Any] = {}
    for path, value in flat.items():
        if value in (None, ""):
            continue
        *parents, leaf = path.split(".")
        spot = nested
        for part in parents:
            spot = spot.setdefault(part, {})
        spot[leaf] = value
    return nested


@dataclass(frozen=True)
class Offer:
    """What one rule says for one person (and item) on a day."""

    rule_id: str
    person_id: str
    period_key: str
    about: str | None
    due_on: date | None
    procedure_id: str | None
    prefill: dict[str, Any]


def offers(rule: ProactiveRule, context: Mapping[str, Any]) -> list[Offer]:
    """The offers ``rule`` makes in ``context`` (one per item of ``for_each`` that holds)."""
    items = [None] if rule.for_each is None else rules.lookup(context, rule.for_each)
    found = []
    for item in items if isinstance(items, list) else []:
        scope = {**context, "item": item}
        if rules.evaluate(rule.when, scope) is not True:
            continue
        period = rules.evaluate(rule.period, scope)
        if isinstance(period, list):  # several parts, e.g. [the move's date, the child]
            period = "/".join("" if part is None else str(part) for part in period)
        if period in (None, ""):
            continue
        about, due = (rules.evaluate(rule.about, scope), rules.evaluate(rule.due, scope))
        found.append(
            Offer(
                rule_id=rule.id,
                person_id=str(context["person"]["id"]),
                period_key=str(period)[:100],
                about=None if about is None else str(about)[:200],
                due_on=_day(due),
                procedure_id=rule.procedure,
                prefill=_nest({p: rules.evaluate(e, scope) for p, e in rule.prefill.items()}),
            )
        )
    return found


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


# --- facts -----------------------------------------------------------------------------------


def _member(version: Version) -> dict[str, Any]:
    data = version.data
    return {
        "id": version.subject_id,
        "name": dict(data.get("name") or {}),
        "birth_date": data.get("birth_date"),
        "relationship": (data.get("household") or {}).get("relationship"),
        "household_id": (data.get("household") or {}).get("household_id"),
        "moved_in": data.get("moved_in"),
    }


def _covered(child: Mapping[str, Any], allowance_records: Iterable[Mapping[str, Any]]) -> bool:
    """A child-allowance record of the household (not ended) names this child.

    Only records of the municipality the household lives in count: after a move the
    allowance has to be claimed again from the new one.
    """
    for record in allowance_records:
        if record.get("status") == ENDED_ALLOWANCE:
            continue
        for listed in record.get("children") or []:
            if listed.get("person_id") == child["id"] or (
                not listed.get("person_id") and listed.get("birth_date") == child["birth_date"]
            ):
                return True
    return False


def contexts(
    day: date,
    residents: Iterable[Version],
    allowance: Mapping[str, dict[str, Any]],
    care: Mapping[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """One rule context per resident (living in the municipality on ``day``)."""
    households: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for version in residents:
        if version.data.get("status") != "住民":
            continue
        member = _member(version)
        households[(version.keeper_id, str(member["household_id"]))].append(member)
    fiscal_year = day.year if day.month >= 4 else day.year - 1
    calendar = {"year": day.year, "month": day.month, "fiscal_year": fiscal_year}
    found = []
    for (keeper_id, _household), members in households.items():
        records = [
            allowance[m["id"]]
            for m in members
            if m["id"] in allowance and allowance[m["id"]].get("keeper_id") == keeper_id
        ]
        for member in members:
            member["allowance_covered"] = _covered(member, records)
        for person in members:
            children = [m for m in members if m["relationship"] == CHILD and m is not person]
            found.append(
                {
                    "today": day.isoformat(),
                    "calendar": calendar,
                    "person": person,
                    "household": {"members": members, "children": children},
                    "allowance": allowance.get(person["id"]),
                    "care": care.get(person["id"]),
                }
            )
    return found


def _facts(version: Version) -> dict[str, Any]:
    """A record's data and which organization keeps it."""
    return {**version.data, "keeper_id": version.keeper_id}


def _by_subject(session: Session, registry_id: str, day: date) -> dict[str, dict[str, Any]]:
    return {v.subject_id: _facts(v) for v in registry.valid_on_day(session, registry_id, day)}


def _of_members(
    session: Session, registry_id: str, members: Iterable[str], day: date
) -> dict[str, dict[str, Any]]:
    found = {}
    for person_id in members:
        versions = registry.as_of(session, registry_id, person_id, valid_on=day)
        if versions:
            found[person_id] = _facts(versions[0])
    return found


# --- notices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    residents: int
    offered: int  # new notices
    already: int  # occurrences notified before (offered, accepted or dismissed)


def _existing(session: Session, offer: Offer) -> bool:
    return (
        session.execute(
            select(ProactiveNotice.id).where(
                ProactiveNotice.rule_id == offer.rule_id,
                ProactiveNotice.person_id == offer.person_id,
                ProactiveNotice.period_key == offer.period_key,
            )
        ).first()
        is not None
    )


def _notify(session: Session, offer: Offer, day: date) -> bool:
    """Record the offer unless this occurrence was notified before; True when new."""
    if _existing(session, offer):
        return False
    now = utcnow()
    notice = ProactiveNotice(
        id=str(uuid.uuid4()),
        person_id=offer.person_id,
        rule_id=offer.rule_id,
        period_key=offer.period_key,
        about=offer.about,
        due_on=offer.due_on,
        status=OFFERED,
        procedure_id=offer.procedure_id,
        prefill=json.dumps(offer.prefill, ensure_ascii=False, sort_keys=True),
        found_on=day,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # a concurrent scan may have just made the same notice
            session.add(notice)
            session.flush()
    except IntegrityError:
        return False
    audit.record(
        session,
        actor=SYSTEM,
        action="lifeevent.notice.offered",
        object_type="proactive_notice",
        object_id=notice.id,
        data={"rule_id": offer.rule_id, "person_id": offer.person_id, "found_on": day.isoformat()},
    )
    return True


def _run(session: Session, day: date, found: list[dict[str, Any]]) -> ScanResult:
    offered = already = 0
    for context in found:
        for rule in proactive_rules().values():
            for offer in offers(rule, context):
                if _notify(session, offer, day):
                    offered += 1
                else:
                    already += 1
    return ScanResult(len(found), offered, already)


def scan(session: Session, day: date | None = None) -> ScanResult:
    """Evaluate every rule for every resident on ``day`` (default: today in Japan).

    Idempotent: an occurrence already notified (whatever became of it) is not notified again.
    """
    day = day or tokyo_today()
    found = contexts(
        day,
        registry.valid_on_day(session, "juki", day),
        _by_subject(session, "jidou_teate", day),
        _by_subject(session, "kaigo", day),
    )
    return _run(session, day, found)


def scan_household(
    session: Session, keeper_id: str, household_id: str, day: date | None = None
) -> ScanResult:
    """Evaluate the rules for one household (after a change in the resident register)."""
    day = day or tokyo_today()
    residents = [
        v
        for v in registry.valid_on_day(session, "juki", day, keeper_id=keeper_id)
        if (v.data.get("household") or {}).get("household_id") == household_id
    ]
    members = [v.subject_id for v in residents]
    found = contexts(
        day,
        residents,
        _of_members(session, "jidou_teate", members, day),
        _of_members(session, "kaigo", members, day),
    )
    return _run(session, day, found)


@outbox.handler(registry.CHANGED_TOPIC, name="lifeevent.proactive.on_register_change")
def on_register_change(session: Session, event: Event) -> None:
    """A new resident-register record (a birth, a move in): offer what the household is due now."""
    change = event.payload
    if change.get("registry_id") != "juki" or "created" not in change.get("events", []):
        return
    version_id = change.get("version_id")
    if not version_id:
        return
    data = registry.get_version(session, int(version_id)).data
    household_id = (data.get("household") or {}).get("household_id")
    if household_id:
        scan_household(session, change["keeper_id"], str(household_id))


def _not_found() -> NotFoundError:
    return NotFoundError("notice_not_found", "お知らせが見つかりません。", "No such notice.")


def notices_of(session: Session, actor: Actor) -> list[ProactiveNotice]:
    """The resident's notices: open offers first, soonest due first."""
    rows = session.execute(
        select(ProactiveNotice)
        .where(ProactiveNotice.person_id == actor.person_id)
        .order_by(ProactiveNotice.created_at.desc())
    ).scalars()
    return sorted(rows, key=lambda n: (n.status != OFFERED, n.due_on or date.max))


def get_notice(session: Session, actor: Actor, notice_id: str) -> ProactiveNotice:
    """The resident's own notice; anybody else's is "not found" (its existence is not told)."""
    notice = session.get(ProactiveNotice, notice_id)
    if notice is None or actor.person_id is None or notice.person_id != actor.person_id:
        raise _not_found()
    return notice


def accept(session: Session, actor: Actor, notice_id: str) -> str:
    """One click: the procedure's draft, prefilled, filed by the resident; its id.

    Accepting again returns the same draft instead of making another.
    """
    notice = get_notice(session, actor, notice_id)
    if notice.status == ACCEPTED and notice.application_id:
        return notice.application_id
    if notice.status != OFFERED or notice.procedure_id is None:
        raise ValidationError(
            "notice_not_open",
            "このお知らせからは申請できません。",
            "This notice offers no application (any more).",
        )
    draft = procedures.create(session, actor, notice.procedure_id, json.loads(notice.prefill))
    _transition(session, actor, notice, ACCEPTED, application_id=draft.id)
    return draft.id


def dismiss(session: Session, actor: Actor, notice_id: str) -> ProactiveNotice:
    """Not wanted: the offer closes and is not made again for this occurrence."""
    notice = get_notice(session, actor, notice_id)
    if notice.status != OFFERED:
        raise ValidationError(
            "notice_not_open", "このお知らせは対応済みです。", "This notice is already closed."
        )
    _transition(session, actor, notice, DISMISSED)
    return notice


def _transition(
    session: Session, actor: Actor, notice: ProactiveNotice, status: str,
    application_id: str | None = None,
) -> None:  # fmt: skip
    notice.status = status
    notice.application_id = application_id
    notice.updated_at = utcnow()
    audit.record(
        session,
        actor=actor.label,
        action=f"lifeevent.notice.{status}",
        object_type="proactive_notice",
        object_id=notice.id,
        data={"rule_id": notice.rule_id, "application_id": application_id},
    )
