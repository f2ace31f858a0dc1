"""The exchange module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Permission

# The matrix and the subscriptions are for the administrator role, the only one managing officials.
ENTRY_POINTS = (
    EntryPoint("/me/access-log", N_("Who used my data"), Audience.RESIDENT),
    EntryPoint("/exchange/inbox", N_("Inbox of change notifications"), Audience.OFFICIAL),
    EntryPoint(
        "/exchange/subscriptions",
        N_("Change notifications"),
        Audience.OFFICIAL,
        Permission.OFFICIALS_MANAGE,
    ),
    EntryPoint(
        "/exchange/matrix", N_("Legal-basis matrix"), Audience.OFFICIAL, Permission.OFFICIALS_MANAGE
    ),
)
