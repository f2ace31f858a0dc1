"""Public pages of the procedure module: the inventory of procedures (行政手続の棚卸)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tsunagu.core.rendering import render
from tsunagu.core.web import DbSession
from tsunagu.procedure import inventory

router = APIRouter(include_in_schema=False)


@router.get("/procedures/inventory", response_class=HTMLResponse)
def inventory_page(request: Request, db: DbSession) -> HTMLResponse:
    """Anyone: every procedure with its owner, legal basis and live figures."""
    return render(request, "procedure/inventory.html", {"rows": inventory.inventory(db)})
