"""Entry points: the pages a module offers to be reached by navigation.

Each module declares its own in ``<module>/entry_points.py`` (``ENTRY_POINTS``),
beside its views, and ``web/`` collects them as it collects routers, so the
home page and the hub link to every page without any module importing one
above it. The type lives here, with the roles it is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tsunagu.identity.roles import Actor, ActorKind, Permission


class Audience(StrEnum):
    """Who a page is for: everyone, or one kind of logged-in party."""

    PUBLIC = "public"
    RESIDENT = "resident"
    OFFICIAL = "official"
    BUSINESS = "business"


AUDIENCE_OF_KIND = {
    ActorKind.PERSON: Audience.RESIDENT,
    ActorKind.OFFICIAL: Audience.OFFICIAL,
    ActorKind.MEMBER: Audience.BUSINESS,
}


@dataclass(frozen=True)
class EntryPoint:
    """A page to link to: ``label`` is an English msgid of the declaring module's domain
    (marked with ``N_``), translated when the link is rendered. ``permission``, for
    officials' pages, is what the page itself checks, so nobody is shown a link that
    only answers 403."""

    path: str
    label: str
    audience: Audience
    permission: Permission | None = None

    def open_to(self, actor: Actor) -> bool:
        """Whether ``actor`` is whom this page is for and may open it."""
        if AUDIENCE_OF_KIND[actor.kind] is not self.audience:
            return False
        return self.permission is None or actor.can(self.permission)
