"""JSON API of fees: start a payment, its status, exemptions, the receipt, provider callbacks.

Thin like :mod:`tsunagu.procedure.api`: :mod:`tsunagu.procedure.fees` checks every
permission. The callback endpoint has no session: the provider's signature is
its authentication, and refused callbacks are audited before the refusal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import require_login, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.procedure import fees
from tsunagu.procedure.definitions import Exemption
from tsunagu.procedure.models import Payment
from tsunagu.procedure.schemas import (
    CallbackOut,
    ExemptionIn,
    ExemptionOut,
    FeeOut,
    PaymentOut,
    PaymentStartIn,
)

router = APIRouter(tags=["procedure fees"])
Caller = Annotated[Actor, Depends(require_login)]


def absolute(request: Request, url: str) -> str:
    """A provider's checkout URL; the sandbox names a path on this site (its public base URL)."""
    return f"{settings_of(request).base_url.rstrip('/')}{url}" if url.startswith("/") else url


def _exemption(item: Exemption) -> ExemptionOut:
    return ExemptionOut(id=item.id, name_ja=item.name.ja, name_en=item.name.en)


def _payment(request: Request, row: Payment) -> PaymentOut:
    return PaymentOut(
        id=row.id, provider=row.provider, status=row.status, amount=row.amount,
        currency=row.currency, checkout_url=absolute(request, row.checkout_url),
        created_at=row.created_at, settled_at=row.settled_at,
    )  # fmt: skip


def _fee(request: Request, status: fees.FeeStatus) -> FeeOut:
    return FeeOut(
        application_id=status.application_id,
        standard_fee=status.standard_fee,
        fee=status.fee,
        state=status.state,
        exemptions=[_exemption(e) for e in status.exemptions],
        exemption=_exemption(status.exemption) if status.exemption else None,
        payment=_payment(request, status.payment) if status.payment else None,
        receipt_number=status.receipt_number,
    )


@router.get("/api/applications/{application_id}/payment", response_model=FeeOut)
def payment_status(application_id: str, request: Request, db: DbSession, actor: Caller) -> FeeOut:
    """The fee and its payment, for the applicant, the subject and the owner's reviewers."""
    return _fee(request, fees.status(db, actor, application_id))


@router.post("/api/applications/{application_id}/payment", response_model=PaymentOut)
def start_payment(
    application_id: str, body: PaymentStartIn, request: Request, db: DbSession, actor: Caller
) -> PaymentOut:
    """Start paying the fee (the filer, before submission): go to ``checkout_url``."""
    provider = fees.provider_for(settings_of(request), body.provider)
    return _payment(request, fees.start_payment(db, actor, application_id, provider))


@router.post("/api/applications/{application_id}/fee-exemption", response_model=FeeOut)
def claim_exemption(
    application_id: str, body: ExemptionIn, request: Request, db: DbSession, actor: Caller
) -> FeeOut:
    """減免の申出 (the filer, before submission): one of the procedure's exemptions."""
    status = fees.claim_exemption(
        db, actor, application_id, body.exemption_id, settings_of(request)
    )
    return _fee(request, status)


@router.get(
    "/api/applications/{application_id}/receipt.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def receipt_pdf(application_id: str, db: DbSession, actor: Caller) -> Response:
    """領収書 as issued, signed with the receiving organization's seal (payer, reviewers)."""
    row = fees.receipt(db, actor, application_id)
    return Response(
        bytes(row.pdf),
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="receipt-{row.id}.pdf"'},
    )


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes."""
    return await request.body()


# The body is read raw (the signature covers its bytes), so OpenAPI is told its shape here.
CALLBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["id", "type", "intent", "amount", "currency"],
                "properties": {
                    "id": {"type": "string", "description": "event id (idempotency key)"},
                    "type": {
                        "type": "string",
                        "enum": ["payment_intent.succeeded", "payment_intent.declined"],
                    },
                    "intent": {"type": "string"},
                    "amount": {"type": "integer"},
                    "currency": {"type": "string", "enum": ["JPY"]},
                    "reference": {"type": "string"},
                    "created": {"type": "integer"},
                },
            }
        }
    },
}


@router.post(
    "/api/payments/sandbox/callback",
    response_model=CallbackOut,
    openapi_extra={
        "requestBody": CALLBACK_BODY,
        "parameters": [
            {
                "name": fees.SIGNATURE_HEADER,
                "in": "header",
                "required": True,
                "description": "t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.' + raw body>",
                "schema": {"type": "string"},
            }
        ],
    },
)
def sandbox_callback(
    request: Request, db: DbSession, body: Annotated[bytes, Depends(raw_body)]
) -> CallbackOut:
    """The sandbox provider's signed confirmation; replays are answered, never booked twice."""
    settings = settings_of(request)
    provider = fees.provider_for(settings, fees.SANDBOX)
    try:
        result = fees.receive_callback(
            db, provider, request.headers, body, store=sealing.store_for(settings)
        )
    except fees.CallbackRefused as refused:
        db.rollback()
        fees.record_refusal(db, provider.name, refused)
        db.commit()
        raise
    return CallbackOut(
        outcome=result.outcome, payment_id=result.payment_id, receipt_number=result.receipt_number
    )
