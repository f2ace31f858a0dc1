"""The identity module's households follow the resident register (住民基本台帳).

The register is the authority on who lives in which household and who heads it: a
death (死亡届, whose approval also records the new 世帯主 and every remaining
member's 続柄) or a move out takes a person out of it; a move in, a birth or a
household change (世帯変更) puts a person into a register household (世帯番号),
and an identity person then joins the identity household its other members are in.
Identity keeps its own households for the pages and bundles that start from a person
(e.g. :func:`tsunagu.lifeevent.onestop.household`), so every ``registry.changed``
event about a resident record brings the identity household of that person in line,
in the worker, after the register's transaction committed. The handler lives here,
not in identity, because identity is below the registry and knows nothing of the
register's Japanese fields.

On which day: the later of today and the day the change takes effect, so a move
notified ahead (転出届 up to 14 days before) takes the person out when it is notified;
nothing else would come back on the day itself.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy.orm import Session

from tsunagu.core.clock import tokyo_today
from tsunagu.core.errors import NotFoundError
from tsunagu.core.outbox import service as outbox
from tsunagu.core.outbox.service import Event
from tsunagu.identity import service as identity
from tsunagu.identity.schemas import HouseholdRecord, Relationship
from tsunagu.registry import service as registry
from tsunagu.registry.service import Version

SYSTEM = "system:lifeevent-households"
REGISTER = "juki"
RESIDENT = "住民"

# 世帯主との続柄 as the register writes it → identity's coarser relationship.
ZOKUGARA: dict[str, Relationship] = {
    "世帯主": Relationship.HEAD,
    **dict.fromkeys(("妻", "夫"), Relationship.SPOUSE),
    "子": Relationship.CHILD,
    **dict.fromkeys(("子の妻", "子の夫"), Relationship.CHILD_IN_LAW),
    **dict.fromkeys(("父", "母"), Relationship.PARENT),
    **dict.fromkeys(("妻の父", "妻の母", "夫の父", "夫の母"), Relationship.PARENT_IN_LAW),
    "孫": Relationship.GRANDCHILD,
    **dict.fromkeys(("兄", "姉", "弟", "妹"), Relationship.SIBLING),
    **dict.fromkeys(("祖父", "祖母", "縁故者"), Relationship.OTHER_RELATIVE),
    "同居人": Relationship.NON_RELATIVE,
}


def _place(version: Version) -> tuple[str, str] | None:
    """(keeper, 世帯番号) of a resident; None for someone who died or moved out."""
    household_id = (version.data.get("household") or {}).get("household_id")
    if version.data.get("status") != RESIDENT or not household_id:
        return None
    return version.keeper_id, str(household_id)


def _owner(session: Session, place: tuple[str, str], day: date) -> str | None:
    """The identity household that stands for a register household (世帯番号) on ``day``.

    It is the identity household most of the register household's residents are in;
    on a tie the one holding its 世帯主, then the smallest id, so that every identity
    household reaches the same answer. None: none of them is in an identity household.
    """
    keeper, number = place
    held: Counter[str] = Counter()
    heads: set[str] = set()
    for version in registry.kept_with(
        session, keeper, REGISTER, "household.household_id", number, valid_on=day
    ):
        if _place(version) != place:
            continue
        try:
            household_id = identity.get_person(session, version.subject_id).household_id
        except NotFoundError:  # a resident identity does not know (e.g. a newborn)
            continue
        if household_id is not None:
            held[household_id] += 1
            if version.data["household"].get("relationship") == "世帯主":
                heads.add(household_id)
    return min(held, key=lambda h: (-held[h], h not in heads, h), default=None)


def _align(
    session: Session, household_id: str, day: date, joiner: str | None = None
) -> HouseholdRecord | None:
    """Bring one identity household (and a person who may join it) in line with the register.

    The household stands for the register household most of its members live in (the
    head's on a tie), among those it is the :func:`_owner` of: a member recorded in a
    register household that another identity household stands for leaves, to join
    that one. Members recorded elsewhere, dead or moved out leave; the others, and the
    joiner if recorded in the same register household, take the 続柄 recorded for them.
    """
    members = identity.list_persons(session, household_id=household_id)
    current: dict[str, Relationship | None] = {m.id: m.relationship for m in members}
    if joiner is not None:
        current[joiner] = None
    records = {
        person: found[0]
        for person in current
        if (found := registry.as_of(session, REGISTER, person, valid_on=day))
    }
    places = {person: _place(version) for person, version in records.items()}
    owned = {p for p in set(places.values()) if p and _owner(session, p, day) == household_id}
    counted = Counter(place for place in places.values() if place in owned)
    head = next((p for p, r in current.items() if r is Relationship.HEAD), None)
    home = max(counted, key=lambda p: (counted[p], p == places.get(head or "")), default=None)
    wanted = {
        person: ZOKUGARA[records[person].data["household"]["relationship"]]
        if place is not None and place == home
        else None
        for person, place in places.items()
    }
    changes = {p: r for p, r in wanted.items() if current[p] != r}
    if not changes:
        return None
    joining = [joiner] if joiner in changes else []
    return identity.rearrange_household(
        session, household_id, changes, actor=SYSTEM, joining=joining
    )


def follow_register(session: Session, person_id: str, day: date) -> HouseholdRecord | None:
    """Bring the identity household of ``person_id`` in line with the register on ``day``.

    First the person's own identity household follows the register (:func:`_align`).
    A person then in no identity household (moved in, born, or just taken out of one
    the register no longer matches) joins the one that stands for their register
    household (:func:`_owner`), with the 続柄 recorded for them; if no member of that
    register household is in an identity household, they are left in none (the
    register names households by the municipality's 世帯番号, not identity's id).
    Members the register does not know are left alone. A resident identity does not
    know (a newborn's record, whose subject is an id of the 出生届) is not placed: the
    register knows more people than identity; a newborn who is an identity person
    when the record is written joins like a person moving in.
    """
    try:
        person = identity.get_person(session, person_id)
    except NotFoundError:
        return None
    changed = None
    if person.household_id is not None:
        changed = _align(session, person.household_id, day)
        if identity.get_person(session, person_id).household_id is not None:
            return changed
    found = registry.as_of(session, REGISTER, person_id, valid_on=day)
    place = _place(found[0]) if found else None
    owner = _owner(session, place, day) if place is not None else None
    if owner is None:
        return changed
    return _align(session, owner, day, joiner=person_id) or changed


@outbox.handler(registry.CHANGED_TOPIC, name="lifeevent.households.on_register_change")
def on_register_change(session: Session, event: Event) -> None:
    """A resident record changed (a death, a birth, a move, a new head): follow it in identity."""
    change = event.payload
    if change.get("registry_id") != REGISTER:
        return
    day = max(tokyo_today(), date.fromisoformat(change["valid_from"]))
    follow_register(session, change["subject_id"], day)
