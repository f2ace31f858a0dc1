"""The open-data module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint

ENTRY_POINTS = (
    EntryPoint("/opendata", N_("Open data catalog"), Audience.PUBLIC),
    EntryPoint("/organization", N_("Organizations"), Audience.PUBLIC),
    EntryPoint("/opendata/requests", N_("Data requests"), Audience.PUBLIC),
)
