"""The once-only fetch: legally based, consented, sealed both ways, and always logged.

A requesting organization opens a *case* for an application it handles
(:func:`open_case`), naming the procedure and the persons concerned; subjects
may record consent (:func:`give_consent`). It then sends a sealed request
(:func:`request_envelope`) naming the procedure, the application, the
evidence type and the subject. :func:`fetch` checks, in order, the seal, the
request's freshness, the case, the matrix (deny by default) and consent, then
projects the owner's record onto the evidence type's fields and seals the
answer with the *owner's* seal. Every attempt — provided, refused or not
found — is written to the access log in the same transaction, and the log row
cites its hash-chained audit record.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    exists,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.db import (
    DriverQuery,
    insert_on_driver,
    transaction_memo,
    update_on_driver,
    waiting_rows,
)
from tsunagu.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tsunagu.core.ids import is_valid_mynumber
from tsunagu.exchange import sealing
from tsunagu.exchange.definitions import (
    EvidenceType,
    Provision,
    evidence_types,
    get_evidence_type,
    matrix,
)
from tsunagu.exchange.models import (
    ACCESS_LOG,
    CASE_SUBJECTS,
    CASES,
    CONSENTS,
    DESIGNATIONS,
    Case,
    CaseSubject,
    Consent,
    Designation,
)
from tsunagu.identity import service as identity
from tsunagu.registry import service as registry
from tsunagu.registry.definitions import Names, get_registry
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.models import Certificate

REQUEST_TYPE = "tsunagu.exchange.fetch-request/1"
RESPONSE_TYPE = "tsunagu.exchange.evidence/1"
FRESHNESS = timedelta(minutes=5)
_REF = re.compile(r"^[A-Za-z0-9._:/-]{1,100}$")


# --- designations: which statutory functions an organization performs ------------------------


_DESIGNATED = select(DESIGNATIONS.c.function_id).where(
    DESIGNATIONS.c.organization_id == bindparam("organization")
)
_KINDS: dict[str, str] = {}
_KINDS_KEPT = 10_000


def _kind_of(session: Session, organization_id: str) -> str:
    """An organization's kind: fixed when it is created, so remembered per process."""
    kind = _KINDS.get(organization_id)
    if kind is None:
        kind = identity.get_organization(session, organization_id).kind.value
        if len(_KINDS) >= _KINDS_KEPT:
            _KINDS.clear()
        _KINDS[organization_id] = kind
    return kind


@lru_cache(maxsize=64)
def _implied(kind: str) -> frozenset[str]:
    """Functions every organization of ``kind`` performs (the matrix is fixed per process)."""
    return frozenset(f.id for f in matrix().functions.values() if f.implied and kind in f.kinds)


def functions_of(session: Session, organization_id: str, kind: str | None = None) -> set[str]:
    """Functions implied by the organization's kind plus those it was designated for."""
    kind = kind or _kind_of(session, organization_id)
    designated = session.execute(_DESIGNATED, {"organization": organization_id}).scalars()
    return {*_implied(kind), *designated}


def designate(session: Session, organization_id: str, function_id: str, *, actor: str) -> None:
    """Record that an organization performs a statutory function (e.g. 日本年金機構)."""
    function = matrix().functions.get(function_id)
    if function is None:
        raise NotFoundError(
            "unknown_function",
            f"事務「{function_id}」は定義されていません。",
            f"There is no function {function_id!r}.",
        )
    organization = identity.get_organization(session, organization_id)
    if organization.kind.value not in function.kinds:
        raise ValidationError(
            "function_not_for_kind",
            f"「{function.name.ja}」は{organization.name_ja}の種別では担えません。",
            f"A {organization.kind.value} cannot perform {function.name.en}.",
        )
    if session.get(Designation, (organization_id, function_id)) is not None:
        return
    session.add(
        Designation(
            organization_id=organization_id,
            function_id=function_id,
            designated_at=utcnow(),
            designated_by=actor,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="exchange.designated",
        object_type="organization",
        object_id=organization_id,
        data={"function": function_id},
    )


# --- cases and consent ---------------------------------------------------------------------


@dataclass(frozen=True)
class CaseOut:
    id: str
    requester_id: str
    procedure_id: str
    application_ref: str
    subjects: dict[str, str]
    opened_at: datetime


def _check_ref(application_ref: str) -> str:
    if not _REF.match(application_ref) or is_valid_mynumber(application_ref):
        raise ValidationError(
            "bad_application_ref",
            "申請番号は英数字と . _ : / - の 100 文字以内です（個人番号は使えません）。",
            "application_ref must be up to 100 of A-Z a-z 0-9 . _ : / - (never a 個人番号).",
        )
    return application_ref


# Every application that fetches evidence opens a case. The case is written unless the
# requester registered that application before, in one statement: the unique (requester,
# reference) decides, so of two opening it at once one gets the case and the other the
# refusal, never a failed transaction. (PostgreSQL's INSERT … ON CONFLICT, which SQLite
# speaks too.)
_OPEN_CASE_INSERT = (
    postgresql.insert(CASES)
    .on_conflict_do_nothing(index_elements=[CASES.c.requester_id, CASES.c.application_ref])
    .returning(CASES.c.id)
)
_OPEN_CASE = DriverQuery(_OPEN_CASE_INSERT)
# Cases this transaction opened and has not closed: no other transaction sees them yet.
_OPENED_HERE = "tsunagu.exchange.cases_opened_here"


@lru_cache(maxsize=8)
def _open_case_with_subjects(count: int) -> DriverQuery:
    """PostgreSQL: ``_OPEN_CASE`` and the INSERT of ``count`` subjects in one statement.

    The case goes in a data-modifying WITH and the subjects are selected from what it
    returned, so a refused case writes no subject and answers no row. (The subjects'
    foreign key is checked at the end of the statement, when the case is there.)
    """
    opened = _OPEN_CASE_INSERT.cte("opened")
    given = union_all(
        *(
            select(
                bindparam(f"party_{i}", type_=String).label("party_id"),
                bindparam(f"role_{i}", type_=String).label("role"),
            )
            for i in range(count)
        )
    ).subquery("given")
    subjects = (
        insert(CASE_SUBJECTS)
        .from_select(
            ["case_id", "party_id", "role"],
            select(opened.c.id, given.c.party_id, given.c.role),
        )
        .returning(CASE_SUBJECTS.c.case_id)
        .add_cte(opened)
    )
    return DriverQuery(subjects)


def _opened(connection: Connection, case: dict[str, Any], subjects: dict[str, str]) -> bool:
    """Write the case and its subjects unless the application was registered before."""
    if connection.dialect.name == "postgresql":
        named = {f"party_{i}": party for i, party in enumerate(subjects)}
        roles = {f"role_{i}": role for i, role in enumerate(subjects.values())}
        return bool(_open_case_with_subjects(len(subjects)).rows(connection, case | named | roles))
    if not _OPEN_CASE.rows(connection, case):
        return False
    insert_on_driver(
        connection,
        CASE_SUBJECTS,
        [{"case_id": case["id"], "party_id": p, "role": r} for p, r in subjects.items()],
    )
    return True


def open_case(
    session: Session,
    *,
    requester_id: str,
    procedure_id: str,
    application_ref: str,
    subjects: dict[str, str],
    actor: str,
) -> CaseOut:
    """Register an application the requester handles; ``subjects`` maps party id → role."""
    if procedure_id not in matrix().procedures:
        raise NotFoundError(
            "unknown_procedure",
            f"手続「{procedure_id}」は定義されていません。",
            f"There is no procedure {procedure_id!r}.",
        )
    if not subjects:
        raise ValidationError(
            "no_subjects", "対象者を指定してください。", "A case needs at least one subject."
        )
    identity.get_organization(session, requester_id)
    ref = _check_ref(application_ref)
    case_id, opened_at = str(uuid.uuid4()), utcnow()
    case = {
        "id": case_id,
        "requester_id": requester_id,
        "procedure_id": procedure_id,
        "application_ref": ref,
        "opened_at": opened_at,
        "opened_by": actor,
        "closed_at": None,
    }
    # Written at once on the session's connection, the case before its subjects (the foreign
    # key): the fetches and the closing read these tables, never loaded ``Case`` objects,
    # and no unit of work is spent on rows nothing reads back through the ORM.
    if not _opened(session.connection(), case, subjects):
        raise ConflictError(
            "duplicate_application",
            f"申請 {ref} は既に登録されています。",
            f"The application {ref} is already registered.",
        )
    transaction_memo(session, _OPENED_HERE)[case_id] = True
    audit.record(
        session,
        actor=actor,
        action="exchange.case_opened",
        object_type="exchange_case",
        object_id=case_id,
        data={
            "requester_id": requester_id,
            "procedure_id": procedure_id,
            "application_ref": ref,
            "subjects": sorted(subjects),
        },
    )
    return CaseOut(case_id, requester_id, procedure_id, ref, dict(subjects), opened_at)


def give_consent(
    session: Session,
    *,
    case_id: str,
    party_id: str,
    evidence_type_id: str | None,
    actor: str,
) -> None:
    """The subject agrees that the case may fetch this evidence (``None``: all it needs)."""
    case = session.get(Case, case_id)
    if case is None or session.get(CaseSubject, (case_id, party_id)) is None:
        raise NotFoundError(
            "unknown_case_subject",
            "この申請の対象者ではありません。",
            "This person is not a subject of that application.",
        )
    if evidence_type_id is not None:
        get_evidence_type(evidence_type_id)
    session.add(
        Consent(
            case_id=case_id,
            party_id=party_id,
            evidence_type_id=evidence_type_id,
            given_at=utcnow(),
            given_by=actor,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="exchange.consent_given",
        object_type="party",
        object_id=party_id,
        data={"case_id": case_id, "evidence_type": evidence_type_id},
    )


def revoke_consent(session: Session, *, case_id: str, party_id: str, actor: str) -> int:
    rows = session.execute(
        select(Consent).where(
            Consent.case_id == case_id, Consent.party_id == party_id, Consent.revoked_at.is_(None)
        )
    ).scalars()
    count = 0
    for row in rows:
        row.revoked_at = utcnow()
        count += 1
    audit.record(
        session,
        actor=actor,
        action="exchange.consent_revoked",
        object_type="party",
        object_id=party_id,
        data={"case_id": case_id, "consents": count},
    )
    return count


# --- the access log ------------------------------------------------------------------------


@dataclass
class LogFacts:
    """What one access-log entry says (also the audit record's data)."""

    kind: str
    outcome: str
    party_id: str | None = None
    requester_id: str | None = None
    requester_verified: bool = False
    owner_id: str | None = None
    registry_id: str | None = None
    evidence_type_id: str | None = None
    procedure_id: str | None = None
    application_ref: str | None = None
    provision_id: str | None = None
    basis: Names | None = None
    fields: list[str] = field(default_factory=list)
    reason: str | None = None
    request_id: str | None = None

    def audit_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "outcome": self.outcome,
            "reason": self.reason,
            "party_id": self.party_id,
            "requester_id": self.requester_id,
            "requester_verified": self.requester_verified,
            "owner_id": self.owner_id,
            "registry_id": self.registry_id,
            "evidence_type": self.evidence_type_id,
            "procedure_id": self.procedure_id,
            "application_ref": self.application_ref,
            "provision_id": self.provision_id,
            "basis_ja": self.basis.ja if self.basis else None,
            "basis_en": self.basis.en if self.basis else None,
            "fields": self.fields,
            "request_id": self.request_id,
        }


def write_log(session: Session, facts: LogFacts, *, at: datetime | None = None) -> int:
    """Append the entry to the audit chain and to the access log, in the caller's transaction.

    Returns the seq of the entry's audit record (which the log row cites, once).
    """
    moment = at or utcnow()
    audit.record(
        session,
        actor=f"organization:{facts.requester_id or 'unknown'}",
        action=f"exchange.{facts.kind}.{facts.outcome}",
        object_type="party",
        object_id=facts.party_id or "-",
        data=facts.audit_data(),
        at=moment,
    )
    seq = audit.last_seq(session)
    row = {
        "audit_seq": seq,
        "kind": facts.kind,
        "occurred_at": moment,
        "party_id": facts.party_id,
        "requester_id": facts.requester_id,
        "requester_verified": facts.requester_verified,
        "owner_id": facts.owner_id,
        "registry_id": facts.registry_id,
        "evidence_type_id": facts.evidence_type_id,
        "procedure_id": facts.procedure_id,
        "application_ref": facts.application_ref,
        "provision_id": facts.provision_id,
        "fields": protocol.canonical_json(facts.fields).decode(),
        "outcome": facts.outcome,
        "reason": facts.reason,
        "request_id": facts.request_id,
    }
    # Late, with the audit records it cites: written with the transaction's last statement
    # on PostgreSQL. The one read of the log in the fetch, the replay check, looks into
    # the waiting rows itself.
    audit.flush_pending(session)
    insert_on_driver(session.connection(), ACCESS_LOG, [row], late=True)
    return seq


# --- the fetch -----------------------------------------------------------------------------


REASONS: dict[str, tuple[str, str]] = {
    "bad_request": ("要求の形式が不正です。", "The request is malformed."),
    "bad_seal": ("要求の電子公印を検証できません。", "The request's seal does not verify."),
    "seal_mismatch": (
        "要求の電子公印が要求元の組織のものではありません。",
        "The request is sealed by another organization than the one it names.",
    ),
    "stale_request": (
        "要求の日時が古すぎるか未来です。",
        "The request is too old or dated in the future.",
    ),
    "replayed_request": ("同じ要求が既に処理されています。", "This request was already answered."),
    "unknown_evidence_type": ("未定義の証明書の種類です。", "Unknown evidence type."),
    "unknown_procedure": ("未定義の手続です。", "Unknown procedure."),
    "unknown_application": (
        "要求元が取り扱う申請として登録されていません。",
        "The requester has no such application.",
    ),
    "application_of_another_organization": (
        "他の組織が取り扱う申請です。",
        "The application is handled by another organization.",
    ),
    "procedure_mismatch": (
        "申請の手続と要求の手続が一致しません。",
        "The application belongs to a different procedure.",
    ),
    "application_closed": ("申請は終了しています。", "The application is closed."),
    "subject_not_in_application": (
        "対象者はこの申請の当事者ではありません。",
        "The subject is not a party to the application.",
    ),
    "no_legal_basis": (
        "この手続でこの証明書を取得する法令上の根拠がありません。",
        "No legal basis allows this requester to obtain this evidence for this procedure.",
    ),
    "consent_missing": (
        "本人の同意がありません。",
        "The subject has not consented to this fetch.",
    ),
    "ambiguous_owner": (
        "複数の機関の記録に該当します。記録を特定してください。",
        "Records of several keepers match; name the record.",
    ),
}


class FetchRefused(PermissionDenied):
    """A refused fetch (already logged); ``reason`` is the stable code."""

    def __init__(self, reason: str) -> None:
        ja, en = REASONS[reason]
        super().__init__(reason, ja, en)
        self.reason = reason


@dataclass(frozen=True)
class FetchResult:
    outcome: str
    response: dict[str, Any] | None
    audit_seq: int
    refused: FetchRefused | None = None


def request_payload(
    *,
    requester_id: str,
    procedure_id: str,
    application_ref: str,
    evidence_type: str,
    subject_id: str,
    record_key: str | None = None,
    as_of: date | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The payload a requester seals (see :func:`request_envelope`)."""
    return {
        "type": REQUEST_TYPE,
        "request_id": request_id or str(uuid.uuid4()),
        "requester_id": requester_id,
        "procedure_id": procedure_id,
        "application_ref": application_ref,
        "evidence_type": evidence_type,
        "subject_id": subject_id,
        "record_key": record_key,
        "as_of": as_of.isoformat() if as_of else None,
        "requested_at": (at or utcnow()).isoformat(),
    }


def request_envelope(session: Session, store: sealing.SealStore, **request: Any) -> dict[str, Any]:
    """A fetch request sealed by the requesting organization."""
    payload = request_payload(**request)
    return store.seal(session, payload["requester_id"], payload)


@dataclass
class _Fetch:
    """The state of one fetch while it is checked; becomes the log entry."""

    facts: LogFacts
    payload: dict[str, Any] = field(default_factory=dict)
    evidence: EvidenceType | None = None
    provision: Provision | None = None
    case_id: str | None = None
    candidates: list[Provision] = field(default_factory=list)
    # The functions any candidate names, in the order of the check query's designation columns.
    functions: tuple[str, ...] = ()


def _text(payload: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 100:
        raise FetchRefused("bad_request")
    return value


def _parse(state: _Fetch, document: Any) -> None:
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict) or payload.get("type") != REQUEST_TYPE:
        raise FetchRefused("bad_request")
    facts = state.facts
    facts.request_id = _text(payload, "request_id")
    facts.requester_id = _text(payload, "requester_id")
    facts.party_id = _text(payload, "subject_id")
    facts.procedure_id = _text(payload, "procedure_id")
    facts.application_ref = _text(payload, "application_ref")
    facts.evidence_type_id = _text(payload, "evidence_type")
    _text(payload, "record_key", optional=True)
    try:
        if payload.get("as_of") is not None:
            date.fromisoformat(str(payload["as_of"]))
        datetime.fromisoformat(str(payload["requested_at"]))
    except (KeyError, ValueError) as exc:
        raise FetchRefused("bad_request") from exc
    state.payload = payload


def _open_seal(document: Any) -> sealing.Opened:
    try:
        return sealing.open_envelope(document)
    except ValidationError as exc:
        raise FetchRefused("bad_seal") from exc


def _check_seal(session: Session, state: _Fetch, opened: sealing.Opened) -> None:
    try:
        verified = sealing.verify_opened(session, opened)
    except ValidationError as exc:
        raise FetchRefused("bad_seal") from exc
    if verified.organization_id != state.facts.requester_id:
        raise FetchRefused("seal_mismatch")
    state.facts.requester_verified = True


# Everything the checks need from the database, in one round trip: the register
# entry of the certificate the request claims to be sealed with (its revocation,
# for the seal check), whether the request id was answered before, the
# requester's application, whether the subject is party to it and consented,
# whether another organization has an application with that reference, and for
# each function that could give a legal basis whether the requester was
# designated for it. The anchor row makes the answer exactly one row even when
# there is no such application. Nothing here is cached: a revoked seal or
# consent, or a closed case, counts at the very next fetch.
_ANCHOR = select(literal(1).label("one")).subquery("anchor")
_OTHER_CASES = CASES.alias("other_cases")
_CHECK_FROM = _ANCHOR.outerjoin(
    CASES,
    and_(
        CASES.c.requester_id == bindparam("requester"),
        CASES.c.application_ref == bindparam("ref"),
    ),
).outerjoin(Certificate, Certificate.serial == bindparam("seal_serial"))
_CHECK_COLUMNS = (
    exists()
    .where(
        ACCESS_LOG.c.request_id == bindparam("request"),
        ACCESS_LOG.c.requester_id == bindparam("requester"),
        ACCESS_LOG.c.requester_verified.is_(True),
    )
    .label("seen"),
    CASES.c.id,
    CASES.c.procedure_id,
    CASES.c.closed_at,
    # EXISTS by the whole primary key, not a join: the plan PostgreSQL keeps for this
    # prepared query took a join of case subjects as a scan of every subject whenever the
    # table had no statistics yet (a new deployment's first hours).
    exists()
    .where(CASE_SUBJECTS.c.case_id == CASES.c.id, CASE_SUBJECTS.c.party_id == bindparam("party"))
    .label("subject"),
    exists()
    .where(
        CONSENTS.c.case_id == CASES.c.id,
        CONSENTS.c.party_id == bindparam("party"),
        CONSENTS.c.revoked_at.is_(None),
        or_(
            CONSENTS.c.evidence_type_id.is_(None),
            CONSENTS.c.evidence_type_id == bindparam("evidence"),
        ),
    )
    .label("consented"),
    exists().where(_OTHER_CASES.c.application_ref == bindparam("ref")).label("elsewhere"),
    *trust.REGISTRY_ENTRY_COLUMNS,
)
_CHECKS: dict[tuple[str, ...], DriverQuery] = {}


def _checks_statement(functions: tuple[str, ...]) -> DriverQuery:
    """The one-row check query, with a designation column per function in ``functions``."""
    statement = _CHECKS.get(functions)
    if statement is None:
        designated = [
            exists()
            .where(
                DESIGNATIONS.c.organization_id == bindparam("requester"),
                DESIGNATIONS.c.function_id == function,
            )
            .label(f"designated_{i}")
            for i, function in enumerate(functions)
        ]
        statement = _CHECKS[functions] = DriverQuery(
            select(*_CHECK_COLUMNS, *designated).select_from(_CHECK_FROM),
            caller_sees_late=(ACCESS_LOG,),  # see _replayed_in_this_transaction
        )
    return statement


def _check_fresh(state: _Fetch, now: datetime) -> None:
    sent = datetime.fromisoformat(state.payload["requested_at"])
    if sent.tzinfo is None or abs(now - sent) > FRESHNESS:
        raise FetchRefused("stale_request")


def _functions(candidates: list[Provision]) -> tuple[str, ...]:
    """The functions any of ``candidates`` names: the designations the check query reads."""
    return tuple(sorted({f for p in candidates for f in p.requesters}))


def _read_checks(session: Session, state: _Fetch, opened: sealing.Opened) -> Any:
    """The one-row answer of the check query; the seal's register entry is kept for its check."""
    facts = state.facts
    assert facts.procedure_id and facts.evidence_type_id
    state.candidates = matrix().provisions_for(facts.procedure_id, facts.evidence_type_id)
    state.functions = _functions(state.candidates)
    serial = opened.signer_serial(session)
    # Consent given earlier in this transaction must be flushed before it is looked for.
    session.flush()
    row = _checks_statement(state.functions).rows(
        session.connection(),
        {
            "request": facts.request_id,
            "requester": facts.requester_id,
            "ref": facts.application_ref,
            "party": facts.party_id,
            "evidence": facts.evidence_type_id,
            "seal_serial": serial,
        },
    )[0]
    if serial is not None:
        trust.remember_registry_entry(session, serial, row)
    return row


def _replayed_in_this_transaction(session: Session, facts: LogFacts) -> bool:
    """Whether the request was answered earlier in this transaction: its log row may still
    wait to be written (late), unseen by the check query's ``seen``."""
    return any(
        logged["request_id"] == facts.request_id
        and logged["requester_id"] == facts.requester_id
        and logged["requester_verified"]
        for logged in waiting_rows(session.connection(), ACCESS_LOG)
    )


def _check_stored(session: Session, state: _Fetch, row: Any) -> None:
    """Replay, application, subject, legal basis and consent, in that order."""
    facts = state.facts
    assert facts.requester_id and facts.procedure_id and facts.evidence_type_id
    candidates, functions = state.candidates, state.functions
    if row.seen or _replayed_in_this_transaction(session, facts):
        raise FetchRefused("replayed_request")
    evidence = evidence_types().get(facts.evidence_type_id)
    if evidence is None:
        raise FetchRefused("unknown_evidence_type")
    state.evidence = evidence
    facts.registry_id = evidence.registry_id
    if facts.procedure_id not in matrix().procedures:
        raise FetchRefused("unknown_procedure")
    if row.id is None:
        raise FetchRefused(
            "application_of_another_organization" if row.elsewhere else "unknown_application"
        )
    if row.procedure_id != facts.procedure_id:
        raise FetchRefused("procedure_mismatch")
    if row.closed_at is not None:
        raise FetchRefused("application_closed")
    state.case_id = row.id
    if not row.subject:
        raise FetchRefused("subject_not_in_application")
    designated = {f for i, f in enumerate(functions) if row[len(_CHECK_COLUMNS) + i]}
    performed = (
        (_implied(_kind_of(session, facts.requester_id)) | designated) if candidates else set()
    )
    allowed = [p for p in candidates if performed & set(p.requesters)]
    if not allowed:
        raise FetchRefused("no_legal_basis")
    # Prefer a provision that needs no consent; otherwise consent decides.
    allowed.sort(key=lambda p: p.consent)
    state.provision = allowed[0]
    facts.provision_id, facts.basis = allowed[0].id, allowed[0].basis
    if allowed[0].consent and not row.consented:
        raise FetchRefused("consent_missing")


def _records(session: Session, state: _Fetch) -> list[registry.Version]:
    assert state.evidence is not None and state.facts.party_id is not None
    as_of = state.payload.get("as_of")
    day = date.fromisoformat(as_of) if as_of else tokyo_today()
    key = state.payload.get("record_key")
    definition = get_registry(state.evidence.registry_id)
    if definition.subject_kind == "property":
        return registry.as_of_party(
            session, definition.id, state.facts.party_id, valid_on=day, record_key=key
        )
    return registry.as_of(
        session, definition.id, state.facts.party_id, valid_on=day, record_key=key
    )


def fetch(
    session: Session,
    document: Any,
    *,
    store: sealing.SealStore,
    now: datetime | None = None,
) -> FetchResult:
    """Answer a sealed fetch request; refusals are results (logged), not exceptions.

    The caller commits the session whatever the outcome, so the log entry of a
    refused fetch is kept.
    """
    moment = now or utcnow()
    state = _Fetch(LogFacts(kind="fetch", outcome="refused"))
    try:
        _parse(state, document)
        opened = _open_seal(document)
        checks = _read_checks(session, state, opened)
        _check_seal(session, state, opened)
        _check_fresh(state, moment)
        _check_stored(session, state, checks)
        versions = _records(session, state)
    except FetchRefused as refused:
        state.facts.reason = refused.reason
        return FetchResult("refused", None, write_log(session, state.facts, at=moment), refused)
    evidence, facts = state.evidence, state.facts
    assert evidence is not None and state.provision is not None
    keepers = {v.keeper_id for v in versions}
    if len(keepers) > 1:
        facts.reason = "ambiguous_owner"
        seq = write_log(session, facts, at=moment)
        return FetchResult("refused", None, seq, FetchRefused("ambiguous_owner"))
    facts.fields = list(evidence.fields)
    if not versions:
        facts.outcome, facts.reason = "not_found", "no_record"
        return FetchResult("not_found", None, write_log(session, facts, at=moment))
    facts.outcome, facts.owner_id = "provided", versions[0].keeper_id
    response = store.seal(
        session, facts.owner_id, _response_payload(state, opened, versions, moment)
    )
    return FetchResult("provided", response, write_log(session, facts, at=moment))


def _response_payload(
    state: _Fetch, opened: sealing.Opened, versions: list[registry.Version], moment: datetime
) -> dict[str, Any]:
    evidence, facts, provision = state.evidence, state.facts, state.provision
    assert evidence is not None and provision is not None
    request_digest = hashlib.sha256(opened.content).hexdigest()
    return {
        "type": RESPONSE_TYPE,
        "request_id": facts.request_id,
        "request_sha256": request_digest,
        "requester_id": facts.requester_id,
        "owner_id": facts.owner_id,
        "evidence_type": evidence.id,
        "registry_id": evidence.registry_id,
        "subject_id": facts.party_id,
        "procedure_id": facts.procedure_id,
        "application_ref": facts.application_ref,
        "provision_id": provision.id,
        "basis": {"ja": provision.basis.ja, "en": provision.basis.en},
        "as_of": state.payload.get("as_of") or tokyo_today().isoformat(),
        "issued_at": moment.isoformat(),
        "records": [
            {
                "record_key": v.record_key,
                "valid_from": v.valid_from.isoformat(),
                "valid_to": v.valid_to.isoformat() if v.valid_to else None,
                "data": evidence.project(v.data),
            }
            for v in versions
        ],
    }


@dataclass(frozen=True)
class Evidence:
    """A verified answer: who sealed it and what it says."""

    owner_id: str
    seal_serial: str
    payload: dict[str, Any]

    @property
    def records(self) -> list[dict[str, Any]]:
        return list(self.payload["records"])


def verify_response(
    session: Session, response: dict[str, Any], request: dict[str, Any]
) -> Evidence:
    """The requester's check: sealed by the owner it names, answering *this* request."""
    verified = sealing.verify(session, response)
    payload = verified.payload
    expected = hashlib.sha256(protocol.canonical_json(request["payload"])).hexdigest()
    if (
        payload.get("type") != RESPONSE_TYPE
        or payload.get("owner_id") != verified.organization_id
        or payload.get("request_sha256") != expected
    ):
        raise ValidationError(
            "response_mismatch",
            "応答がこの要求に対するものではないか、記録の管理者の電子公印がありません。",
            "The response does not answer this request or is not sealed by the record's keeper.",
        )
    return Evidence(verified.organization_id, verified.serial, payload)


def fetch_evidence(session: Session, store: sealing.SealStore, **request: Any) -> Evidence:
    """Requester side in one call: seal the request, fetch, verify the sealed answer.

    Raises :class:`FetchRefused` (the refusal is logged and stays logged when
    the caller commits) or ``NotFoundError`` when the register has no record.
    """
    envelope = request_envelope(session, store, **request)
    result = fetch(session, envelope, store=store)
    if result.refused is not None:
        raise result.refused
    if result.response is None:
        raise NotFoundError(
            "no_record",
            "該当する記録がありません。",
            "The register holds no record for this subject.",
        )
    return verify_response(session, result.response, envelope)


_CLOSE_CASE = DriverQuery(
    update(CASES)
    .where(CASES.c.id == bindparam("case"), CASES.c.closed_at.is_(None))
    .values(closed_at=bindparam("at", type_=CASES.c.closed_at.type))
    .returning(CASES.c.id)
)


def close_case(session: Session, case_id: str, *, actor: str) -> None:
    """Close the case (idempotent): one UPDATE; a read only when it changed nothing.

    A plain UPDATE on the session's connection, not the ORM's: nothing reads a case's
    closing through a loaded ``Case`` (the fetch checks read the table), so the ORM's
    bulk-update work (an autoflush, then matching loaded objects) bought nothing. A case
    this transaction opened (a submission's) is surely open still: its UPDATE is late
    (see ``core.db``), written with the commit's other rows.
    """
    if transaction_memo(session, _OPENED_HERE).pop(case_id, False):
        closing = {"closed_at": utcnow()}
        update_on_driver(session.connection(), CASES, closing, {"id": case_id}, late=True)
        closed = True
    else:
        closed = bool(_CLOSE_CASE.rows(session.connection(), {"case": case_id, "at": utcnow()}))
    if closed:
        audit.record(
            session,
            actor=actor,
            action="exchange.case_closed",
            object_type="exchange_case",
            object_id=case_id,
            data={},
        )
    elif session.get(Case, case_id) is None:
        raise NotFoundError("unknown_case", "申請が見つかりません。", "No such application.")
