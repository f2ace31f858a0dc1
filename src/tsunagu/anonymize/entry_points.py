"""The anonymization module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Permission

ENTRY_POINTS = (
    EntryPoint("/anonymize", N_("Anonymization"), Audience.OFFICIAL, Permission.DATA_PUBLISH),
)
