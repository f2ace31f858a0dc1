"""Fees (手数料): the payment-provider interface, the sandbox provider, exemptions, receipts.

How a fee is settled:

1. The applicant starts a payment on a draft (:func:`start_payment`): the provider
   creates a payment intent for the application's online fee and names a checkout URL.
2. The payer pays or declines at the provider, which confirms with a signed callback
   (:func:`receive_callback`). Providers deliver callbacks at least once, so the same
   event may arrive twice or at the same moment on two workers.
3. The first valid confirmation books the payment: the event id is inserted under a
   unique constraint (a copy inserts nothing) and the payment moves from ``pending``
   by a conditional update (a second event for the same intent changes nothing), so
   the fee is charged once and one 領収書 is issued, signed with the receiving
   organization's seal like decision notices.
4. :func:`require_settled` refuses submission while a fee that is not exempt is unpaid.

Instead of paying, the applicant may claim an exemption (減免) the procedure's pack
declares; the fee becomes 0, the claim is recorded and the reviewer sees it.

The sandbox provider is a real, in-platform simulated checkout: its own record of
intents (:class:`SandboxIntent`), a checkout page where the payer chooses, and
callbacks signed with HMAC-SHA256 over ``<timestamp>.<raw body>`` under a secret
derived from ``settings.secret_key``. It delivers its callback in process through
the same verification as ``POST /api/payments/sandbox/callback``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import to_tokyo, utcnow
from tsunagu.core.config import Settings
from tsunagu.core.errors import ConflictError, NotFoundError, TsunaguError, ValidationError
from tsunagu.exchange import sealing
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, Permission
from tsunagu.procedure import pades, service
from tsunagu.procedure.definitions import Exemption, get_procedure
from tsunagu.procedure.models import (
    Application,
    FeeExemption,
    Payment,
    PaymentEvent,
    Receipt,
    SandboxIntent,
)
from tsunagu.trust import protocol

CURRENCY = "JPY"
SANDBOX = "sandbox"
SIGNATURE_HEADER = "tsunagu-sandbox-signature"
TOLERANCE_SECONDS = 300
PENDING, PAID, DECLINED, CANCELLED = "pending", "paid", "declined", "cancelled"


# --- the provider interface ----------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """A payment intent as created at the provider: where the payer goes to pay it."""

    id: str
    checkout_url: str


@dataclass(frozen=True)
class ProviderEvent:
    """A verified callback: the provider's event id (the idempotency key) and what it says."""

    event_id: str
    intent_id: str
    amount: int
    currency: str
    status: str  # "succeeded" or "declined"


class CallbackRefused(TsunaguError):
    """A callback that is not a genuine, fitting confirmation (answered 400 and audited)."""

    status_code = 400

    def __init__(self, code: str, en: str, intent_id: str | None = None) -> None:
        super().__init__(code, "決済の通知を受け付けられません。", en)
        self.intent_id = intent_id


class PaymentRequired(ValidationError):
    """Submission of an application whose fee is neither paid nor exempt (HTTP 402; a kind of
    validation failure, so form pages show it like any other reason a submission is refused)."""

    status_code = 402

    def __init__(self) -> None:
        super().__init__(
            "payment_required",
            "手数料のお支払いが済んでいません。お支払い（または減免の申出）の後に提出してください。",
            "The fee has not been paid. Pay it (or claim an exemption), then submit.",
        )


class PaymentProvider(Protocol):
    """What the platform needs from a payment service provider."""

    name: str

    def create_intent(
        self, session: Session, *, amount: int, currency: str, reference: str, return_url: str
    ) -> Intent:
        """A new intent for ``amount`` (whole yen) the payer can pay at ``checkout_url``."""
        ...

    def cancel_intent(self, session: Session, intent_id: str) -> None:
        """Stop an open intent from being paid (the fee was waived meanwhile)."""
        ...

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The event in a callback whose signature checks out; :class:`CallbackRefused` else."""
        ...


# --- the sandbox provider ------------------------------------------------------------------


class SandboxProvider:
    """The in-platform simulated provider (no money moves; everything else is real)."""

    name = SANDBOX

    def __init__(self, settings: Settings) -> None:
        # A secret of its own, derived so that it never equals the session-cookie key.
        self._secret = hmac.new(
            settings.secret_key.encode("utf-8"),
            b"tsunagu.procedure.fees/sandbox-callback",
            hashlib.sha256,
        ).digest()

    def create_intent(
        self, session: Session, *, amount: int, currency: str, reference: str, return_url: str
    ) -> Intent:
        row = SandboxIntent(
            id=f"sbx_{secrets.token_hex(16)}",  # the checkout URL is a capability: unguessable
            amount=amount,
            currency=currency,
            reference=reference,
            return_url=return_url,
            status="open",
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        return Intent(row.id, f"/payments/sandbox/{row.id}")

    def cancel_intent(self, session: Session, intent_id: str) -> None:
        session.execute(
            update(SandboxIntent)
            .where(SandboxIntent.id == intent_id, SandboxIntent.status == "open")
            .values(status=CANCELLED, completed_at=utcnow())
        )

    def checkout(self, session: Session, intent_id: str) -> SandboxIntent:
        """The intent behind a checkout page."""
        row = session.get(SandboxIntent, intent_id)
        if row is None:
            raise NotFoundError(
                "checkout_not_found", "お支払い画面が見つかりません。", "No such checkout."
            )
        return row

    def complete(
        self, session: Session, intent_id: str, pay: bool
    ) -> tuple[SandboxIntent, dict[str, str], bytes]:
        """The payer's choice; returns the intent and the signed callback it sends (once)."""
        row = self.checkout(session, intent_id)
        done = session.execute(
            update(SandboxIntent)
            .where(SandboxIntent.id == intent_id, SandboxIntent.status == "open")
            .values(status="succeeded" if pay else DECLINED, completed_at=utcnow())
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(
                "checkout_completed",
                "このお支払いは既に完了または取消しされています。",
                "This checkout is already completed or cancelled.",
            )
        session.refresh(row)
        body = protocol.canonical_json(
            {
                "id": f"evt_{secrets.token_hex(16)}",
                "type": f"payment_intent.{row.status}",
                "intent": row.id,
                "amount": row.amount,
                "currency": row.currency,
                "reference": row.reference,
                "created": int(time.time()),
            }
        )
        return row, self.sign(body), body

    def sign(self, body: bytes, at: int | None = None) -> dict[str, str]:
        """Headers of a callback carrying ``body``, signed at ``at`` (now by default)."""
        stamp = int(time.time()) if at is None else at
        mac = hmac.new(self._secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"t={stamp},v1={mac}", "content-type": "application/json"}

    def verify_callback(
        self, headers: Mapping[str, str], body: bytes, *, now: float | None = None
    ) -> ProviderEvent:
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        stamp, presented = parts.get("t", ""), parts.get("v1", "")
        if not stamp.isdigit() or not presented:
            raise CallbackRefused("bad_signature", "The callback is not signed.")
        expected = hmac.new(self._secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, presented):
            raise CallbackRefused("bad_signature", "The callback signature does not verify.")
        if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_SECONDS:
            raise CallbackRefused("stale_callback", "The callback is too old (or from the future).")
        try:
            data = json.loads(body)
            status = {"payment_intent.succeeded": "succeeded", "payment_intent.declined": DECLINED}
            event = ProviderEvent(
                event_id=_text(data["id"]),
                intent_id=_text(data["intent"]),
                amount=data["amount"],
                currency=_text(data["currency"]),
                status=status[data["type"]],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRefused("bad_callback", "The callback is not a payment event.") from exc
        if type(event.amount) is not int:
            raise CallbackRefused("bad_callback", "The amount is not a whole number of yen.")
        return event


def _text(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError("expected a short string")
    return value


PROVIDERS = {SANDBOX: SandboxProvider}


def provider_for(settings: Settings, name: str = SANDBOX) -> SandboxProvider:
    """The configured provider called ``name`` (only the sandbox so far)."""
    if name not in PROVIDERS:
        raise NotFoundError("unknown_provider", "決済事業者が不明です。", "Unknown provider.")
    return PROVIDERS[name](settings)


# --- the fee of an application -------------------------------------------------------------


@dataclass(frozen=True)
class FeeStatus:
    """What is due on an application and how it stands.

    ``state``: ``none`` (the procedure is free), ``exempt``, ``unpaid``,
    ``pending`` (a checkout is open) or ``paid``.
    """

    application_id: str
    standard_fee: int
    fee: int
    state: str
    exemptions: tuple[Exemption, ...]
    exemption: Exemption | None
    payment: Payment | None
    receipt_number: str | None


def _latest_payment(session: Session, application_id: str) -> Payment | None:
    return session.execute(
        select(Payment)
        .where(Payment.application_id == application_id)
        .order_by(Payment.status != PAID, Payment.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def _receipt_of(session: Session, application_id: str) -> Receipt | None:
    return session.execute(
        select(Receipt).where(Receipt.application_id == application_id).limit(1)
    ).scalar_one_or_none()


def fee_status(session: Session, app: Application) -> FeeStatus:
    """The fee of ``app`` (no permission check: callers have loaded ``app`` for the actor)."""
    definition = get_procedure(app.procedure_id)
    claim = session.get(FeeExemption, app.id)
    exemption = next(
        (e for e in definition.fee.exemptions if claim and e.id == claim.exemption_id), None
    )
    payment = _latest_payment(session, app.id)
    receipt = _receipt_of(session, app.id)
    if payment is not None and payment.status == PAID:
        state = PAID
    elif claim is not None:
        state = "exempt"
    elif app.fee == 0:
        state = "none"
    else:
        state = PENDING if payment is not None and payment.status == PENDING else "unpaid"
    return FeeStatus(
        application_id=app.id,
        standard_fee=definition.fee.online,
        fee=app.fee,
        state=state,
        exemptions=definition.fee.exemptions,
        exemption=exemption,
        payment=payment,
        receipt_number=receipt.id if receipt else None,
    )


def status(session: Session, actor: Actor, application_id: str) -> FeeStatus:
    """The fee of an application, for its applicant, its subject or a reviewer of the owner."""
    return fee_status(session, service.get(session, actor, application_id))


def require_settled(session: Session, app: Application) -> None:
    """Submission guard: a fee above 0 needs a booked payment of at least that amount."""
    if app.fee <= 0:
        return
    paid = session.execute(
        select(Payment.id)
        .where(Payment.application_id == app.id, Payment.status == PAID)
        .where(Payment.amount >= app.fee)
        .limit(1)
    ).first()
    if paid is None:
        raise PaymentRequired()


def _already_paid() -> ConflictError:
    return ConflictError(
        "fee_already_paid", "手数料は支払済みです。", "The fee has already been paid."
    )


def claim_exemption(
    session: Session, actor: Actor, application_id: str, exemption_id: str, settings: Settings
) -> FeeStatus:
    """減免の申出: the fee becomes 0 for a reason the procedure declares; open checkouts end."""
    app, definition = service.editable(session, actor, application_id)
    if exemption_id not in {e.id for e in definition.fee.exemptions}:
        raise ValidationError(
            "unknown_exemption",
            "この手続にはその減免事由はありません。",
            "This procedure has no such exemption.",
        )
    if fee_status(session, app).state == PAID:
        raise _already_paid()
    pending = select(Payment).where(Payment.application_id == app.id, Payment.status == PENDING)
    for payment in session.execute(pending).scalars():
        provider_for(settings, payment.provider).cancel_intent(session, payment.intent_id)
    session.execute(
        update(Payment)
        .where(Payment.application_id == app.id, Payment.status == PENDING)
        .values(status=CANCELLED)
        .execution_options(synchronize_session=False)
    )
    claim = session.get(FeeExemption, app.id)
    if claim is None:
        claim = FeeExemption(application_id=app.id, waived=app.fee)
        session.add(claim)
    claim.exemption_id, claim.claimed_by, claim.claimed_at = exemption_id, actor.label, utcnow()
    app.fee = 0
    app.updated_at = utcnow()
    session.flush()
    service._audit(session, actor.label, app, "procedure.fee_exempted", exemption=exemption_id,
           waived=claim.waived)  # fmt: skip
    return fee_status(session, app)


def start_payment(
    session: Session, actor: Actor, application_id: str, provider: PaymentProvider
) -> Payment:
    """A checkout for the application's fee; an open one for the same amount is reused."""
    app, definition = service.editable(session, actor, application_id)
    if app.fee <= 0:
        raise ValidationError(
            "no_fee_due", "お支払いいただく手数料はありません。", "There is no fee to pay."
        )
    current = _latest_payment(session, app.id)
    if current is not None and current.status == PAID:
        raise _already_paid()
    if (
        current is not None
        and current.status == PENDING
        and (current.provider, current.amount) == (provider.name, app.fee)
    ):
        return current
    organization_id = service._owner(session, definition, app)
    intent = provider.create_intent(
        session,
        amount=app.fee,
        currency=CURRENCY,
        reference=app.id,
        return_url=f"/applications/{app.id}/payment",
    )
    payment = Payment(
        id=str(uuid.uuid4()),
        application_id=app.id,
        organization_id=organization_id,
        provider=provider.name,
        intent_id=intent.id,
        amount=app.fee,
        currency=CURRENCY,
        status=PENDING,
        payer=actor.label,
        checkout_url=intent.checkout_url,
        created_at=utcnow(),
    )
    session.add(payment)
    session.flush()
    service._audit(session, actor.label, app, "procedure.payment_started", payment_id=payment.id,
           provider=provider.name, amount=payment.amount)  # fmt: skip
    return payment


# --- callbacks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackResult:
    """``paid`` / ``declined`` (booked now), ``duplicate`` (this event was seen before) or
    ``already_settled`` (another event settled the payment first)."""

    outcome: str
    payment_id: str
    receipt_number: str | None = None


def _insert_once(session: Session, payment: Payment, event: ProviderEvent, provider: str) -> bool:
    """Record the event unless its id is known; True when this call recorded it.

    ``ON CONFLICT DO NOTHING`` on the unique (provider, event id): on PostgreSQL
    a concurrent copy waits for the first to commit and then inserts nothing.
    """
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(PaymentEvent)
        .values(
            provider=provider,
            event_id=event.event_id,
            payment_id=payment.id,
            status=event.status,
            amount=event.amount,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(PaymentEvent.id)
    )
    return session.execute(statement).first() is not None


def receive_callback(
    session: Session,
    provider: PaymentProvider,
    headers: Mapping[str, str],
    body: bytes,
    *,
    store: sealing.SealStore,
) -> CallbackResult:
    """Book a provider's confirmation once, however often and however concurrently it comes."""
    event = provider.verify_callback(headers, body)
    payment = session.execute(
        select(Payment).where(
            Payment.provider == provider.name, Payment.intent_id == event.intent_id
        )
    ).scalar_one_or_none()
    if payment is None:
        raise CallbackRefused("unknown_intent", "No such payment intent.", event.intent_id)
    if (event.amount, event.currency) != (payment.amount, payment.currency):
        raise CallbackRefused(
            "amount_mismatch", "The amount does not match the payment.", event.intent_id
        )
    if not _insert_once(session, payment, event, provider.name):
        return CallbackResult("duplicate", payment.id)
    outcome = PAID if event.status == "succeeded" else DECLINED
    moved = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status == PENDING)
        .values(status=outcome, settled_at=utcnow(), event_id=event.event_id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return CallbackResult("already_settled", payment.id)
    session.refresh(payment)
    app = service._load(session, payment.application_id)
    actor = f"provider:{provider.name}"
    if outcome == DECLINED:
        service._audit(session, actor, app, "procedure.payment_declined", payment_id=payment.id)
        return CallbackResult(DECLINED, payment.id)
    receipt = _issue_receipt(session, store, payment, app)
    service._audit(session, actor, app, "procedure.fee_paid", payment_id=payment.id,
           amount=payment.amount, receipt=receipt.id, event_id=event.event_id)  # fmt: skip
    return CallbackResult(PAID, payment.id, receipt.id)


def record_refusal(session: Session, provider: str, refused: CallbackRefused) -> None:
    """Audit a refused callback (in a transaction of its own: the refusal rolls back)."""
    audit.record(
        session,
        actor=f"provider:{provider}",
        action="procedure.payment_callback_refused",
        object_type="payment_intent",
        object_id=refused.intent_id or "-",
        data={"provider": provider, "reason": refused.code},
    )


# --- receipts ------------------------------------------------------------------------------


def render_receipt(data: dict[str, Any]) -> bytes:
    """The unsigned 領収書 (A4, Japanese with English subtitles)."""
    issued = datetime.fromisoformat(data["issued_at"])
    rows = [
        ("領収書番号 / Receipt No.", data["number"]),
        ("領収日 / Date", f"{pades.date_ja(issued)} / {to_tokyo(issued).date().isoformat()}"),
        ("手続 / Procedure", f"{data['procedure']['ja']} / {data['procedure']['en']}"),
        ("申請番号 / Application No.", data["application_id"]),
        ("支払方法 / Paid by", f"オンライン決済 / online payment ({data['provider']})"),
        ("決済番号 / Payment reference", data["intent_id"]),
    ]
    table = Table(
        [[Paragraph(escape(k), pades.SMALL), Paragraph(escape(v), pades.BODY)] for k, v in rows],
        colWidths=[48 * mm, 118 * mm],
    )
    table.setStyle(
        TableStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.3, "#999999")]
        )
    )
    amount = f"金 {data['amount']:,} 円 / JPY {data['amount']:,}"
    story = [
        Paragraph("領収書", pades.TITLE),
        Paragraph("Receipt", pades.BODY),
        Spacer(1, 6 * mm),
        Paragraph(escape(amount), pades.TITLE),
        Paragraph(
            escape(
                f"{data['procedure']['ja']}の手数料として、上記のとおり領収しました。"
                f" Received as the fee for: {data['procedure']['en']}."
            ),
            pades.BODY,
        ),
        Spacer(1, 6 * mm),
        table,
        Spacer(1, 6 * mm),
        Paragraph(escape(data["organization"]), pades.BODY),
        Spacer(1, 10 * mm),
        Paragraph(
            "この領収書には発行機関の電子公印による電子署名とタイムスタンプが付されています。"
            "PDF リーダーの署名パネルで検証できます。 This receipt carries the electronic seal "
            "of the issuing organization and a time-stamp; validate it in a PDF reader.",
            pades.SMALL,
        ),
    ]
    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        title=f"領収書 {data['number']}",
        author=data["organization"],
        leftMargin=22 * mm,
        rightMargin=22 * mm,
    ).build(story)
    return out.getvalue()


def _issue_receipt(
    session: Session, store: sealing.SealStore, payment: Payment, app: Application
) -> Receipt:
    definition = get_procedure(app.procedure_id)
    now = utcnow()
    number = f"{to_tokyo(now):%Y%m%d}-{secrets.token_hex(5).upper()}"
    data = {
        "number": number,
        "issued_at": now.isoformat(),
        "amount": payment.amount,
        "procedure": {"ja": definition.name.ja, "en": definition.name.en},
        "application_id": app.id,
        "provider": payment.provider,
        "intent_id": payment.intent_id,
        "organization": identity.get_organization(session, payment.organization_id).name_ja,
    }
    pdf, serial = pades.sign_pdf(
        session, store, payment.organization_id, render_receipt(data), reason="領収書 / Receipt"
    )
    row = Receipt(
        id=number,
        payment_id=payment.id,
        application_id=app.id,
        organization_id=payment.organization_id,
        amount=payment.amount,
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        seal_serial=serial,
        issued_at=now,
    )
    session.add(row)
    session.flush()
    return row


def receipt(session: Session, actor: Actor, application_id: str) -> Receipt:
    """The receipt, for the payer (the applicant) and reviewers of the receiving organization."""
    app = service._load(session, application_id)
    row = _receipt_of(session, app.id)
    reviewer = row is not None and (
        actor.can(Permission.APPLICATION_REVIEW) and actor.organization_id == row.organization_id
    )
    if not (actor.label == app.applicant or reviewer):
        raise service._not_found()
    if row is None:
        raise NotFoundError(
            "receipt_not_found",
            "領収書はありません（手数料が未払いです）。",
            "There is no receipt (the fee is not paid).",
        )
    return row
