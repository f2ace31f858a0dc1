"""The life-event module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint

ENTRY_POINTS = (
    EntryPoint("/life-events", N_("Life events: one form for every office"), Audience.PUBLIC),
    EntryPoint("/child-allowance", N_("Child allowance calculator"), Audience.PUBLIC),
    EntryPoint("/life-events", N_("Life events: one form for every office"), Audience.RESIDENT),
    EntryPoint("/me/notices", N_("Notices for you"), Audience.RESIDENT),
    EntryPoint("/me/child-allowance", N_("Child allowance for your household"), Audience.RESIDENT),
    EntryPoint("/me/life-notices", N_("Telling companies of life events"), Audience.RESIDENT),
    EntryPoint("/lifeevent/subscribers", N_("Life-event notices for companies"), Audience.BUSINESS),
)
