"""Decision notices: a PAdES PDF a PDF validator accepts against the platform root, and a
sealed JSON copy; an altered PDF fails; only parties and the owner's reviewers read them."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import tokyo_today
from tsunagu.core.db import transaction
from tsunagu.core.outbox.models import OutboxEvent
from tsunagu.core.outbox.service import Event
from tsunagu.exchange import sealing
from tsunagu.procedure import decisions, notices, service
from tsunagu.procedure.models import Application, Decision
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import AuthorityRole

from .conftest import Login, World, tennyu_form


def _file(world: World, form: dict[str, Any]) -> Application:
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "tennyu", form)
        signature = world.sign(world.hanako, service.document(draft))
        app = service.submit(session, actor, draft.id, signature, store=world.store).application
    world.drain()  # the worker issues the notice after the decision commits
    return app


def _validate(world: World, pdf: bytes) -> PdfSignatureStatus:
    with transaction(world.factory) as session:
        root = trust.trust_store(session).ders[AuthorityRole.ROOT]
    context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(root)])
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return decisions.run_sync(async_validate_pdf_signature(signature, context))


def test_automatic_decision_issues_a_signed_time_stamped_notice(world: World) -> None:
    app = _file(world, tennyu_form())
    assert app.status == "approved"
    with transaction(world.factory) as session:
        row = decisions.of_application(session, app.id)
        envelope = decisions.envelope(row)
        verified = sealing.verify(session, envelope)
    pdf = bytes(row.pdf)
    assert pdf.startswith(b"%PDF") and row.outcome == "approved"
    status = _validate(world, pdf)
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.coverage.name == "ENTIRE_FILE"
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert "大阪市" in status.signing_cert.subject.human_friendly
    # the machine-readable copy is sealed by the same organization and says the same
    assert verified.organization_id == world.osaka == row.organization_id
    assert verified.payload["document_number"] == row.id
    assert verified.payload["outcome"] == "approved" and verified.payload["automatic"]
    assert verified.payload["procedure"]["name"]["ja"] == "転入届"


def test_the_notice_is_issued_once_after_commit_and_audited(world: World) -> None:
    actor = world.person(world.hanako)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, "tennyu", tennyu_form())
        signature = world.sign(world.hanako, service.document(draft))
        app = service.submit(session, actor, draft.id, signature, store=world.store).application
        assert app.status == "approved" and app.automatic and app.decided_at is not None
        with pytest.raises(notices.NoticeNotReady):
            service.decision(session, actor, app.id)
    world.drain()
    with transaction(world.factory) as session:
        row = decisions.of_application(session, app.id)
        [event] = session.execute(
            select(OutboxEvent).where(OutboxEvent.topic == notices.DECIDED_TOPIC)
        ).scalars()
        # a redelivered event (at-least-once) finds the notice and issues no second one
        notices.issue(session, Event(event.id, event.topic, {"application_id": app.id}, 2))
        trail = {
            r.action: json.loads(r.data)
            for r in session.execute(
                select(AuditRecord).where(AuditRecord.object_id == app.id)
            ).scalars()
        }
        count = session.execute(
            select(func.count()).select_from(Decision).where(Decision.application_id == app.id)
        ).scalar_one()
    assert count == 1
    assert "pdf_sha256" not in trail["procedure.approved"]
    assert trail["procedure.notice_issued"]["decision"] == row.id
    assert trail["procedure.notice_issued"]["pdf_sha256"] == row.pdf_sha256
    assert hashlib.sha256(bytes(row.pdf)).hexdigest() == row.pdf_sha256


def test_a_notice_altered_after_signing_fails_validation(world: World) -> None:
    app = _file(world, tennyu_form())
    with transaction(world.factory) as session:
        pdf = bytes(decisions.of_application(session, app.id).pdf)
    marker = b"ReportLab Generated PDF document"
    assert marker in pdf
    altered = pdf.replace(marker, b"ReportLab Generated PDF documenT", 1)
    status = _validate(world, altered)
    assert not status.intact and not status.bottom_line


def test_reviewer_decision_notice_through_the_api(world: World, login: Login) -> None:
    late = tennyu_form()
    late["moved_in_on"] = (tokyo_today() - timedelta(days=30)).isoformat()
    hanako = login(person=world.hanako)
    created = hanako.post("/api/procedures/tennyu/applications", json={"form": late}).json()
    cms = protocol.b64(world.sign(world.hanako, created["document"]))
    app_id = hanako.post(f"/api/applications/{created['id']}/submit", json={"cms": cms}).json()[
        "id"
    ]
    path = f"/api/applications/{app_id}"
    assert hanako.get(f"{path}/decision.pdf").status_code == 404  # not decided yet
    reviewer = login(official=world.osaka_reviewer)
    reviewer.post(f"{path}/assign", json={})
    decided = reviewer.post(
        f"{path}/decision", json={"approved": False, "reason": "届出期間を過ぎています。"}
    )
    assert decided.json()["status"] == "rejected"
    for suffix in ("pdf", "json"):  # decided, the notice not issued yet: ask again shortly
        waiting = hanako.get(f"{path}/decision.{suffix}")
        assert waiting.status_code == 409 and waiting.headers["retry-after"] == "2"
        error = waiting.json()["error"]
        assert error["code"] == "notice_not_ready" and "作成中" in error["message_ja"]
        assert "being issued" in error["message_en"]
    assert login(person=world.taro).get(f"{path}/decision.pdf").status_code == 404
    world.drain()
    pdf = hanako.get(f"{path}/decision.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert _validate(world, pdf.content).bottom_line
    copy = hanako.get(f"{path}/decision.json").json()
    assert copy["payload"]["outcome"] == "rejected" and not copy["payload"]["automatic"]
    assert copy["payload"]["reason"] == "届出期間を過ぎています。"
    assert reviewer.get(f"{path}/decision.pdf").status_code == 200
    for outsider in (
        login(person=world.taro),
        login(official=world.chiyoda_reviewer),
        login(official=world.osaka_counter),
    ):
        assert outsider.get(f"{path}/decision.pdf").status_code == 404
        assert outsider.get(f"{path}/decision.json").status_code == 404
