"""The bitemporal engine: changes, corrections, retractions and "as of" questions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.registry.conftest import resident
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.outbox.models import OutboxEvent
from tsunagu.registry import service
from tsunagu.registry.validation import RecordInvalid

PERSON = str(uuid.UUID(int=42))
T1 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(days=30)
T3 = T2 + timedelta(days=30)
NEW_ADDRESS = {
    "municipality_code": "131016",
    "prefecture": "東京都",
    "municipality": "千代田区",
    "town": "霞が関",
    "block": "一丁目1番1号",
}


def _birth(session: Session, day: date, known: datetime | None) -> str:
    (version,) = service.as_of(session, "juki", PERSON, valid_on=day, known_at=known)
    return str(version.data["birth_date"])


def _town(session: Session, day: date, known: datetime | None) -> str:
    (version,) = service.as_of(session, "juki", PERSON, valid_on=day, known_at=known)
    return str(version.data["address"]["town"])


def test_history_answers_as_of_questions_after_a_change_and_a_correction(
    session: Session, chiyoda: str
) -> None:
    service.assert_fact(
        session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="keeper",
        valid_from=date(2010, 4, 1), at=T1,
    )  # fmt: skip
    # She moves within the ward from 2024-02-01, recorded at T2.
    service.change(
        session, "juki", PERSON, {"address": NEW_ADDRESS}, actor="keeper",
        valid_from=date(2024, 2, 1), at=T2,
    )  # fmt: skip
    # At T3 the keeper finds the birth date was mistyped from the very beginning.
    changes = service.correct(
        session, "juki", PERSON, {"birth_date": "1980-01-03"}, actor="keeper",
        valid_from=date(2010, 4, 1), at=T3,
    )  # fmt: skip
    assert len(changes) == 2 and all("corrected" in c.events for c in changes)

    # Valid-time axis, current knowledge: address changed on 2024-02-01, birth date corrected.
    assert _town(session, date(2023, 12, 31), None) == "永田町"
    assert _town(session, date(2024, 2, 1), None) == "霞が関"
    assert _birth(session, date(2015, 1, 1), None) == "1980-01-03"
    assert _birth(session, date(2024, 3, 1), None) == "1980-01-03"
    # Knowledge axis: before T2 nobody knew about the move, before T3 about the mistake.
    assert _town(session, date(2024, 3, 1), T1 + timedelta(days=1)) == "永田町"
    assert _town(session, date(2024, 3, 1), T2 + timedelta(days=1)) == "霞が関"
    assert _birth(session, date(2024, 3, 1), T2 + timedelta(days=1)) == "1980-01-02"
    assert _birth(session, date(2015, 1, 1), T3) == "1980-01-03"
    # Nothing is known before the first recording, nothing is valid before 2010-04-01.
    assert (
        service.as_of(
            session, "juki", PERSON, valid_on=date(2024, 3, 1), known_at=T1 - timedelta(seconds=1)
        )
        == []
    )
    assert service.as_of(session, "juki", PERSON, valid_on=date(2009, 1, 1)) == []

    # Nothing was erased: 1 + (1 superseded → 2) + (2 superseded → 2) rows.
    versions = service.history(session, "juki", PERSON)
    assert len(versions) == 5
    assert sum(v.superseded_at is None for v in versions) == 2


def test_a_fact_for_a_closed_interval_keeps_what_was_before_and_after(
    session: Session, chiyoda: str
) -> None:
    service.assert_fact(
        session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="k",
        valid_from=date(2010, 4, 1), at=T1,
    )  # fmt: skip
    away = resident(address=NEW_ADDRESS)
    service.assert_fact(
        session, "juki", PERSON, away, keeper_id=chiyoda, actor="k",
        valid_from=date(2015, 1, 1), valid_to=date(2016, 1, 1), at=T2,
    )  # fmt: skip
    current = [v for v in service.history(session, "juki", PERSON) if v.superseded_at is None]
    spans = sorted((v.valid_from, v.valid_to, v.data["address"]["town"]) for v in current)
    assert spans == [
        (date(2010, 4, 1), date(2015, 1, 1), "永田町"),
        (date(2015, 1, 1), date(2016, 1, 1), "霞が関"),
        (date(2016, 1, 1), None, "永田町"),
    ]


def test_retraction_removes_the_fact_from_now_on_but_not_from_the_past(
    session: Session, chiyoda: str
) -> None:
    service.assert_fact(
        session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="k",
        valid_from=date(2010, 4, 1), at=T1,
    )  # fmt: skip
    change = service.assert_fact(
        session, "juki", PERSON, None, keeper_id=chiyoda, actor="k",
        valid_from=date(2010, 4, 1), at=T2,
    )  # fmt: skip
    assert change.events == ("retracted",)
    assert service.as_of(session, "juki", PERSON, valid_on=date(2020, 1, 1)) == []
    assert service.as_of(session, "juki", PERSON, valid_on=date(2020, 1, 1), known_at=T1)
    with pytest.raises(NotFoundError):
        service.assert_fact(
            session, "juki", PERSON, None, keeper_id=chiyoda, actor="k",
            valid_from=date(2010, 4, 1),
        )  # fmt: skip


def _assessment(year: int, total: int) -> dict[str, object]:
    """A 住民税課税台帳 record of one fiscal year (the register's record key)."""
    return {
        "fiscal_year": year,
        "income_year": year - 1,
        "taxable": "課税",
        "income": {"total": 3_000_000},
        "deductions": {"total": 430_000},
        "taxable_income": 2_570_000,
        "tax": {"municipal": total * 6 // 10, "prefectural": total * 4 // 10, "total": total},
    }


def test_keyed_registry_keeps_one_record_per_fiscal_year(session: Session, chiyoda: str) -> None:
    for year, total in ((2023, 30000), (2024, 45000)):
        service.assert_fact(
            session, "kazei", PERSON, _assessment(year, total), keeper_id=chiyoda, actor="k",
            valid_from=date(year, 6, 1),
        )  # fmt: skip
    both = service.as_of(session, "kazei", PERSON, valid_on=date(2024, 7, 1))
    assert [v.record_key for v in both] == ["2023", "2024"]
    (only,) = service.as_of(session, "kazei", PERSON, valid_on=date(2024, 7, 1), record_key="2024")
    assert only.data["tax"]["total"] == 45000


def test_a_change_with_a_whole_record_changes_the_record_of_that_records_key(
    session: Session, chiyoda: str
) -> None:
    """``change(record=…)`` on a keyed register: the patch goes to the version of the record's
    own fiscal year where there is one, else the record is enrolled under its key — never
    under another key, and never over another year's record."""
    service.assert_fact(
        session, "kazei", PERSON, _assessment(2023, 30000), keeper_id=chiyoda, actor="k",
        valid_from=date(2023, 6, 1),
    )  # fmt: skip
    paid = {"payment": {"paid": 45000, "arrears": 0}}
    enrolled = service.change(
        session, "kazei", PERSON, paid, actor="k", valid_from=date(2024, 6, 1),
        keeper_id=chiyoda, record=_assessment(2024, 45000),
    )  # fmt: skip
    assert enrolled.record_key == "2024" and enrolled.superseded == ()
    patched = service.change(
        session, "kazei", PERSON, paid, actor="k", valid_from=date(2024, 7, 1),
        keeper_id=chiyoda, record=_assessment(2024, 99999),
    )  # fmt: skip
    assert patched.record_key == "2024" and len(patched.superseded) == 1
    day = date(2024, 7, 1)
    (fy2023, fy2024) = service.as_of(session, "kazei", PERSON, valid_on=day)
    assert fy2023.data == _assessment(2023, 30000)
    assert fy2024.data == {**_assessment(2024, 45000), **paid}


def test_a_change_refuses_a_record_of_another_key(session: Session, chiyoda: str) -> None:
    with pytest.raises(ValidationError) as refused:
        service.change(
            session, "kazei", PERSON, {}, actor="k", valid_from=date(2024, 6, 1),
            record_key="2023", keeper_id=chiyoda, record=_assessment(2024, 45000),
        )  # fmt: skip
    assert refused.value.code == "record_key_mismatch"
    assert "2024" in refused.value.message_ja and "'2023'" in refused.value.message_en
    assert service.as_of(session, "kazei", PERSON, valid_on=date(2024, 6, 1)) == []


def test_validation_errors_name_the_field_and_rule_in_both_languages(
    session: Session, chiyoda: str
) -> None:
    bad = resident(birth_date="1980-02-30", sex="不明")
    del bad["kana"]
    with pytest.raises(RecordInvalid) as caught:
        service.assert_fact(
            session, "juki", PERSON, bad, keeper_id=chiyoda, actor="k", valid_from=date(2020, 1, 1)
        )
    errors = {(e.path, e.rule): e for e in caught.value.errors}
    assert set(errors) == {("birth_date", "format"), ("sex", "enum"), ("kana", "required")}
    assert errors["birth_date", "format"].message_ja.startswith("「生年月日」(birth_date)")
    assert "date" in errors["birth_date", "format"].message_en
    assert "男、女" in errors["sex", "enum"].message_ja
    assert errors["kana", "required"].message_en == "kana is required."
    assert caught.value.as_dict()["errors"][0]["path"]


def test_a_register_refuses_an_individual_number(session: Session, chiyoda: str) -> None:
    with pytest.raises(RecordInvalid) as caught:
        service.assert_fact(
            session, "juki", PERSON, resident(resident_code="12345678901",
            household={"household_id": "123456789018", "head_name": "x", "relationship": "世帯主"}),
            keeper_id=chiyoda, actor="k", valid_from=date(2020, 1, 1),
        )  # fmt: skip
    assert [e.rule for e in caught.value.errors] == ["no_individual_number"]


def test_only_the_owner_kind_of_organization_keeps_a_register(
    session: Session, company: str
) -> None:
    with pytest.raises(PermissionDenied):
        service.assert_fact(
            session, "juki", PERSON, resident(), keeper_id=company, actor="k",
            valid_from=date(2020, 1, 1),
        )  # fmt: skip


def test_empty_interval_is_refused(session: Session, chiyoda: str) -> None:
    with pytest.raises(ValidationError):
        service.assert_fact(
            session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="k",
            valid_from=date(2020, 1, 1), valid_to=date(2020, 1, 1),
        )  # fmt: skip


def test_writes_are_audited_without_values_and_events_are_published(
    session: Session, chiyoda: str
) -> None:
    service.assert_fact(
        session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="keeper:1",
        valid_from=date(2010, 4, 1),
    )  # fmt: skip
    died = service.change(
        session, "juki", PERSON,
        {"status": "死亡", "moved_out": {"date": "2024-05-01", "reason": "死亡"}},
        actor="keeper:1", valid_from=date(2024, 5, 1),
    )  # fmt: skip
    assert set(died.events) == {"changed", "died"}
    session.flush()
    records = session.execute(
        select(AuditRecord).where(AuditRecord.object_id == PERSON).order_by(AuditRecord.seq)
    ).scalars().all()  # fmt: skip
    assert [r.action for r in records] == ["registry.change", "registry.change"]
    data = json.loads(records[-1].data)
    assert data["changed_fields"] == ["moved_out.date", "moved_out.reason", "status"]
    assert "山田" not in records[-1].data and "死亡" not in records[-1].data
    events = session.execute(select(OutboxEvent).where(OutboxEvent.topic == "registry.changed"))
    payloads = [json.loads(e.payload) for e in events.scalars()]
    assert [p["events"] for p in payloads] == [["created"], ["changed", "died"]]
    assert payloads[-1]["party_id"] == PERSON


def test_property_register_links_records_to_the_owner(session: Session) -> None:
    from tsunagu.identity import service as identity
    from tsunagu.identity.schemas import OrganizationIn, OrganizationKind

    mlit = identity.create_organization(
        session,
        OrganizationIn(
            kind=OrganizationKind.MINISTRY, name_ja="国土交通省", name_kana="コクドコウツウショウ"
        ),
        actor="t",
    ).id  # fmt: skip
    vehicle = {
        "registration_number": "品川 300 あ 12-34",
        "chassis_number": "ABC-1234567",
        "make": "トヨタ",
        "first_registered": "2021-04",
        "owner": {"name": "山田 花子", "address": "東京都千代田区永田町一丁目7番1号",
                  "person_id": PERSON},
        "status": "登録",
    }  # fmt: skip
    service.assert_fact(
        session, "jidosha", "ABC-1234567", vehicle, keeper_id=mlit, actor="k",
        valid_from=date(2021, 4, 1),
    )  # fmt: skip
    (version,) = service.as_of(session, "jidosha", "ABC-1234567")
    assert version.party_id == PERSON


def test_purge_removes_only_versions_ended_before_the_retention_period(
    session: Session, chiyoda: str
) -> None:
    service.assert_fact(
        session, "kokuho", PERSON,
        {"insurer_number": "131011", "symbol": "01", "number": "123", "acquired_on": "1990-01-01",
         "status": "資格取得", "head_of_household": "山田 花子"},
        keeper_id=chiyoda, actor="k", valid_from=date(1990, 1, 1), valid_to=date(2000, 1, 1),
    )  # fmt: skip
    service.assert_fact(
        session, "kokuho", PERSON,
        {"insurer_number": "131011", "symbol": "01", "number": "456", "acquired_on": "2020-01-01",
         "status": "資格取得", "head_of_household": "山田 花子"},
        keeper_id=chiyoda, actor="k", valid_from=date(2020, 1, 1),
    )  # fmt: skip
    assert service.purge_expired(session, "kokuho", actor="k", today=date(2025, 1, 1)) == 1
    assert [v.data["number"] for v in service.history(session, "kokuho", PERSON)] == ["456"]


def test_a_transaction_reads_a_record_once_and_sees_its_own_changes(
    session: Session, chiyoda: str
) -> None:
    """Reads are kept for the transaction (a submission reads one 住民票 twice); a write of
    the register, here or by a savepoint rolled back, makes the next read go to the table."""
    service.assert_fact(
        session, "juki", PERSON, resident(), keeper_id=chiyoda, actor="keeper",
        valid_from=date(2010, 4, 1),
    )  # fmt: skip
    first = service.as_of(session, "juki", PERSON)
    assert service.as_of(session, "juki", PERSON) == first
    service.change(
        session, "juki", PERSON, {"address": NEW_ADDRESS}, actor="keeper",
        valid_from=date(2024, 2, 1),
    )  # fmt: skip
    (moved,) = service.as_of(session, "juki", PERSON)
    assert moved.data["address"]["town"] == "霞が関"
    savepoint = session.begin_nested()
    service.change(
        session, "juki", PERSON, {"address": {**NEW_ADDRESS, "town": "永田町"}}, actor="keeper",
        valid_from=date(2024, 3, 1),
    )  # fmt: skip
    assert service.as_of(session, "juki", PERSON)[0].data["address"]["town"] == "永田町"
    savepoint.rollback()
    assert service.as_of(session, "juki", PERSON) == [moved]
