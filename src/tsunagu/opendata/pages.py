"""What every catalog page shares: rendering with the catalog's labels, localized form errors.

Page text goes through the module's Babel catalog (``locales/*/LC_MESSAGES/
opendata.po``, English msgids); values that are data in both languages (an
organization's title and English title) are chosen with ``localized``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from tsunagu.core.i18n import N_
from tsunagu.core.rendering import render, request_language

FACET_LABELS = {
    "organization": N_("Organizations"),
    "tags": N_("Tags"),
    "res_format": N_("Formats"),
    "license_id": N_("Licences"),
}
STATUS_LABELS = {
    "open": N_("Received"),
    "accepted": N_("In progress"),
    "published": N_("Published"),
    "rejected": N_("Declined"),
}


def render_page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a catalog page; ``localized(ja, en)`` picks a bilingual data value."""
    lang = request_language(request)
    return render(
        request,
        template,
        {
            **context,
            "localized": (lambda ja, en: (en or ja) if lang == "en" else ja),
            "facet_labels": FACET_LABELS,
            "status_labels": STATUS_LABELS,
            "site": str(request.base_url).rstrip("/"),
        },
        status_code=status_code,
    )


def field_errors(request: Request, fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """The service's per-field messages ("日本語 / English") in the page's language."""
    english = request_language(request) == "en"
    return {
        name: [m.split(" / ", 1)[english] if " / " in m else m for m in messages]
        for name, messages in fields.items()
    }
