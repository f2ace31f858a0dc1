"""Pages of fees: the applicant's payment page, and the sandbox provider's checkout.

The checkout page stands in for an external provider's: it is reached by its
unguessable intent URL (a capability, as at real providers) rather than by the
platform session, and what the payer chooses reaches the platform only as the
provider's signed callback, delivered in process through the same check as
``POST /api/payments/sandbox/callback``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import TsunaguError
from tsunagu.core.rendering import render, request_language, see_other
from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import csrf_for, require_login, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.procedure import fees, service
from tsunagu.procedure.definitions import get_procedure
from tsunagu.procedure.workflow import State

router = APIRouter(include_in_schema=False)
Caller = Annotated[Actor, Depends(require_login)]


def _page(
    request: Request,
    db: Session,
    actor: Actor,
    application_id: str,
    *,
    error: TsunaguError | None = None,
) -> HTMLResponse:
    app = service.get(db, actor, application_id)
    fee = fees.fee_status(db, app)
    can_pay = (
        actor.label == app.applicant
        and app.status in (State.DRAFT.value, State.RETURNED.value)
        and fee.state in ("unpaid", fees.PENDING)
    )
    context: dict[str, Any] = {
        "app": app,
        "definition": get_procedure(app.procedure_id),
        "fee": fee,
        "can_pay": can_pay,
        "csrf_token": csrf_for(request),
        "saved": request.query_params.get("saved"),
        "error": error.message(request_language(request)) if error else None,
    }
    return render(
        request, "procedure/payment.html", context, status_code=error.status_code if error else 200
    )


@router.get("/applications/{application_id}/payment", response_class=HTMLResponse)
def payment_page(application_id: str, request: Request, db: DbSession, actor: Caller) -> Response:
    """The fee: what is due, exemptions the procedure allows, paying, the receipt."""
    return _page(request, db, actor, application_id)


@router.post("/applications/{application_id}/payment", response_class=HTMLResponse)
def start_payment(application_id: str, request: Request, db: DbSession, actor: Caller) -> Response:
    """Start (or resume) the checkout and go to the provider."""
    try:
        provider = fees.provider_for(settings_of(request), fees.SANDBOX)
        payment = fees.start_payment(db, actor, application_id, provider)
    except TsunaguError as exc:
        db.rollback()
        return _page(request, db, actor, application_id, error=exc)
    return RedirectResponse(payment.checkout_url, status_code=303)


@router.post("/applications/{application_id}/fee-exemption", response_class=HTMLResponse)
def claim_exemption(
    application_id: str,
    request: Request,
    db: DbSession,
    actor: Caller,
    exemption_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    try:
        fees.claim_exemption(db, actor, application_id, exemption_id, settings_of(request))
    except TsunaguError as exc:
        db.rollback()
        return _page(request, db, actor, application_id, error=exc)
    return see_other(request, f"/applications/{application_id}/payment?saved=exempt")


@router.get("/payments/sandbox/{intent_id}", response_class=HTMLResponse)
def sandbox_checkout(intent_id: str, request: Request, db: DbSession) -> HTMLResponse:
    """The sandbox provider's checkout page (reached by its intent URL)."""
    intent = fees.provider_for(settings_of(request)).checkout(db, intent_id)
    return render(request, "procedure/sandbox_checkout.html", {"intent": intent, "error": None})


@router.post("/payments/sandbox/{intent_id}", response_class=HTMLResponse)
def sandbox_choose(
    intent_id: str,
    request: Request,
    db: DbSession,
    choice: Annotated[str, Form(pattern="^(pay|decline)$")],
) -> Response:
    """The payer's choice; the provider sends its signed callback and returns the payer."""
    settings = settings_of(request)
    provider = fees.provider_for(settings)
    try:
        intent, headers, body = provider.complete(db, intent_id, choice == "pay")
    except TsunaguError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        context = {"intent": provider.checkout(db, intent_id), "error": exc.message(
            request_language(request))}  # fmt: skip
        return render(request, "procedure/sandbox_checkout.html", context, exc.status_code)
    fees.receive_callback(db, provider, headers, body, store=sealing.store_for(settings))
    return RedirectResponse(intent.return_url, status_code=303)
