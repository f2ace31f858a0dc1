"""Fees: payment intent → signed callback → paid, once however often (and however concurrently)
the callback arrives; refused callbacks are audited; declines, exemptions, the submission guard,
the sealed receipt, and who may call every endpoint."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from tests.browser import assert_keyboard_accessible, assert_no_axe_violations
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError, ValidationError
from tsunagu.identity import sessions
from tsunagu.procedure import fees, pades, service
from tsunagu.procedure.models import Application, Payment, PaymentEvent, Receipt
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import AuthorityRole

from .conftest import Login, World, tennyu_form

FORM = {"copies": 1, "purpose": "就職"}
CALLBACK = "/api/payments/sandbox/callback"


def _draft(world: World, person: str | None = None) -> str:
    with transaction(world.factory) as session:
        return service.create(session, world.person(person or world.taro), "juminhyo_kofu", FORM).id


def _provider(world: World) -> fees.SandboxProvider:
    return fees.provider_for(world.settings)


def _start(world: World, app_id: str, person: str | None = None) -> Payment:
    with transaction(world.factory) as session:
        actor = world.person(person or world.taro)
        return fees.start_payment(session, actor, app_id, _provider(world))


def _complete(world: World, intent_id: str, *, pay: bool = True) -> tuple[dict[str, str], bytes]:
    """The payer's choice at the sandbox; the callback it would send (not yet delivered)."""
    with transaction(world.factory) as session:
        _intent, headers, body = _provider(world).complete(session, intent_id, pay)
    return headers, body


def _deliver(world: World, headers: dict[str, str], body: bytes) -> fees.CallbackResult:
    with transaction(world.factory) as session:
        return fees.receive_callback(session, _provider(world), headers, body, store=world.store)


def _submit(world: World, app_id: str, person: str | None = None) -> Any:
    who = person or world.taro
    with transaction(world.factory) as session:
        app = session.get(Application, app_id)
        signature = world.sign(who, service.document(app))
        return service.submit(
            session, world.person(who), app_id, signature, store=world.store
        ).application


def _count(world: World, model: Any, **where: Any) -> int:
    with transaction(world.factory) as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.execute(query).scalar_one())


def _actions(world: World, action: str) -> list[AuditRecord]:
    with transaction(world.factory) as session:
        return list(
            session.execute(select(AuditRecord).where(AuditRecord.action == action)).scalars()
        )


def _paid_app(world: World) -> tuple[str, Payment]:
    app_id = _draft(world)
    payment = _start(world, app_id)
    assert _deliver(world, *_complete(world, payment.intent_id)).outcome == "paid"
    return app_id, payment


# --- the flow ----------------------------------------------------------------------------------


def test_intent_checkout_callback_paid_receipt_and_submission(world: World, login: Login) -> None:
    taro = login(person=world.taro)
    app_id = taro.post("/api/procedures/juminhyo_kofu/applications", json={"form": FORM}).json()[
        "id"
    ]
    before = taro.get(f"/api/applications/{app_id}/payment").json()
    assert (before["fee"], before["standard_fee"], before["state"]) == (200, 200, "unpaid")
    assert [e["id"] for e in before["exemptions"]] == ["public_assistance"]
    started = taro.post(f"/api/applications/{app_id}/payment", json={})
    assert started.status_code == 200, started.text
    checkout = started.json()["checkout_url"]
    assert checkout.startswith("http://testserver/payments/sandbox/sbx_")
    # starting again resumes the same checkout
    assert taro.post(f"/api/applications/{app_id}/payment", json={}).json()["checkout_url"] == (
        checkout
    )
    # the payer at the provider's page (no platform session needed: the URL is the capability)
    with TestClient(taro.app, base_url="http://testserver") as payer:
        page = payer.get(checkout)
        assert page.status_code == 200 and "200円" in page.text
        chosen = payer.post(checkout, data={"choice": "pay"}, follow_redirects=False)
        assert chosen.status_code == 303
        assert chosen.headers["location"] == f"/applications/{app_id}/payment"
        again = payer.post(checkout, data={"choice": "pay"}, follow_redirects=False)
        assert again.status_code == 409  # the provider takes one choice per checkout
    after = taro.get(f"/api/applications/{app_id}/payment").json()
    assert after["state"] == "paid" and after["payment"]["status"] == "paid"
    assert after["receipt_number"]
    pdf = taro.get(f"/api/applications/{app_id}/receipt.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    _assert_valid_receipt(world, pdf.content)
    with transaction(world.factory) as session:
        assert pades.validate(session, pdf.content)
    assert _count(world, Receipt) == 1
    assert len(_actions(world, "procedure.fee_paid")) == 1
    # paid: the submission goes through (and is decided automatically)
    app = _submit(world, app_id)
    assert app.status == "approved"


def _assert_valid_receipt(world: World, pdf: bytes) -> None:
    with transaction(world.factory) as session:
        root = trust.trust_store(session).ders[AuthorityRole.ROOT]
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    status = pades.run_sync(async_validate_pdf_signature(signature, context))
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage is not None and status.coverage.name == "ENTIRE_FILE"
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert "千代田区" in status.signing_cert.subject.human_friendly
    altered = pdf.replace(b"ReportLab Generated PDF document", b"ReportLab Generated PDF documenT")
    [tampered] = PdfFileReader(io.BytesIO(altered)).embedded_signatures
    assert not pades.run_sync(async_validate_pdf_signature(tampered, context)).intact


# --- idempotency -------------------------------------------------------------------------------


def test_replayed_callback_charges_once(world: World, client: TestClient) -> None:
    app_id = _draft(world)
    payment = _start(world, app_id)
    headers, body = _complete(world, payment.intent_id)
    first = client.post(CALLBACK, content=body, headers=headers)
    second = client.post(CALLBACK, content=body, headers=headers)
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["outcome"] == "paid" and first.json()["receipt_number"]
    assert second.json() == {"outcome": "duplicate", "payment_id": payment.id,
                             "receipt_number": None}  # fmt: skip
    # another event for the same intent (a provider retrying under a new id) books nothing
    event = json.loads(body)
    event["id"] = "evt_another"
    other = protocol.canonical_json(event)
    third = client.post(CALLBACK, content=other, headers=_provider(world).sign(other))
    assert third.json()["outcome"] == "already_settled"
    assert _count(world, PaymentEvent) == 2
    assert _count(world, Payment, status="paid") == 1
    assert _count(world, Receipt) == 1
    assert len(_actions(world, "procedure.fee_paid")) == 1


def _concurrently(world: World, callbacks: list[tuple[dict[str, str], bytes]]) -> list[str]:
    """Deliver every callback at the same moment, each in its own transaction."""
    barrier = threading.Barrier(len(callbacks))
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def deliver(headers: dict[str, str], body: bytes) -> None:
        try:
            barrier.wait()
            outcomes.append(_deliver(world, headers, body).outcome)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=deliver, args=callback) for callback in callbacks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    return sorted(outcomes)


def test_concurrent_replays_charge_once(world: World) -> None:
    payment = _start(world, _draft(world))
    callback = _complete(world, payment.intent_id)
    assert _concurrently(world, [callback] * 3) == ["duplicate", "duplicate", "paid"]
    assert _count(world, PaymentEvent) == 1 and _count(world, Receipt) == 1
    assert len(_actions(world, "procedure.fee_paid")) == 1


def test_concurrent_events_for_one_intent_charge_once(world: World) -> None:
    """Two different events confirming the same intent (a provider retrying under a new id)."""
    payment = _start(world, _draft(world))
    _headers, body = _complete(world, payment.intent_id)
    event = json.loads(body)
    event["id"] = "evt_retry"
    retry = protocol.canonical_json(event)
    callbacks = [(_provider(world).sign(b), b) for b in (body, retry)]
    assert _concurrently(world, callbacks) == ["already_settled", "paid"]
    assert _count(world, PaymentEvent) == 2 and _count(world, Receipt) == 1
    assert _count(world, Payment, status="paid") == 1


# --- refused callbacks -------------------------------------------------------------------------


def _refused(client: TestClient, body: bytes, headers: dict[str, str], code: str) -> None:
    response = client.post(CALLBACK, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_bad_signature_stale_and_unknown_intent_are_refused_and_audited(
    world: World, client: TestClient
) -> None:
    app_id = _draft(world)
    payment = _start(world, app_id)
    headers, body = _complete(world, payment.intent_id)
    forged = fees.SandboxProvider(world.settings.model_copy(update={"secret_key": "guess"}))
    _refused(client, body, forged.sign(body), "bad_signature")
    _refused(client, body, {"content-type": "application/json"}, "bad_signature")
    tampered = body.replace(b'"amount":200', b'"amount":2')
    _refused(client, tampered, headers, "bad_signature")
    stale = _provider(world).sign(body, at=int(time.time()) - fees.TOLERANCE_SECONDS - 5)
    _refused(client, body, stale, "stale_callback")
    unknown = json.loads(body)
    unknown["intent"] = "sbx_unknown"
    unknown_body = protocol.canonical_json(unknown)
    _refused(client, unknown_body, _provider(world).sign(unknown_body), "unknown_intent")
    refusals = _actions(world, "procedure.payment_callback_refused")
    reasons = sorted(json.loads(r.data)["reason"] for r in refusals)
    assert reasons == ["bad_signature"] * 3 + ["stale_callback", "unknown_intent"]
    assert _count(world, Payment, status="pending") == 1 and _count(world, PaymentEvent) == 0
    # the genuine callback still books it
    assert client.post(CALLBACK, content=body, headers=headers).json()["outcome"] == "paid"


def test_wrong_amount_is_refused_and_audited(world: World, client: TestClient) -> None:
    app_id = _draft(world)
    payment = _start(world, app_id)
    _headers, body = _complete(world, payment.intent_id)
    cheaper = json.loads(body)
    cheaper["amount"] = 1
    wrong = protocol.canonical_json(cheaper)
    _refused(client, wrong, _provider(world).sign(wrong), "amount_mismatch")
    [refusal] = _actions(world, "procedure.payment_callback_refused")
    assert refusal.object_id == payment.intent_id
    assert json.loads(refusal.data)["reason"] == "amount_mismatch"
    assert _count(world, Payment, status="paid") == 0 and _count(world, Receipt) == 0


# --- decline, exemption, the submission guard --------------------------------------------------


def test_declined_payment_leaves_the_fee_unpaid_and_can_be_retried(world: World) -> None:
    app_id = _draft(world)
    payment = _start(world, app_id)
    assert _deliver(world, *_complete(world, payment.intent_id, pay=False)).outcome == "declined"
    with transaction(world.factory) as session:
        status = fees.status(session, world.person(world.taro), app_id)
    assert status.state == "unpaid" and status.payment is not None
    assert status.payment.status == "declined" and status.receipt_number is None
    with pytest.raises(fees.PaymentRequired):
        _submit(world, app_id)
    retry = _start(world, app_id)
    assert retry.intent_id != payment.intent_id
    assert _deliver(world, *_complete(world, retry.intent_id)).outcome == "paid"
    assert _submit(world, app_id).status == "approved"


def test_submission_is_refused_while_the_fee_is_unpaid(world: World, login: Login) -> None:
    app_id = _draft(world)
    with pytest.raises(fees.PaymentRequired) as raised:
        _submit(world, app_id)
    assert raised.value.code == "payment_required" and raised.value.status_code == 402
    assert "手数料" in raised.value.message_ja and "fee" in raised.value.message_en
    # through the API too, with both languages
    taro = login(person=world.taro)
    with transaction(world.factory) as session:
        document = service.document(session.get(Application, app_id))
    cms = protocol.b64(world.sign(world.taro, document))
    response = taro.post(f"/api/applications/{app_id}/submit", json={"cms": cms})
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "payment_required" and error["message_ja"] and error["message_en"]
    # a procedure without a fee needs nothing
    with transaction(world.factory) as session:
        assert fees.status(session, world.person(world.taro), app_id).standard_fee == 200


def test_the_signing_page_says_the_fee_is_unpaid(world: World, login: Login) -> None:
    app_id = _draft(world)
    taro = login(person=world.taro)
    with transaction(world.factory) as session:
        document = service.document(session.get(Application, app_id))
    signed = taro.post(
        f"/applications/{app_id}/sign",
        data={"cms": protocol.b64(world.sign(world.taro, document))},
    )
    assert signed.status_code == 422
    assert "手数料のお支払いが済んでいません" in signed.text


def test_exemption_sets_the_fee_to_zero_with_the_reason(world: World, login: Login) -> None:
    app_id = _draft(world)
    pending = _start(world, app_id)  # an open checkout ends when the fee is waived
    taro = login(person=world.taro)
    wrong = taro.post(f"/api/applications/{app_id}/fee-exemption", json={"exemption_id": "x"})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "unknown_exemption"
    claimed = taro.post(
        f"/api/applications/{app_id}/fee-exemption", json={"exemption_id": "public_assistance"}
    )
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert (body["fee"], body["standard_fee"], body["state"]) == (0, 200, "exempt")
    assert body["exemption"]["name_ja"] == "生活保護の受給に必要な場合"
    [audited] = _actions(world, "procedure.fee_exempted")
    assert json.loads(audited.data)["exemption"] == "public_assistance"
    assert json.loads(audited.data)["waived"] == 200
    assert _count(world, Payment, status="cancelled") == 1
    with transaction(world.factory) as session, pytest.raises(ConflictError):
        _provider(world).complete(session, pending.intent_id, True)
    nothing = taro.post(f"/api/applications/{app_id}/payment", json={})
    assert nothing.status_code == 422 and nothing.json()["error"]["code"] == "no_fee_due"
    submitted = _submit(world, app_id)  # the claim goes to a person, not to the rules
    assert (submitted.status, submitted.automatic) == ("submitted", False)
    # the reviewer of the receiving office sees the claim
    reviewer = login(official=world.chiyoda_reviewer)
    seen = reviewer.get(f"/api/applications/{app_id}/payment").json()
    assert seen["state"] == "exempt" and seen["exemption"]["id"] == "public_assistance"


def test_no_exemption_after_paying(world: World) -> None:
    app_id, _payment = _paid_app(world)
    with transaction(world.factory) as session, pytest.raises(ConflictError) as raised:
        fees.claim_exemption(
            session, world.person(world.taro), app_id, "public_assistance", world.settings
        )
    assert raised.value.code == "fee_already_paid"
    with transaction(world.factory) as session, pytest.raises(ConflictError):
        fees.start_payment(session, world.person(world.taro), app_id, _provider(world))


def test_free_procedures_need_no_payment(world: World) -> None:
    with transaction(world.factory) as session:
        app = service.create(session, world.person(world.hanako), "tennyu", tennyu_form())
        assert fees.fee_status(session, app).state == "none"
        with pytest.raises(ValidationError):
            fees.start_payment(session, world.person(world.hanako), app.id, _provider(world))


# --- who may call ------------------------------------------------------------------------------


def test_who_may_call_the_fee_endpoints(world: World, login: Login, client: TestClient) -> None:
    app_id, _payment = _paid_app(world)
    paths = {
        "status": ("get", f"/api/applications/{app_id}/payment", None),
        "start": ("post", f"/api/applications/{app_id}/payment", {}),
        "exempt": ("post", f"/api/applications/{app_id}/fee-exemption",
                   {"exemption_id": "public_assistance"}),
        "receipt": ("get", f"/api/applications/{app_id}/receipt.pdf", None),
        "page": ("get", f"/applications/{app_id}/payment", None),
    }  # fmt: skip

    def call(who: TestClient, name: str) -> int:
        method, path, body = paths[name]
        if method == "get":
            return who.get(path).status_code
        return who.post(path, json=body).status_code

    for name in paths:
        assert call(client, name) == 401, name  # anonymous
    stranger = login(person=world.stranger)
    other_office = login(official=world.osaka_reviewer)
    for name in paths:
        assert call(stranger, name) == 404, name
        assert call(other_office, name) == 404, name
    taro = login(person=world.taro)
    assert call(taro, "status") == call(taro, "receipt") == call(taro, "page") == 200
    assert call(taro, "start") == call(taro, "exempt") == 409  # paid already
    _submit(world, app_id)
    reviewer = login(official=world.chiyoda_reviewer)
    assert call(reviewer, "status") == call(reviewer, "receipt") == 200
    assert call(reviewer, "start") == call(reviewer, "exempt") == 404  # only the filer acts
    # the sandbox's pages: an unknown checkout is not found
    assert client.get("/payments/sandbox/sbx_nothing").status_code == 404
    assert client.post("/payments/sandbox/sbx_nothing", data={"choice": "pay"}).status_code == 404


def test_the_subject_sees_the_fee_but_not_the_proxys_receipt(world: World, login: Login) -> None:
    world.power_of_attorney(world.taro, world.stranger, ["juminhyo_kofu"])
    with transaction(world.factory) as session:
        app_id = service.create(
            session, world.person(world.stranger), "juminhyo_kofu", FORM,
            on_behalf_of=service.Party("person", world.taro),
        ).id  # fmt: skip
    payment = _start(world, app_id, person=world.stranger)
    _deliver(world, *_complete(world, payment.intent_id))
    taro = login(person=world.taro)
    assert taro.get(f"/api/applications/{app_id}/payment").json()["state"] == "paid"
    assert taro.get(f"/api/applications/{app_id}/receipt.pdf").status_code == 404
    assert (
        login(person=world.stranger).get(f"/api/applications/{app_id}/receipt.pdf").status_code
        == 200
    )


# --- pages -------------------------------------------------------------------------------------


def test_payment_page_and_checkout_through_forms(world: World, login: Login) -> None:
    app_id = _draft(world)
    taro = login(person=world.taro)
    page = taro.get(f"/applications/{app_id}/payment?lang=en")
    assert page.status_code == 200 and "Pay 200 yen" in page.text
    assert "Needed for public assistance" in page.text
    del taro.headers["x-csrf-token"]
    forged = taro.post(f"/applications/{app_id}/payment", follow_redirects=False)
    assert forged.status_code == 403  # the form needs its CSRF token
    token = sessions.csrf_token(world.settings.secret_key, taro.cookies[sessions.COOKIE])
    started = taro.post(
        f"/applications/{app_id}/payment", data={"csrf_token": token}, follow_redirects=False
    )
    assert started.status_code == 303
    checkout = started.headers["location"]
    declined = taro.post(checkout, data={"choice": "decline"})
    assert declined.status_code == 200 and "支払" in declined.text  # back on the payment page
    assert "拒否" in declined.text or "declined" in declined.text
    claimed = taro.post(
        f"/applications/{app_id}/fee-exemption",
        data={"csrf_token": token, "exemption_id": "public_assistance"},
    )
    assert claimed.status_code == 200 and "減免" in claimed.text


def _browser_login(world: World, page: Page, live_server: str, person: str) -> None:
    with transaction(world.factory) as session:
        started = sessions.start(session, method="card", ial=3, aal=2, person_id=person)
    page.context.add_cookies(
        [{"name": sessions.COOKIE, "value": started.token, "url": live_server}]
    )


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_sandbox_checkout_with_the_keyboard_alone(
    world: World, page: Page, live_server: str, lang: str
) -> None:
    app_id = _draft(world)
    _browser_login(world, page, live_server, world.taro)
    payment_page = f"/applications/{app_id}/payment?lang={lang}"
    page.goto(payment_page)
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, payment_page)
    # keyboard only: Tab to the pay button, Enter; then at the checkout Tab to "pay", Enter
    page.goto(payment_page)
    _tab_to(page, "button.button:not(.button--danger)")
    page.keyboard.press("Enter")
    page.wait_for_url("**/payments/sandbox/sbx_*")
    checkout = page.url.replace(live_server, "")
    assert_no_axe_violations(page)
    assert_keyboard_accessible(page, checkout)
    page.goto(checkout)
    _tab_to(page, "button[value=pay]")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/applications/{app_id}/payment")
    assert page.locator("#fee-state").inner_text().strip() in ("支払済み", "Paid")
    assert_no_axe_violations(page)
    page.goto(f"{checkout}?lang={lang}")  # the completed checkout page
    assert page.locator("#checkout-done").is_visible()
    assert_no_axe_violations(page)


def _tab_to(page: Page, selector: str) -> None:
    target = page.locator(selector).first
    for _ in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{selector} not reachable with Tab")
