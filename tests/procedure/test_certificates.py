"""Certificates: an approved 住民票の写し / 課税証明書 request issues a PAdES PDF that validates
against the platform root, with a document number anyone can verify (status only; with the PDF,
that it is the one issued); an altered PDF fails; revocation by the issuer only."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.db import transaction
from tsunagu.procedure import certificates, pades, service
from tsunagu.procedure.definitions import ProcedureDefinition, get_procedure
from tsunagu.procedure.models import Application, Certificate
from tsunagu.registry import service as registry

from .conftest import Login, World, juki

JUMINHYO = {"copies": 1, "purpose": "金融機関"}


def tax_record(fiscal_year: int = 2026) -> dict[str, Any]:
    return {
        "fiscal_year": fiscal_year,
        "income_year": fiscal_year - 1,
        "taxable": "課税",
        "income": {"salary_revenue": 5_000_000, "salary": 3_560_000, "total": 3_560_000},
        "deductions": {"social_insurance": 700_000, "basic": 430_000, "total": 1_130_000},
        "dependents": {"spouse": False, "general": 0},
        "taxable_income": 2_430_000,
        "tax": {"municipal": 145_800, "prefectural": 97_200, "total": 243_000},
        "payment": {"paid": 243_000, "arrears": 0},
    }


def request(world: World, person: str, procedure: str, form: dict[str, Any]) -> Application:
    """File and sign a certificate request (fee settled: not what these tests are about)."""
    actor = world.person(person)
    with transaction(world.factory) as session:
        draft = service.create(session, actor, procedure, form)
        draft.fee = 0
        signature = world.sign(person, service.document(draft))
        app = service.submit(session, actor, draft.id, signature, store=world.store).application
    world.drain()  # the worker issues the notice (and with it the certificate)
    return app


def certificate_of(world: World, app: Application) -> Certificate:
    with transaction(world.factory) as session:
        row = certificates.of_application(session, app.id)
        assert row is not None
        session.expunge(row)
        return row


def validates(world: World, pdf: bytes) -> bool:
    with transaction(world.factory) as session:
        return pades.validate(session, pdf)


@pytest.fixture
def taxed(world: World) -> World:
    with transaction(world.factory) as session:
        registry.assert_fact(
            session, "kazei", world.taro, tax_record(), keeper_id=world.chiyoda, actor="test",
            valid_from=date(2026, 1, 1),
        )  # fmt: skip
    return world


# --- document numbers ----------------------------------------------------------------------


def test_document_numbers_are_random_and_checked() -> None:
    numbers = {certificates.new_number() for _ in range(200)}
    assert len(numbers) == 200
    number = numbers.pop()
    assert len(number) == 21 and number.count("-") == 4
    assert certificates.normalize_number(number) == number
    typed = number.lower().replace("-", " ").replace("0", "o")
    assert certificates.normalize_number(typed) == number
    zero_check = next(n for n in (certificates.new_number() for _ in range(5000)) if n[-1] == "0")
    assert certificates.normalize_number(zero_check[:-1] + "O") == zero_check  # read leniently too
    body, check = number[:-1], number[-1]
    other = next(c for c in certificates.CHECK_ALPHABET if c != check)
    assert certificates.normalize_number(body + other) is None  # one wrong symbol is caught
    swapped = number[1] + number[0] + number[2:]
    assert number[0] == number[1] or certificates.normalize_number(swapped) is None


# --- 住民票の写し ----------------------------------------------------------------------------


def test_juminhyo_request_issues_a_signed_certificate_of_the_household(world: World) -> None:
    with transaction(world.factory) as session:  # 本籍 is in the register, never on a copy
        record = juki("h-suzuki", resident_code="99999999999")
        record["honseki"] = {"address": "東京都千代田区千代田1番", "head_of_family": "鈴木 一郎"}
        registry.change(
            session, "juki", world.taro, {"honseki": record["honseki"]}, actor="test",
            valid_from=date(2020, 1, 1), keeper_id=world.chiyoda,
        )  # fmt: skip
    form = {**JUMINHYO, "include_household": True, "include_relationship": True}
    app = request(world, world.taro, "juminhyo_kofu", form)
    assert app.status == "approved"
    row = certificate_of(world, app)
    assert row.kind == "juminhyo" and row.organization_id == world.chiyoda
    assert hashlib.sha256(row.pdf).hexdigest() == row.pdf_sha256
    assert certificates.normalize_number(row.number) == row.number
    assert row.valid_until > row.issued_at.date()
    assert validates(world, row.pdf)
    with transaction(world.factory) as session:
        data = certificates.content(session, session.get(Application, app.id), _definition())
        trail = session.execute(
            select(AuditRecord).where(AuditRecord.object_id == row.number)
        ).scalar_one()
    assert len(data["records"]) == 2  # taro and jiro, as the register says
    text = json.dumps(data, ensure_ascii=False)
    for never in ("honseki", "resident_code", "99999999999", "mynumber", "千代田1番"):
        assert never not in text
    assert all("relationship" in member["household"] for member in data["records"])
    assert trail.action == "procedure.certificate_issued"
    assert "名" not in trail.data and row.pdf_sha256 in trail.data


def test_only_the_chosen_parts_are_shown(world: World) -> None:
    app = request(world, world.taro, "juminhyo_kofu", JUMINHYO)
    with transaction(world.factory) as session:
        data = certificates.content(session, session.get(Application, app.id), _definition())
    [only] = data["records"]  # no household asked for: the requester alone
    assert "household" not in only and only["name"] and only["address"]


def test_a_certificate_altered_after_signing_fails_validation(world: World) -> None:
    row = certificate_of(world, request(world, world.taro, "juminhyo_kofu", JUMINHYO))
    marker = b"ReportLab Generated PDF document"
    altered = row.pdf.replace(marker, b"ReportLab Generated PDF documenT", 1)
    assert altered != row.pdf
    assert not validates(world, altered)
    with transaction(world.factory) as session:
        checked = certificates.verify(session, row.number, altered)
    assert checked.status == "valid" and not checked.pdf_matches and not checked.signature_valid


def test_no_certificate_for_a_rejected_or_undecided_request(world: World) -> None:
    # hanako moved out of 千代田区: the rules do not approve, a person looks at it
    app = request(world, world.hanako, "juminhyo_kofu", JUMINHYO)
    assert app.status != "approved"
    with transaction(world.factory) as session:
        assert certificates.of_application(session, app.id) is None


# --- 課税証明書 --------------------------------------------------------------------------------


def test_kazei_certificate_of_the_fiscal_year_asked(taxed: World) -> None:
    world = taxed
    app = request(world, world.taro, "kazei_shomei_kofu", {**_tax_form(), "fiscal_year": 2026})
    assert app.status == "approved"
    row = certificate_of(world, app)
    assert row.kind == "kazei_shomei" and validates(world, row.pdf)
    with transaction(world.factory) as session:
        data = certificates.content(
            session, session.get(Application, app.id), _definition("kazei_shomei_kofu")
        )
    [record] = data["records"]
    assert record["fiscal_year"] == 2026 and record["tax"]["total"] == 243_000
    assert "payment" not in record  # not a field of the evidence type


def test_kazei_for_a_year_without_record_is_left_to_a_person(taxed: World) -> None:
    app = request(taxed, taxed.taro, "kazei_shomei_kofu", {**_tax_form(), "fiscal_year": 2020})
    assert app.status == "submitted"
    with transaction(taxed.factory) as session:
        assert certificates.of_application(session, app.id) is None


# --- verification and revocation through the API ------------------------------------------------


def test_verification_by_number_and_upload(world: World, client: TestClient) -> None:
    row = certificate_of(world, request(world, world.taro, "juminhyo_kofu", JUMINHYO))
    anonymous = client
    status = anonymous.get(f"/api/certificates/{row.number}").json()
    assert status["status"] == "valid" and status["kind"] == "juminhyo"
    assert status["issuer"]["ja"] == "千代田区" and status["title"]["ja"] == "住民票の写し"
    assert set(status) == {
        "number", "kind", "title", "issuer", "issued_at", "valid_until", "status",
        "revoked_at", "pdf_matches", "signature_valid",
    }  # fmt: skip
    assert status["pdf_matches"] is None  # nothing personal without the PDF
    typed = row.number.lower().replace("-", "")
    assert anonymous.get(f"/api/certificates/{typed}").json()["number"] == row.number
    checked = anonymous.post(
        f"/api/certificates/{row.number}/verify",
        content=row.pdf,
        headers={"content-type": "application/pdf"},
    ).json()
    assert checked["pdf_matches"] is True and checked["signature_valid"] is True
    other = anonymous.post(f"/api/certificates/{row.number}/verify", content=b"%PDF-1.4 junk")
    assert other.json()["pdf_matches"] is False and other.json()["signature_valid"] is False
    unknown = certificates.new_number()
    assert anonymous.get(f"/api/certificates/{unknown}").status_code == 404
    assert anonymous.get("/api/certificates/NOT-A-NUMBER").status_code == 404
    page = anonymous.get(f"/certificates/verify?number={row.number}&lang=en")
    assert page.status_code == 200 and "Valid" in page.text and "千代田区" in page.text
    assert "鈴木" not in page.text  # no personal content on the public page
    uploaded = anonymous.post(
        "/certificates/verify?lang=en",
        data={"number": row.number},
        files={"pdf": ("c.pdf", row.pdf, "application/pdf")},
    )
    assert "It is exactly the certificate issued" in uploaded.text
    missing = anonymous.get(f"/certificates/verify?number={unknown}&lang=en")
    assert missing.status_code == 404 and "No certificate has this number" in missing.text


def test_revocation_by_the_issuer_only(world: World, login: Login, client: TestClient) -> None:
    row = certificate_of(world, request(world, world.taro, "juminhyo_kofu", JUMINHYO))
    path = f"/api/certificates/{row.number}/revoke"
    body = {"reason": "error"}
    assert client.post(path, json=body).status_code == 401
    for refused in (
        login(person=world.taro),  # the holder cannot revoke
        login(official=world.osaka_reviewer),  # another organization
        login(official=world.osaka_counter),
    ):
        assert refused.post(path, json=body).status_code == 403
    issuer = login(official=world.chiyoda_reviewer)
    assert issuer.post(path, json={"reason": "because"}).status_code == 422
    issuer.headers.pop("x-csrf-token")
    assert issuer.post(path, json=body).status_code == 403  # CSRF
    issuer = login(official=world.chiyoda_reviewer)
    revoked = issuer.post(path, json=body)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    status = client.get(f"/api/certificates/{row.number}").json()
    assert status["status"] == "revoked" and status["revoked_at"]
    page = client.get(f"/certificates/verify?number={row.number}&lang=en")
    assert "Revoked" in page.text
    with transaction(world.factory) as session:
        [trail] = session.execute(
            select(AuditRecord).where(
                AuditRecord.object_id == row.number,
                AuditRecord.action == "procedure.certificate_revoked",
            )
        ).scalars()
    assert trail.actor == f"official:{world.chiyoda_reviewer}"


def _definition(procedure: str = "juminhyo_kofu") -> ProcedureDefinition:
    return get_procedure(procedure)


def _tax_form() -> dict[str, Any]:
    return {"copies": 1, "purpose": "融資"}


def test_a_certificate_past_its_validity_shows_expired(world: World, client: TestClient) -> None:
    row = certificate_of(world, request(world, world.taro, "juminhyo_kofu", JUMINHYO))
    with transaction(world.factory) as session:
        stored = session.get(Certificate, row.number)
        assert stored is not None
        stored.valid_until = date(2020, 1, 1)
    status = client.get(f"/api/certificates/{row.number}").json()
    assert status["status"] == "expired" and status["revoked_at"] is None
