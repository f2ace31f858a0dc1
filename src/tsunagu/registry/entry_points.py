"""The registry module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Permission

ENTRY_POINTS = (
    EntryPoint(
        "/registries", N_("Registers you keep"), Audience.OFFICIAL, Permission.REGISTRY_MAINTAIN
    ),
)
