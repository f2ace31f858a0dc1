"""The fetch: authorization against the matrix and consent, projection, seals, logging."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.concurrency import race
from tests.exchange.conftest import HANAKO, TARO, World
from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import ConflictError, NotFoundError, ValidationError
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.exchange.models import CASE_SUBJECTS, CASES, AccessLogEntry
from tsunagu.trust import service as trust
from tsunagu.trust.service import Reason


def _case(session: Session, requester: str, procedure: str, ref: str, *subjects: str) -> str:
    people = {s: "applicant" for s in subjects or (HANAKO,)}
    return exchange.open_case(
        session, requester_id=requester, procedure_id=procedure, application_ref=ref,
        subjects=people, actor="official",
    ).id  # fmt: skip


def _fetch(
    session: Session, world: World, requester: str, **request: object
) -> exchange.FetchResult:
    request.setdefault("subject_id", HANAKO)
    envelope = exchange.request_envelope(session, world.store, requester_id=requester, **request)
    return exchange.fetch(session, envelope, store=world.store)


def _only_entry(session: Session) -> AccessLogEntry:
    (entry,) = session.execute(select(AccessLogEntry)).scalars().all()
    return entry


def test_allowed_fetch_returns_exactly_the_projected_fields_sealed_by_the_owner(
    session: Session, world: World
) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-2025-0001")
    envelope = exchange.request_envelope(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-2025-0001", evidence_type="juminhyo_kisai", subject_id=HANAKO,
    )  # fmt: skip
    result = exchange.fetch(session, envelope, store=world.store)
    assert result.outcome == "provided" and result.response is not None
    evidence = exchange.verify_response(session, result.response, envelope)
    assert evidence.owner_id == world.chiyoda
    (record,) = evidence.records
    assert set(record["data"]) == {"name", "birth_date", "sex", "address", "status"}
    assert record["data"]["name"] == {"family": "山田", "given": "花子"}
    assert evidence.payload["provision_id"] == "mn-jidou-teate"

    entry = _only_entry(session)
    assert (entry.outcome, entry.party_id, entry.requester_id) == (
        "provided",
        HANAKO,
        world.chiyoda,
    )
    assert json.loads(entry.fields) == ["name", "birth_date", "sex", "address", "status"]
    assert entry.requester_verified and entry.owner_id == world.chiyoda
    audit_row = session.get(AuditRecord, entry.audit_seq)
    assert audit_row is not None and audit_row.action == "exchange.fetch.provided"
    data = json.loads(audit_row.data)
    assert data["procedure_id"] == "jidou_teate_nintei" and data["fields"] == json.loads(
        entry.fields
    )
    assert "山田" not in audit_row.data


def test_full_copy_leaves_out_what_the_document_omits(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-1")
    result = _fetch(
        session, world, world.chiyoda, procedure_id="jidou_teate_nintei", application_ref="JT-1",
        evidence_type="juminhyo",
    )  # fmt: skip
    assert result.response is not None
    data = result.response["payload"]["records"][0]["data"]
    assert "resident_code" not in data and "honseki" not in data
    assert data["household"] == {"head_name": "山田 花子", "relationship": "世帯主"}


def test_fetch_without_legal_basis_is_refused_with_a_reason_and_logged(
    session: Session, world: World
) -> None:
    # A company handling a "child allowance claim" has no function the matrix lists.
    _case(session, world.company, "jidou_teate_nintei", "X-1")
    result = _fetch(
        session, world, world.company, procedure_id="jidou_teate_nintei", application_ref="X-1",
        evidence_type="kazei_shomei",
    )  # fmt: skip
    assert result.outcome == "refused" and result.response is None
    assert result.refused is not None and result.refused.reason == "no_legal_basis"
    assert "根拠" in result.refused.message_ja and "legal basis" in result.refused.message_en
    entry = _only_entry(session)
    assert (entry.outcome, entry.reason, entry.party_id) == ("refused", "no_legal_basis", HANAKO)
    assert json.loads(entry.fields) == []
    assert session.get(AuditRecord, entry.audit_seq) is not None
    # The pension service may get an income certificate for a survivors' pension, not a tax one.
    _case(session, world.pension, "izoku_nenkin", "NK-1")
    refused = _fetch(
        session, world, world.pension, procedure_id="izoku_nenkin", application_ref="NK-1",
        evidence_type="kazei_shomei",
    )  # fmt: skip
    assert refused.refused is not None and refused.refused.reason == "no_legal_basis"
    allowed = _fetch(
        session, world, world.pension, procedure_id="izoku_nenkin", application_ref="NK-1",
        evidence_type="shotoku_shomei",
    )  # fmt: skip
    assert allowed.outcome == "provided"


def test_designations_closed_cases_and_replays_count_at_the_next_fetch(
    session: Session, world: World
) -> None:
    """Nothing the checks read is cached: each change counts at the very next fetch."""
    case = _case(session, world.jasso, "izoku_nenkin", "NK-2")
    request = dict(
        procedure_id="izoku_nenkin", application_ref="NK-2", evidence_type="shotoku_shomei"
    )
    before = _fetch(session, world, world.jasso, **request)
    assert before.refused is not None and before.refused.reason == "no_legal_basis"
    exchange.designate(session, world.jasso, "pension_service", actor="test")
    assert _fetch(session, world, world.jasso, **request).outcome == "provided"
    exchange.close_case(session, case, actor="test")
    closed = _fetch(session, world, world.jasso, **request)
    assert closed.refused is not None and closed.refused.reason == "application_closed"
    # A replay is named as such even when the request is refused for more reasons.
    unknown = exchange.request_envelope(
        session, world.store, requester_id=world.jasso, subject_id=HANAKO,
        procedure_id="izoku_nenkin", application_ref="NK-2", evidence_type="no-such-evidence",
    )  # fmt: skip
    first = exchange.fetch(session, unknown, store=world.store)
    assert first.refused is not None and first.refused.reason == "unknown_evidence_type"
    again = exchange.fetch(session, unknown, store=world.store)
    assert again.refused is not None and again.refused.reason == "replayed_request"


def _closed_at(session: Session, case: str) -> object:
    return session.execute(select(CASES.c.closed_at).where(CASES.c.id == case)).scalar_one()


def test_a_case_closes_once_even_in_the_transaction_that_opened_it(
    session: Session, world: World
) -> None:
    """A case is written when opened (a read of the table sees it before any flush), closes
    once with one audit record, and closing an unknown case is refused."""
    case = _case(session, world.chiyoda, "jidou_teate_nintei", "JT-C")
    assert not session.new and _closed_at(session, case) is None
    exchange.close_case(session, case, actor="test")
    assert _closed_at(session, case) is not None
    exchange.close_case(session, case, actor="test")  # idempotent: no second record
    closings = audit.records_of(session, "exchange_case", case)
    assert [r.action for r in closings] == ["exchange.case_opened", "exchange.case_closed"]
    refused = _fetch(
        session, world, world.chiyoda, procedure_id="jidou_teate_nintei", application_ref="JT-C",
        evidence_type="juminhyo_kisai",
    )  # fmt: skip
    assert refused.refused is not None and refused.refused.reason == "application_closed"
    with pytest.raises(NotFoundError):
        exchange.close_case(session, "no-such-case", actor="test")


def test_an_application_is_registered_once(session: Session, world: World) -> None:
    """A second case for the same application is refused, in the transaction that opened the
    first and after it; another requester may use the same reference."""
    first = _case(session, world.chiyoda, "jidou_teate_nintei", "JT-D", HANAKO, TARO)
    for _ in range(2):
        with pytest.raises(ConflictError) as refused:
            _case(session, world.chiyoda, "jidou_teate_nintei", "JT-D")
        assert refused.value.code == "duplicate_application"
        session.commit()  # and once it is committed
    other = _case(session, world.osaka, "hoiku_riyou", "JT-D")
    # each case keeps its own subjects (all of them); a refused one wrote none
    subjects = select(CASE_SUBJECTS.c.case_id, CASE_SUBJECTS.c.party_id).where(
        CASE_SUBJECTS.c.case_id.in_([first, other])
    )
    assert sorted(session.execute(subjects).all()) == sorted(
        [(first, HANAKO), (first, TARO), (other, HANAKO)]
    )
    every = select(func.count()).select_from(CASE_SUBJECTS)
    assert session.execute(every).scalar_one() == 3


def test_an_application_opened_twice_at_once_is_registered_once(
    session_factory: sessionmaker[Session], engine: Engine, world: World
) -> None:
    """Two transactions opening the same application: the second waits for the first and is
    refused with the conflict (409), not a failed transaction (500)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no two opening at once")
    error = race(
        session_factory, engine, lambda s: _case(s, world.chiyoda, "jidou_teate_nintei", "JT-R")
    )
    assert isinstance(error, ConflictError) and error.code == "duplicate_application"
    with session_factory() as session:
        opened = select(func.count()).where(CASES.c.application_ref == "JT-R")
        assert session.execute(opened).scalar_one() == 1


def test_fetch_for_someone_elses_procedure_is_refused(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-9")
    _case(session, world.osaka, "hoiku_riyou", "OS-1")
    attempts = {
        # Osaka cites Chiyoda's application.
        "application_of_another_organization": dict(
            procedure_id="jidou_teate_nintei", application_ref="JT-9", evidence_type="juminhyo"
        ),
        # Osaka cites its own application but another procedure than the one it was filed under.
        "procedure_mismatch": dict(
            procedure_id="jidou_teate_nintei", application_ref="OS-1", evidence_type="juminhyo"
        ),
        "unknown_application": dict(
            procedure_id="hoiku_riyou", application_ref="NOPE", evidence_type="juminhyo"
        ),
    }
    for reason, request in attempts.items():
        result = _fetch(session, world, world.osaka, **request)
        assert result.refused is not None and result.refused.reason == reason
    # A person who is not a party to the application.
    result = _fetch(
        session, world, world.osaka, procedure_id="hoiku_riyou", application_ref="OS-1",
        evidence_type="juminhyo", subject_id=TARO,
    )  # fmt: skip
    assert result.refused is not None and result.refused.reason == "subject_not_in_application"
    reasons = session.execute(select(AccessLogEntry.reason)).scalars().all()
    assert len(reasons) == 4 and all(reasons)


def test_consent_is_needed_where_the_matrix_says_so(session: Session, world: World) -> None:
    case = _case(session, world.jasso, "shogakukin_taiyo", "JASSO-7")
    request = dict(
        procedure_id="shogakukin_taiyo", application_ref="JASSO-7", evidence_type="shotoku_shomei"
    )
    first = _fetch(session, world, world.jasso, **request)
    assert first.refused is not None and first.refused.reason == "consent_missing"
    exchange.give_consent(
        session, case_id=case, party_id=HANAKO, evidence_type_id="shotoku_shomei", actor="hanako"
    )
    second = _fetch(session, world, world.jasso, **request)
    assert second.outcome == "provided" and second.response is not None
    (record,) = second.response["payload"]["records"]
    assert set(record["data"]) == {"fiscal_year", "income_year", "income"}
    exchange.revoke_consent(session, case_id=case, party_id=HANAKO, actor="hanako")
    third = _fetch(session, world, world.jasso, **request)
    assert third.refused is not None and third.refused.reason == "consent_missing"


def test_request_seal_must_be_the_requesters_and_intact(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-2")
    request = dict(
        procedure_id="jidou_teate_nintei", application_ref="JT-2", evidence_type="juminhyo",
        subject_id=HANAKO,
    )  # fmt: skip
    # Osaka seals a request that claims to come from Chiyoda.
    payload = exchange.request_payload(requester_id=world.chiyoda, **request)  # type: ignore[arg-type]
    forged = world.store.seal(session, world.osaka, payload)
    result = exchange.fetch(session, forged, store=world.store)
    assert result.refused is not None and result.refused.reason == "seal_mismatch"
    # A genuine request altered after sealing.
    genuine = exchange.request_envelope(session, world.store, requester_id=world.chiyoda, **request)
    altered = copy.deepcopy(genuine)
    altered["payload"]["evidence_type"] = "juminhyo"
    altered["payload"]["subject_id"] = TARO
    result = exchange.fetch(session, altered, store=world.store)
    assert result.refused is not None and result.refused.reason == "bad_seal"
    assert _last(session).requester_verified is False
    # Garbage is refused and logged too.
    result = exchange.fetch(session, {"payload": "nonsense"}, store=world.store)
    assert result.refused is not None and result.refused.reason == "bad_request"


def _last(session: Session) -> AccessLogEntry:
    return session.execute(
        select(AccessLogEntry).order_by(AccessLogEntry.id.desc()).limit(1)
    ).scalar_one()


def test_a_revoked_seal_no_longer_opens_the_registers(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-3")
    envelope = exchange.request_envelope(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-3", evidence_type="juminhyo", subject_id=HANAKO,
    )  # fmt: skip
    serial = world.store.seal_for(session, world.chiyoda).serial
    trust.revoke(session, serial, Reason.KEY_COMPROMISE, actor="admin")
    result = exchange.fetch(session, envelope, store=world.store)
    assert result.refused is not None and result.refused.reason == "bad_seal"


def test_a_seal_made_here_is_checked_here_without_a_second_signature_check(
    session: Session, world: World
) -> None:
    """In process, the requester's and the owner's seals are both made by this deployment:
    neither is parsed or verified again (``cms.sign_vouched``); an altered copy is."""
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-5")
    envelope = exchange.request_envelope(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-5", evidence_type="juminhyo", subject_id=HANAKO,
    )  # fmt: skip
    assert sealing.open_envelope(envelope).message.vouched
    result = exchange.fetch(session, envelope, store=world.store)
    assert result.outcome == "provided" and result.response is not None
    assert sealing.open_envelope(result.response).message.vouched
    altered = copy.deepcopy(envelope)
    altered["payload"]["request_id"] = "another-request"
    refused = exchange.fetch(session, altered, store=world.store).refused
    assert refused is not None and refused.reason == "bad_seal"


def test_replayed_and_stale_requests_are_refused(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-4")
    request = dict(
        requester_id=world.chiyoda, procedure_id="jidou_teate_nintei", application_ref="JT-4",
        evidence_type="juminhyo", subject_id=HANAKO,
    )  # fmt: skip
    envelope = exchange.request_envelope(session, world.store, **request)
    assert exchange.fetch(session, envelope, store=world.store).outcome == "provided"
    again = exchange.fetch(session, envelope, store=world.store)
    assert again.refused is not None and again.refused.reason == "replayed_request"
    old = exchange.request_envelope(
        session, world.store, **request, at=utcnow() - timedelta(minutes=10)
    )
    stale = exchange.fetch(session, old, store=world.store)
    assert stale.refused is not None and stale.refused.reason == "stale_request"


def test_missing_record_is_logged_as_not_found(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-5")
    with pytest.raises(NotFoundError):
        exchange.fetch_evidence(
            session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref="JT-5", evidence_type="kazei_shomei", subject_id=HANAKO,
            record_key="2019",
        )  # fmt: skip
    entry = _only_entry(session)
    assert (entry.outcome, entry.reason) == ("not_found", "no_record")
    evidence = exchange.fetch_evidence(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-5", evidence_type="kazei_shomei", subject_id=HANAKO,
        record_key="2024",
    )  # fmt: skip
    assert evidence.records[0]["data"]["tax"] == {"total": 170_000}


def test_requester_detects_a_tampered_or_foreign_response(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-6")
    envelope = exchange.request_envelope(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-6", evidence_type="juminhyo", subject_id=HANAKO,
    )  # fmt: skip
    result = exchange.fetch(session, envelope, store=world.store)
    assert result.response is not None
    tampered = copy.deepcopy(result.response)
    tampered["payload"]["records"][0]["data"]["address"]["town"] = "別の町"
    with pytest.raises(ValidationError):
        exchange.verify_response(session, tampered, envelope)
    other = exchange.request_envelope(
        session, world.store, requester_id=world.chiyoda, procedure_id="jidou_teate_nintei",
        application_ref="JT-6", evidence_type="juminhyo", subject_id=HANAKO,
    )  # fmt: skip
    with pytest.raises(ValidationError):
        exchange.verify_response(session, result.response, other)


def test_every_log_entry_is_in_the_audit_chain(session: Session, world: World) -> None:
    _case(session, world.chiyoda, "jidou_teate_nintei", "JT-7")
    for evidence in ("juminhyo", "koseki_tohon", "touki"):
        _fetch(
            session, world, world.chiyoda, procedure_id="jidou_teate_nintei",
            application_ref="JT-7", evidence_type=evidence,
        )  # fmt: skip
    session.commit()
    assert audit.verify_chain(session) is None
    entries = session.execute(select(AccessLogEntry)).scalars().all()
    assert [e.outcome for e in entries] == ["provided", "not_found", "refused"]
    assert [e.reason for e in entries] == [None, "no_record", "no_legal_basis"]


def test_the_check_query_reads_a_subject_by_its_key_whatever_the_statistics(
    session: Session, world: World
) -> None:
    """PostgreSQL planned the check's join of case subjects as a scan of every subject on a
    table without statistics (a new deployment), and kept that plan for the prepared query;
    read as EXISTS by the primary key it is an index lookup."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan")
    for n in range(200):
        _case(session, world.chiyoda, "jidou_teate_nintei", f"JT-S{n}", f"party-{n}")
    session.execute(
        text("DELETE FROM pg_statistic WHERE starelid = 'exchange_case_subjects'::regclass")
    )
    statement = exchange._checks_statement(("municipality",)).statement.params(
        request="r", requester=world.chiyoda, ref="JT-S7", party="party-7", evidence="juminhyo",
        seal_serial="00",
    )  # fmt: skip
    sql = statement.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    plan = "\n".join(session.execute(text(f"EXPLAIN {sql}")).scalars())
    assert "exchange_case_subjects" in plan and "Seq Scan on exchange_case_subjects" not in plan
