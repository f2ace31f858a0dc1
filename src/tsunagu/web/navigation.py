"""Every module's entry points, collected as ``app.py`` collects their routers.

Modules declare the pages worth navigating to beside their views
(``<module>/entry_points.py``); only ``web/``, on top, sees them all, so the
home page and the hub link to each page without any module importing upward.
"""

from __future__ import annotations

from tsunagu.anonymize.entry_points import ENTRY_POINTS as ANONYMIZE
from tsunagu.exchange.entry_points import ENTRY_POINTS as EXCHANGE
from tsunagu.identity.entry_points import ENTRY_POINTS as IDENTITY
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent.entry_points import ENTRY_POINTS as LIFEEVENT
from tsunagu.opendata.entry_points import ENTRY_POINTS as OPENDATA
from tsunagu.procedure.entry_points import ENTRY_POINTS as PROCEDURE
from tsunagu.registry.entry_points import ENTRY_POINTS as REGISTRY

# In the order a visitor meets them: procedures and life events before the back office.
ENTRY_POINTS: tuple[EntryPoint, ...] = (
    *IDENTITY,
    *PROCEDURE,
    *LIFEEVENT,
    *EXCHANGE,
    *REGISTRY,
    *OPENDATA,
    *ANONYMIZE,
)


def public() -> list[EntryPoint]:
    """The pages anyone may open, for the home page."""
    return [entry for entry in ENTRY_POINTS if entry.audience is Audience.PUBLIC]


def open_to(actor: Actor) -> list[EntryPoint]:
    """The pages meant for ``actor``'s kind of party that its permissions open."""
    return [entry for entry in ENTRY_POINTS if entry.open_to(actor)]
