"""The identity module's pages to navigate to (collected by ``web/``)."""

from __future__ import annotations

from tsunagu.core.i18n import N_
from tsunagu.identity.navigation import Audience, EntryPoint
from tsunagu.identity.roles import Permission

ENTRY_POINTS = (
    EntryPoint("/me/card", N_("My digital card"), Audience.RESIDENT),
    EntryPoint("/delegations", N_("Powers of attorney"), Audience.RESIDENT),
    # card.require_counter_view lets in issuers and revokers; every role that issues also revokes
    EntryPoint("/counter", N_("Card counter"), Audience.OFFICIAL, Permission.CARD_REVOKE),
    EntryPoint("/business", N_("Business account"), Audience.BUSINESS),
    EntryPoint("/delegations", N_("Powers of attorney"), Audience.BUSINESS),
)
