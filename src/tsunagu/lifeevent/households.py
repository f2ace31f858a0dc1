"""The identity module's households follow the resident register (住民基本台帳).

The register is the authority on who lives in which household and who heads it: a
death (死亡届, whose approval also records the new 世帯主 and every remaining
member's 続柄) or a move out changes it. Identity keeps its own households for the
pages and bundles that start from a person (e.g. :func:`tsunagu.lifeevent.onestop.
household`), so every ``registry.changed`` event about a resident record brings the
identity household of that person in line, in the worker, after the register's
transaction committed. The handler lives here, not in identity, because identity is
below the registry and knows nothing of the register's Japanese fields.

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


def follow_register(session: Session, person_id: str, day: date) -> HouseholdRecord | None:
    """Bring the identity household of ``person_id`` in line with the register on ``day``.

    The household is the register household most of its members live in (the head's
    on a tie). Members recorded elsewhere, dead or moved out leave it; the others take
    the 続柄 recorded for them. Members the register does not know are left alone, and
    a person without an identity household is not placed in one (the register names
    its household by the municipality's 世帯番号, not identity's id).
    """
    try:
        person = identity.get_person(session, person_id)
    except NotFoundError:  # e.g. a newborn's record: the register knows more people
        return None
    if person.household_id is None:
        return None
    members = identity.list_persons(session, household_id=person.household_id)
    records = {
        m.id: found[0]
        for m in members
        if (found := registry.as_of(session, REGISTER, m.id, valid_on=day))
    }
    places = {member: _place(version) for member, version in records.items()}
    counted = Counter(place for place in places.values() if place is not None)
    head = next((m.id for m in members if m.relationship is Relationship.HEAD), None)
    home = max(counted, key=lambda p: (counted[p], p == places.get(head or "")), default=None)
    wanted = {
        member: ZOKUGARA[records[member].data["household"]["relationship"]]
        if place is not None and place == home
        else None
        for member, place in places.items()
    }
    current = {m.id: m.relationship for m in members}
    changes = {m: r for m, r in wanted.items() if current[m] != r}
    if not changes:
        return None
    return identity.rearrange_household(session, person.household_id, changes, actor=SYSTEM)


@outbox.handler(registry.CHANGED_TOPIC, name="lifeevent.households.on_register_change")
def on_register_change(session: Session, event: Event) -> None:
    """A resident record changed (a death, a move, a new head): follow it in identity."""
    change = event.payload
    if change.get("registry_id") != REGISTER:
        return
    day = max(tokyo_today(), date.fromisoformat(change["valid_from"]))
    follow_register(session, change["subject_id"], day)
