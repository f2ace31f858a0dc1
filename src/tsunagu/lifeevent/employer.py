"""The employer's one-stop for hiring and leaving (入社・退社): one call, one signature.

HR software (or the employer's 社会保険労務士) sends the terms of a hire or the
facts of a leaver; the rules of the insurances decide which procedures apply
(健康保険・厚生年金保険 from 30 hours a week, or from 20 hours at a 特定適用事業所
with pay of 88,000 yen or more; 雇用保険 from 20 hours; the resident tax only
when it was deducted from pay). Each part becomes an ordinary draft
application whose subject is the corporation, and one document covering all of
them is returned to sign — with the corporation's seal, or by the 社労士 with
their own signature under the corporation's power of attorney (the procedure
engine checks that power again at submission). The employee's name and birth
date come from the platform's person record, the municipality that collects
their resident tax from the resident register; HR software never types them.

The employer keeps the 就労 register of its employees: a submitted hire starts
the employee's record there (so a nursery application fetches the 就労証明
instead of a paper certificate) and a submitted leaver ends it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import utcnow
from tsunagu.core.errors import NotFoundError, PermissionDenied, ValidationError
from tsunagu.exchange import sealing
from tsunagu.identity import delegation
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OrganizationKind, OrganizationPublic, PersonRecord, Sex
from tsunagu.lifeevent import onestop
from tsunagu.lifeevent.employer_schemas import HireFacts, LeaveFacts
from tsunagu.lifeevent.models import EmployerFiling, EmployerPart
from tsunagu.procedure import service as procedures
from tsunagu.procedure.models import Application
from tsunagu.registry import service as registry
from tsunagu.trust import protocol

DOCUMENT_TYPE = "tsunagu.lifeevent.employer/1"
EVENTS = {
    "hire": ("shikaku_shutoku", "koyou_shutoku"),
    "leave": ("shikaku_soshitsu", "koyou_soshitsu", "jyuminzei_idou"),
}
FULL_TIME_HOURS = 30  # 4分の3基準 of a 40-hour week (健康保険法 第3条第9項)
SHORT_TIME_HOURS = 20  # 短時間労働者 and 雇用保険 (雇用保険法 第6条)
SHORT_TIME_PAY = 88_000
SEX = {Sex.MALE: "男", Sex.FEMALE: "女"}
# 雇用保険's employment types → the 就労証明's
SHURO_TYPE = {
    "正社員": "正社員",
    "パートタイム": "パート・アルバイト",
    "有期契約労働者": "契約社員",
    "派遣": "派遣社員",
}


@dataclass(frozen=True)
class Reason:
    ja: str
    en: str


@dataclass(frozen=True)
class Decision:
    """Whether one procedure applies to this hire or leaver, and why (shown to HR software)."""

    procedure_id: str
    applies: bool
    reason: Reason


@dataclass(frozen=True)
class Planned:
    procedure_id: str
    form: dict[str, Any]
    organization_id: str | None


def _not_found() -> NotFoundError:
    return NotFoundError(
        "employer_filing_not_found",
        "届出が見つかりません。",
        "No such employer filing.",
    )


def _missing(what_ja: str, what_en: str) -> ValidationError:
    return ValidationError(
        "employer_facts_missing",
        f"この届出には{what_ja}が必要です。",
        f"This filing needs {what_en}.",
    )


# --- who may file for the corporation --------------------------------------------------------


def _corporation(session: Session, corporation_id: str) -> OrganizationPublic:
    try:
        found = identity.get_organization(session, corporation_id)
    except NotFoundError:
        found = None
    if found is None or found.kind is not OrganizationKind.CORPORATION:
        raise NotFoundError(
            "corporation_not_found", "法人が見つかりません。", "No such corporation."
        )
    return found


def _is_member(actor: Actor, corporation_id: str) -> bool:
    return actor.kind is ActorKind.MEMBER and actor.organization_id == corporation_id


def _authorize(
    session: Session, actor: Actor, corporation_id: str, procedure_ids: list[str]
) -> None:
    """A member of the corporation's business account, or a person holding its valid power
    of attorney for every procedure filed (a 社会保険労務士)."""
    if _is_member(actor, corporation_id):
        return
    for procedure_id in procedure_ids:
        found = (
            delegation.check(
                session,
                agent_kind="person",
                agent_id=actor.person_id,
                principal_kind="organization",
                principal_id=corporation_id,
                procedure=procedure_id,
            )
            if actor.kind is ActorKind.PERSON and actor.person_id is not None
            else None
        )
        if found is None:
            raise PermissionDenied(
                "not_for_this_employer",
                "この法人の届出をする権限がありません（法人のメンバー、または有効な委任状が必要です）。",
                "You may not file for this corporation (you need to be its member or hold its "
                "valid power of attorney).",
            )


# --- what applies --------------------------------------------------------------------------------


def _decide(procedure_id: str, applies: bool, yes: Reason, no: Reason) -> Decision:
    return Decision(procedure_id, applies, yes if applies else no)


def hire_plan(facts: HireFacts) -> list[Decision]:
    """Which enrolments a hire needs, by the hours and pay (the rules of the insurances)."""
    full_time = facts.weekly_hours >= FULL_TIME_HOURS
    short_time = (
        facts.large_employer
        and facts.weekly_hours >= SHORT_TIME_HOURS
        and facts.monthly_pay >= SHORT_TIME_PAY
    )
    insured = (
        Reason("所定労働時間が週30時間以上です。", "Contracted 30 hours a week or more.")
        if full_time
        else Reason(
            "特定適用事業所で週20時間以上・月額8.8万円以上の短時間労働者です。",
            "A short-time worker of 20 hours or more and 88,000 yen or more at a covered employer.",
        )
    )
    return [
        _decide(
            "shikaku_shutoku",
            full_time or short_time,
            insured,
            Reason(
                "所定労働時間・賃金が加入の基準に達しません。",
                "The hours and pay are below the thresholds of the insurances.",
            ),
        ),
        _decide(
            "koyou_shutoku",
            facts.weekly_hours >= SHORT_TIME_HOURS,
            Reason("所定労働時間が週20時間以上です。", "Contracted 20 hours a week or more."),
            Reason(
                "所定労働時間が週20時間未満のため雇用保険の被保険者になりません。",
                "Under 20 hours a week, the employee is not insured.",
            ),
        ),
    ]


def leave_plan(facts: LeaveFacts) -> list[Decision]:
    """Which enrolments end: those the employer names, and the resident tax it deducted."""
    return [
        _decide(
            "shikaku_soshitsu",
            facts.social_insurance is not None,
            Reason("健康保険・厚生年金保険の被保険者でした。", "The employee was insured."),
            Reason("社会保険に加入していません。", "The employee was not insured."),
        ),
        _decide(
            "koyou_soshitsu",
            facts.employment_insurance is not None,
            Reason("雇用保険の被保険者でした。", "The employee had employment insurance."),
            Reason("雇用保険に加入していません。", "No employment insurance to end."),
        ),
        _decide(
            "jyuminzei_idou",
            facts.resident_tax is not None,
            Reason(
                "住民税を給与から特別徴収していました。",
                "Resident tax was deducted from pay (特別徴収).",
            ),
            Reason("住民税を特別徴収していません。", "Resident tax was not deducted from pay."),
        ),
    ]


# --- the forms, filled from what the platform knows ----------------------------------------------


def _employee(session: Session, person_id: str, birth_date: date) -> PersonRecord:
    """The employee's person record, once the birth date the employee declared matches.

    The user ID and the birth date both come from the employee, so an employer cannot
    read a stranger's name from the register by guessing; a mismatch is "not found".
    """
    try:
        person = identity.get_person(session, person_id)
    except NotFoundError:
        person = None
    if person is None or person.birth_date != birth_date:
        raise ValidationError(
            "employee_not_found",
            "従業員が見つかりません（利用者IDと生年月日を確かめてください）。",
            "No such employee (check the user ID and the date of birth).",
        )
    return person


def levy_day(day: date) -> date:
    """1 January of the fiscal year whose resident tax is being deducted on ``day``.

    The resident tax is levied by the municipality the person lived in on 1 January
    (賦課期日, 地方税法 第39条・第318条); special collection of a fiscal year's tax runs
    from June to the next May, so the notice goes to that municipality.
    """
    return date(day.year if day.month >= 6 else day.year - 1, 1, 1)


def _residence(session: Session, person_id: str, on: date) -> str:
    """The 地方公共団体コード of the municipality that recorded the employee as a resident on
    the levy day: only where to send the notice, never the address (the municipality
    reads its own register)."""
    found = registry.version_at(session, "juki", person_id, levy_day(on))
    resident = found is not None and found.data["status"] == "住民"
    code = identity.get_organization(session, found.keeper_id).lgcode if found else None
    if not resident or code is None:
        raise ValidationError(
            "employee_not_resident",
            "住民税を課した市区町村（1月1日の住所地）が住民基本台帳で確認できません。",
            "The municipality levying the employee's resident tax (residence on 1 January) "
            "is not found in the resident register.",
        )
    return code


def _insured_number(session: Session, person_id: str, corporate_number: str | None) -> str | None:
    """The 健康保険 member number under which this employer enrolled the employee."""
    found = registry.as_of(session, "kenpo", person_id)
    if not found:
        return None
    data = found[0].data
    employer = data.get("employer") or {}
    if employer.get("corporate_number") != corporate_number or data["status"] != "資格取得":
        return None
    return str(data["number"])


def _hire_forms(person: PersonRecord, facts: HireFacts, applies: set[str]) -> list[Planned]:
    names = {
        "family_name": person.family_name,
        "given_name": person.given_name,
        "family_name_kana": person.family_name_kana,
        "given_name_kana": person.given_name_kana,
        "birth_date": person.birth_date.isoformat(),
        "sex": SEX[person.sex],
    }
    planned = []
    if "shikaku_shutoku" in applies:
        office = facts.social_insurance
        if office is None or facts.basic_pension_number is None:
            raise _missing(
                "事業所整理記号・年金事務所と基礎年金番号",
                "the social insurance office and the basic pension number",
            )
        remuneration: dict[str, int] = {"monthly_cash": facts.monthly_pay}
        if facts.monthly_in_kind:
            remuneration["monthly_in_kind"] = facts.monthly_in_kind
        form: dict[str, Any] = {
            "office_code": office.office_code,
            "employee": {**names, "basic_pension_number": facts.basic_pension_number},
            "acquired_on": facts.hired_on.isoformat(),
            "remuneration": remuneration,
        }
        planned.append(Planned("shikaku_shutoku", form, office.pension_office_id))
    if "koyou_shutoku" in applies:
        insurance = facts.employment_insurance
        if insurance is None:
            raise _missing("雇用保険の事業所番号とハローワーク", "the employment insurance office")
        employee: dict[str, Any] = dict(names)
        if facts.employment_insured_number:
            employee["insured_number"] = facts.employment_insured_number
        form = {
            "office_number": insurance.office_number,
            "employee": employee,
            "acquired_on": facts.hired_on.isoformat(),
            "cause": "新規雇用（新規学卒）" if facts.new_graduate else "新規雇用（その他）",
            "wage": {"basis": facts.wage_basis, "monthly": facts.monthly_pay},
            "employment_type": facts.employment_type,
            "occupation": facts.occupation,
            "weekly_hours": facts.weekly_hours,
            "fixed_term": facts.fixed_term_until is not None,
        }
        if facts.fixed_term_until is not None:
            form["term_until"] = facts.fixed_term_until.isoformat()
        planned.append(Planned("koyou_shutoku", form, insurance.employment_office_id))
    return planned


def _leave_forms(
    session: Session,
    corporation: OrganizationPublic,
    person: PersonRecord,
    facts: LeaveFacts,
    applies: set[str],
) -> list[Planned]:
    lost_on = (facts.left_on + timedelta(days=1)).isoformat()
    names = {
        "family_name": person.family_name,
        "given_name": person.given_name,
        "birth_date": person.birth_date.isoformat(),
    }
    planned = []
    if "shikaku_soshitsu" in applies and facts.social_insurance is not None:
        if facts.basic_pension_number is None:
            raise _missing("基礎年金番号", "the basic pension number")
        employee: dict[str, Any] = {
            **names,
            "person_id": person.id,
            "basic_pension_number": facts.basic_pension_number,
        }
        insured = _insured_number(session, person.id, corporation.corporate_number)
        if insured is not None:
            employee["insured_number"] = insured
        form: dict[str, Any] = {
            "office_code": facts.social_insurance.office_code,
            "employee": employee,
            "lost_on": lost_on,
            "reason": facts.reason,
            "left_on": facts.left_on.isoformat(),
        }
        planned.append(Planned("shikaku_soshitsu", form, facts.social_insurance.pension_office_id))
    if "koyou_soshitsu" in applies and facts.employment_insurance is not None:
        if facts.employment_insured_number is None:
            raise _missing("雇用保険の被保険者番号", "the employment insurance number")
        if facts.reason != "退職等":
            cause = "離職以外の理由"
        elif facts.employer_initiated:
            cause = "事業主の都合による離職"
        else:
            cause = "事業主の都合による離職以外の離職"
        form = {
            "office_number": facts.employment_insurance.office_number,
            "employee": {**names, "insured_number": facts.employment_insured_number},
            "left_on": facts.left_on.isoformat(),
            "lost_on": lost_on,
            "cause": cause,
            "separation_notice": facts.separation_notice,
        }
        planned.append(
            Planned("koyou_soshitsu", form, facts.employment_insurance.employment_office_id)
        )
    if "jyuminzei_idou" in applies and facts.resident_tax is not None:
        tax = facts.resident_tax
        payer: dict[str, Any] = {
            "name": corporation.name_ja,
            "corporate_number": corporation.corporate_number,
        }
        if tax.designation_number:
            payer["designation_number"] = tax.designation_number
        form = {
            "payer": payer,
            "employee": {
                **names,
                "person_id": person.id,
                "municipality_code": _residence(session, person.id, facts.left_on),
            },
            "changed_on": facts.left_on.isoformat(),
            "reason": "死亡" if facts.reason == "死亡" else "退職",
            "collection": tax.collection,
        }
        optional = {
            "annual_tax": tax.annual_tax,
            "collected": tax.collected,
            "new_employer": tax.new_employer,
        }
        form.update({k: v for k, v in optional.items() if v not in (None, "")})
        planned.append(Planned("jyuminzei_idou", form, None))
    return planned


# --- preparing and submitting --------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    filing: EmployerFiling
    decisions: list[Decision]


def hire(
    session: Session, actor: Actor, corporation_id: str, employee_person_id: str, facts: HireFacts
) -> Prepared:
    """Plan the enrolments of a new employee and create their drafts; returns what to sign."""
    corporation = _corporation(session, corporation_id)
    decisions = hire_plan(facts)
    applies = {d.procedure_id for d in decisions if d.applies}
    _authorize(session, actor, corporation.id, sorted(applies))
    person = _employee(session, employee_person_id, facts.employee_birth_date)
    planned = _hire_forms(person, facts, applies)
    return Prepared(
        _prepare(session, actor, corporation, person, "hire", facts, planned), decisions
    )


def leave(
    session: Session, actor: Actor, corporation_id: str, employee_person_id: str, facts: LeaveFacts
) -> Prepared:
    """Plan the notices for an employee who leaves and create their drafts."""
    corporation = _corporation(session, corporation_id)
    decisions = leave_plan(facts)
    applies = {d.procedure_id for d in decisions if d.applies}
    _authorize(session, actor, corporation.id, sorted(applies))
    person = _employee(session, employee_person_id, facts.employee_birth_date)
    planned = _leave_forms(session, corporation, person, facts, applies)
    return Prepared(
        _prepare(session, actor, corporation, person, "leave", facts, planned), decisions
    )


def _prepare(
    session: Session,
    actor: Actor,
    corporation: OrganizationPublic,
    person: PersonRecord,
    event: str,
    facts: HireFacts | LeaveFacts,
    planned: list[Planned],
) -> EmployerFiling:
    if not planned:
        raise ValidationError(
            "nothing_to_file",
            "この内容で必要な届出はありません。",
            "No procedure is needed for these facts.",
        )
    principal = procedures.Party("organization", corporation.id)
    applications = [
        procedures.create(
            session,
            actor,
            item.procedure_id,
            item.form,
            on_behalf_of=principal,
            organization_id=item.organization_id,
        )
        for item in planned
    ]
    filing_id = str(uuid.uuid4())
    signed = {
        "type": DOCUMENT_TYPE,
        "filing_id": filing_id,
        "event": event,
        "corporation_id": corporation.id,
        "employee_person_id": person.id,
        "applications": [procedures.document(app) for app in applications],
    }
    filing = EmployerFiling(
        id=filing_id,
        corporation_id=corporation.id,
        employee_person_id=person.id,
        event=event,
        applicant=actor.label,
        status="prepared",
        facts=protocol.canonical_json(facts.model_dump(mode="json")).decode("utf-8"),
        document=protocol.canonical_json(signed).decode("utf-8"),
        created_at=utcnow(),
    )
    session.add(filing)
    session.flush()
    for index, app in enumerate(applications):
        session.add(
            EmployerPart(
                filing_id=filing.id,
                position=index,
                procedure_id=app.procedure_id,
                application_id=app.id,
                outcome="drafted",
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.employer_prepared",
        object_type="employer_filing",
        object_id=filing.id,
        data={
            "event": event,
            "corporation_id": corporation.id,
            "parts": [p.procedure_id for p in planned],
            # what was read about the employee to fill the forms (never its contents)
            "read": ["identity.person", *(("juki", "kenpo") if event == "leave" else ())],
        },
    )
    return filing


def get_filing(session: Session, actor: Actor, filing_id: str) -> EmployerFiling:
    """For the corporation's members and for whoever filed it; anyone else: not found."""
    filing = session.get(EmployerFiling, filing_id)
    if filing is None or not (
        filing.applicant == actor.label or _is_member(actor, filing.corporation_id)
    ):
        raise _not_found()
    return filing


def filings(session: Session, actor: Actor, corporation_id: str) -> list[EmployerFiling]:
    """The corporation's filings, newest first: all of them for its members, for anyone
    else (a 社労士) only those they filed."""
    query = select(EmployerFiling).where(EmployerFiling.corporation_id == corporation_id)
    if not _is_member(actor, corporation_id):
        query = query.where(EmployerFiling.applicant == actor.label)
    return list(session.execute(query.order_by(EmployerFiling.created_at.desc())).scalars())


def parts_of(session: Session, filing_id: str) -> list[EmployerPart]:
    return list(
        session.execute(
            select(EmployerPart)
            .where(EmployerPart.filing_id == filing_id)
            .order_by(EmployerPart.position)
        ).scalars()
    )


def submit(
    session: Session, actor: Actor, filing_id: str, cms_der: bytes, *, store: sealing.SealStore
) -> EmployerFiling:
    """Submit every part under the one signature; a refused part does not stop the others.

    Only whoever prepared the filing submits it (the drafts are theirs); the procedure
    engine checks the signature (the corporation's seal, or the filer's own under a
    power of attorney still valid now) for each part.
    """
    filing = session.get(EmployerFiling, filing_id)
    if filing is None or filing.applicant != actor.label:
        raise _not_found()
    if filing.status != "prepared":
        raise ValidationError(
            "filing_not_prepared",
            "この届出はすでに提出済みです。",
            "This filing was already submitted.",
        )
    batch = procedures.SignedBatch(filing.id, json.loads(filing.document))
    parts = parts_of(session, filing.id)
    outcomes = procedures.submit_each(
        session, actor, [p.application_id for p in parts], cms_der, store=store, batch=batch
    )
    for part in parts:
        onestop.record_outcome(part, outcomes[part.application_id])
    refusals = [error for error in outcomes.values() if error is not None]
    if len(refusals) == len(parts):  # nothing went (a wrong signer, a revoked power)
        raise refusals[0]
    filing.status = "submitted"
    filing.signature = cms_der
    filing.submitted_at = utcnow()
    _record_employment(session, actor, filing)
    audit.record(
        session,
        actor=actor.label,
        action="lifeevent.employer_submitted",
        object_type="employer_filing",
        object_id=filing.id,
        data={"event": filing.event, "outcomes": [p.outcome for p in parts]},
    )
    return filing


def _record_employment(session: Session, actor: Actor, filing: EmployerFiling) -> None:
    """The employer's own 就労 register: a hire starts the record, a leaver ends it."""
    corporation = identity.get_organization(session, filing.corporation_id)
    facts = json.loads(filing.facts)
    subject = filing.employee_person_id
    note = f"employer_filing:{filing.id}"
    if filing.event == "hire":
        person = identity.get_person(session, subject)
        employer = {"name": corporation.name_ja, "corporate_number": corporation.corporate_number}
        record: dict[str, Any] = {
            "employer": employer,
            "employee_name": f"{person.family_name} {person.given_name}",
            "employment_type": SHURO_TYPE.get(facts["employment_type"], "その他"),
            "employed_since": facts["hired_on"],
            "working_time": {
                "days_per_week": facts["days_per_week"],
                "hours_per_week": facts["weekly_hours"],
            },
            "status": "在籍",
        }
        if facts.get("fixed_term_until"):
            record["employed_until"] = facts["fixed_term_until"]
        registry.assert_fact(
            session, "shuro", subject, record, keeper_id=corporation.id, actor=actor.label,
            valid_from=date.fromisoformat(facts["hired_on"]), note=note,
        )  # fmt: skip
        return
    left_on = date.fromisoformat(facts["left_on"])
    key = str(corporation.corporate_number)
    if registry.version_at(session, "shuro", subject, left_on, record_key=key) is None:
        return
    registry.change(
        session, "shuro", subject, {"status": "退職", "employed_until": left_on.isoformat()},
        actor=actor.label, valid_from=left_on + timedelta(days=1), record_key=key,
        keeper_id=corporation.id, note=note,
    )  # fmt: skip


# --- each part's state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartStatus:
    procedure_id: str
    application_id: str
    outcome: str
    status: str
    owner_id: str | None
    error_code: str | None
    error_ja: str | None
    error_en: str | None


def status(session: Session, actor: Actor, filing_id: str) -> list[PartStatus]:
    """Every part of the filing as it stands now (the agencies' own states)."""
    filing = get_filing(session, actor, filing_id)
    parts = parts_of(session, filing.id)
    rows = session.execute(
        select(Application.id, Application.status, Application.owner_id).where(
            Application.id.in_([p.application_id for p in parts])
        )
    )
    states = {row.id: (row.status, row.owner_id) for row in rows}
    return [
        PartStatus(
            p.procedure_id, p.application_id, p.outcome, *states[p.application_id],
            p.error_code, p.error_ja, p.error_en,
        )
        for p in parts
    ]  # fmt: skip
