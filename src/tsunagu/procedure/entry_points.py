"""The procedure module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Permission

ENTRY_POINTS = (
    EntryPoint("/procedures", N_("Procedures"), Audience.PUBLIC),
    EntryPoint("/procedures/inventory", N_("Inventory of procedures"), Audience.PUBLIC),
    EntryPoint("/certificates/verify", N_("Verify a certificate"), Audience.PUBLIC),
    EntryPoint("/applications", N_("My applications"), Audience.RESIDENT),
    EntryPoint("/inbox", N_("Inbox"), Audience.RESIDENT),
    EntryPoint(
        "/console/applications",
        N_("Applications to review"),
        Audience.OFFICIAL,
        Permission.APPLICATION_REVIEW,
    ),
)
