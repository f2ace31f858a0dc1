"""Applications: draft, signed submission with evidence fetched, review, decision, effects.

Every permission is checked here (not only in routes), every transition goes
through :mod:`workflow` and is audited in the same transaction. Evidence the
government holds is fetched through the once-only exchange at submission,
as the owning organization, so the applicant never attaches it. An approval
applies the definition's register changes through the registry service; the
registry's change events then reach subscribed agencies (a death notifies
the pension service) through the outbox.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, or_, select
from sqlalchemy.orm import Session

from tsunagu.core.audit import service as audit
from tsunagu.core.audit.models import AuditRecord
from tsunagu.core.clock import tokyo_today, utcnow
from tsunagu.core.db import get_on_driver, insert_on_driver, store_changes
from tsunagu.core.errors import NotFoundError, PermissionDenied, TsunaguError, ValidationError
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.identity import delegation, municipalities
from tsunagu.identity import service as identity
from tsunagu.identity.roles import Actor, ActorKind, Permission, require_assurance
from tsunagu.identity.schemas import OfficialRecord, OfficialRole
from tsunagu.procedure import calendar, fees, notices, rules
from tsunagu.procedure.definitions import (
    APPEND,
    DATE_OFFSET,
    ITEM_EVIDENCE,
    JOIN,
    RECORD,
    Effect,
    EvidenceNeed,
    ProcedureDefinition,
    get_procedure,
)
from tsunagu.procedure.models import (
    Application,
    ApplicationComment,
    ApplicationEvidence,
    Decision,
    FeeExemption,
)
from tsunagu.procedure.workflow import FINAL, Action, State, next_state
from tsunagu.registry import service as registry
from tsunagu.registry.validation import FieldError
from tsunagu.trust import protocol
from tsunagu.trust import service as trust
from tsunagu.trust.pki import CertKind

EVIDENCE = cast(Table, ApplicationEvidence.__table__)
DOCUMENT_TYPE = "tsunagu.procedure.application/1"
MAX_FORM_BYTES = 64_000
MAX_COMMENT = 4000
SYSTEM = "system:procedure-rules"


@dataclass(frozen=True)
class Party:
    kind: str
    id: str


class FormInvalid(ValidationError):
    """The form does not satisfy the procedure's schema; ``errors`` lists every field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(
            "invalid_form",
            f"入力内容に誤りが {len(errors)} 件あります。",
            f"The form has {len(errors)} error(s).",
        )

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "errors": [e.as_dict() for e in self.errors]}


def _not_found() -> NotFoundError:
    return NotFoundError("application_not_found", "申請が見つかりません。", "No such application.")


def _refused(code: str, ja: str, en: str) -> PermissionDenied:
    return PermissionDenied(code, ja, en)


def _dump(value: Any) -> str:
    text = protocol.canonical_json(value).decode("utf-8")
    if len(text) > MAX_FORM_BYTES:
        raise ValidationError(
            "form_too_large", "入力内容が大きすぎます。", "The form data is too large."
        )
    return text


# --- who applies for whom --------------------------------------------------------------------


def _same_household(session: Session, a: str, b: str) -> bool:
    """Both persons are recorded in one household of the resident register today."""
    households = set()
    for person in (a, b):
        versions = registry.as_of(session, "juki", person)
        if not versions:
            return False
        households.add((versions[0].keeper_id, versions[0].data["household"]["household_id"]))
    return len(households) == 1


def _applicant(
    session: Session,
    actor: Actor,
    definition: ProcedureDefinition,
    on_behalf_of: Party | None,
) -> tuple[str, Party, str | None]:
    """(role, subject, power of attorney id) for this actor filing this procedure."""
    roles = definition.applicants
    if definition.subject_kind == "organization":
        if on_behalf_of is None or on_behalf_of.kind != "organization":
            raise ValidationError(
                "principal_required",
                "届出をする法人を指定してください。",
                "Name the corporation this is filed for (on_behalf_of).",
            )
        if actor.kind is ActorKind.MEMBER and actor.organization_id == on_behalf_of.id:
            return "representative", on_behalf_of, None
        return (
            "representative",
            on_behalf_of,
            _power_of_attorney(session, actor, on_behalf_of, definition),
        )
    if actor.kind is not ActorKind.PERSON or actor.person_id is None:
        raise _refused(
            "person_required", "本人としてのログインが必要です。", "You need to log in as a person."
        )
    if on_behalf_of is None or on_behalf_of.id == actor.person_id:
        if "self" not in roles:
            raise _refused(
                "role_not_allowed",
                "この手続は本人からは申請できません。",
                "This procedure cannot be filed by the person themself.",
            )
        return "self", Party("person", actor.person_id), None
    if on_behalf_of.kind != "person":
        raise ValidationError(
            "bad_principal", "対象者の指定が不正です。", "on_behalf_of must name a person."
        )
    if "household" in roles and _same_household(session, actor.person_id, on_behalf_of.id):
        return "household", on_behalf_of, None
    if "proxy" not in roles:
        raise _refused(
            "role_not_allowed",
            "この手続は代理人からは申請できません。",
            "This procedure cannot be filed by a proxy.",
        )
    return "proxy", on_behalf_of, _power_of_attorney(session, actor, on_behalf_of, definition)


def _power_of_attorney(
    session: Session, actor: Actor, principal: Party, definition: ProcedureDefinition
) -> str:
    found = (
        delegation.check(
            session,
            agent_kind="person",
            agent_id=actor.person_id,
            principal_kind=principal.kind,
            principal_id=principal.id,
            procedure=definition.id,
        )
        if actor.person_id is not None and actor.kind is ActorKind.PERSON
        else None
    )
    if found is None:
        raise _refused(
            "no_power_of_attorney",
            "この手続について有効な委任状がありません（期限切れ・取消しを含む）。",
            "You hold no valid power of attorney for this procedure "
            "(it may have expired or been revoked).",
        )
    return found.id


def _check_filer(session: Session, actor: Actor, app: Application) -> ProcedureDefinition:
    """The actor filed ``app`` and may still act for its subject; returns the definition."""
    if actor.label != app.applicant:
        raise _not_found()
    definition = get_procedure(app.procedure_id)
    require_assurance(actor, ial=definition.ial, aal=definition.aal)
    if app.delegation_id is not None:
        _power_of_attorney(session, actor, Party(app.subject_kind, app.subject_id), definition)
    return definition


# --- owners ------------------------------------------------------------------------------------


def _chosen_owner(session: Session, definition: ProcedureDefinition, organization_id: str) -> str:
    organization = identity.get_organization(session, organization_id)
    function = definition.owner.function
    if organization.kind.value != definition.owner.kind or (
        function is not None and function not in exchange.functions_of(session, organization_id)
    ):
        raise ValidationError(
            "wrong_owner",
            "この手続を取り扱わない機関です。",
            "That organization does not handle this procedure.",
        )
    return organization.id


def _owner(session: Session, definition: ProcedureDefinition, app: Application) -> str:
    owner = definition.owner
    if owner.mode == "choice":
        if app.owner_id is None:
            raise ValidationError(
                "owner_required", "提出先の機関を指定してください。", "Name the receiving agency."
            )
        return app.owner_id
    if owner.mode == "form":
        code = rules.lookup(json.loads(app.form_data), owner.path or "")
        found = identity.find_organization(session, lgcode=str(code)) if code else None
        if found is None or found.kind.value != owner.kind:
            raise ValidationError(
                "owner_not_found",
                "提出先の市区町村が見つかりません。",
                "The receiving municipality is not on this platform.",
            )
        return found.id
    versions = registry.as_of(session, owner.registry or "", app.subject_id)
    if not versions:
        raise NotFoundError(
            "no_register_record",
            "台帳に記録がないため提出先を特定できません。",
            "You are not recorded in the register, so no office can receive this.",
        )
    return versions[0].keeper_id


# --- drafts ------------------------------------------------------------------------------------


def create(
    session: Session,
    actor: Actor,
    procedure_id: str,
    form: dict[str, Any],
    *,
    on_behalf_of: Party | None = None,
    organization_id: str | None = None,
) -> Application:
    """A draft filed by ``actor`` (for themself, a principal, or a household member)."""
    definition = get_procedure(procedure_id)
    require_assurance(actor, ial=definition.ial, aal=definition.aal)
    role, subject, delegation_id = _applicant(session, actor, definition, on_behalf_of)
    now = utcnow()
    app = Application(
        id=str(uuid.uuid4()),
        procedure_id=definition.id,
        status=State.DRAFT.value,
        channel="online",
        applicant=actor.label,
        role=role,
        subject_kind=subject.kind,
        subject_id=subject.id,
        delegation_id=delegation_id,
        owner_id=_chosen_owner(session, definition, organization_id) if organization_id else None,
        form_data=_dump(form),
        fee=definition.fee.online,
        created_at=now,
        updated_at=now,
        days_used=0,
        automatic=False,
    )
    session.add(app)
    session.flush()
    _audit(session, actor.label, app, "procedure.drafted", role=role)
    return app


def editable(
    session: Session, actor: Actor, application_id: str
) -> tuple[Application, ProcedureDefinition]:
    """A draft (or an application returned for correction) its filer may still change and sign."""
    app = _load(session, application_id)
    definition = _check_filer(session, actor, app)
    next_state(app.status, Action.EDIT)
    return app, definition


def update(
    session: Session, actor: Actor, application_id: str, form: dict[str, Any]
) -> Application:
    """Save the form of a draft or of an application returned for correction."""
    app, _definition = editable(session, actor, application_id)
    app.form_data = _dump(form)
    app.updated_at = utcnow()
    return app


def form_errors(definition: ProcedureDefinition, form: dict[str, Any]) -> list[FieldError]:
    return definition.form.validator.errors(form)


def document(app: Application) -> dict[str, Any]:
    """What the applicant signs: the canonical JSON of this object (see ``trust.protocol``)."""
    return {
        "type": DOCUMENT_TYPE,
        "application_id": app.id,
        "procedure_id": app.procedure_id,
        "applicant": app.applicant,
        "role": app.role,
        "subject": {"kind": app.subject_kind, "id": app.subject_id},
        "delegation_id": app.delegation_id,
        "form": json.loads(app.form_data),
    }


# --- submission --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedBatch:
    """Several applications signed with one signature (a life event's one-stop form).

    ``document`` is what was signed; its ``applications`` list holds each
    application's :func:`document`, so each one is covered exactly as if it
    had been signed alone.
    """

    id: str
    document: dict[str, Any]

    def consents(self, application_id: str) -> list[str]:
        """The evidence types the signer consented, in the signed document, to have fetched
        for this application (``consents``: application id → types; e.g. 就労証明書)."""
        return list(self.document.get("consents", {}).get(application_id, []))


def _signed_content(app: Application, batch: SignedBatch | None) -> bytes:
    if batch is None:
        return protocol.canonical_json(document(app))
    if document(app) not in batch.document.get("applications", []):
        raise _refused(
            "not_in_signed_batch",
            "この申請は署名された一括申請に含まれていません。",
            "This application is not part of the signed batch.",
        )
    return protocol.canonical_json(batch.document)


def _verify_signature(
    session: Session,
    actor: Actor,
    app: Application,
    cms_der: bytes,
    batch: SignedBatch | None = None,
) -> str:
    verified = trust.verify_signature(session, cms_der, _signed_content(app, batch))
    signer = verified.signer
    personal = (
        actor.person_id is not None
        and signer.kind is CertKind.SIGNING
        and signer.subject_ref == actor.person_id
    )
    corporate = (
        signer.kind is CertKind.SEAL
        and app.subject_kind == "organization"
        and signer.subject_ref == app.subject_id
    )
    if not (personal or corporate):
        raise _refused(
            "wrong_signer",
            "申請者本人（または届出をする法人）の電子署名ではありません。",
            "The application is not signed by the applicant (or the filing corporation).",
        )
    return signer.serial


def _fetch_evidence(
    session: Session,
    store: sealing.SealStore,
    app: Application,
    definition: ProcedureDefinition,
    owner_id: str,
    consents: list[str],
) -> tuple[str | None, list[ApplicationEvidence]]:
    """Fetch every evidence the procedure needs for ``owner_id``: the exchange case and the
    rows stored (in the procedure's order, as unattached copies: the facts of
    :func:`context`). The application itself is left unchanged.

    ``consents``: evidence types the applicant's signature consents to (recorded on the case
    before fetching). Evidence that needs consent and is not required is simply not fetched
    without it (outcome ``not_consented``): the office asks for the paper instead.
    """
    case_id = app.case_id
    form = json.loads(app.form_data)
    # evidence about a person the form does not name (a child not yet in the register) is
    # not asked for: nobody to ask about
    needs = [(need, whom) for need in definition.evidence for whom in _whom(app, form, need)]
    if not needs:
        return case_id, []
    assert definition.exchange_procedure is not None
    subjects = dict.fromkeys((whom for _need, whom in needs), "subject")
    if case_id is None:
        case_id = exchange.open_case(
            session,
            requester_id=owner_id,
            procedure_id=definition.exchange_procedure,
            application_ref=app.id,
            subjects=subjects,
            actor=f"procedure:{app.id}",
        ).id
    if app.submitted_at is not None:  # a resubmission after 補正 fetches afresh
        session.execute(
            delete(ApplicationEvidence).where(ApplicationEvidence.application_id == app.id)
        )
    for need, whom in needs:
        if need.type_id in consents:
            exchange.give_consent(
                session, case_id=case_id, party_id=whom, evidence_type_id=need.type_id,
                actor=app.applicant,
            )  # fmt: skip
    rows = []
    for need, whom in needs:
        row: dict[str, Any] = {
            "application_id": app.id,
            "evidence_type": need.type_id,
            "outcome": "not_found",
            "owner_id": None,
            "records": "[]",
            "response": None,
            "seal_serial": None,
            "fetched_at": utcnow(),
        }
        try:
            evidence = exchange.fetch_evidence(
                session,
                store,
                requester_id=owner_id,
                procedure_id=definition.exchange_procedure,
                application_ref=app.id,
                evidence_type=need.type_id,
                subject_id=whom,
            )
        except NotFoundError:
            pass
        except exchange.FetchRefused as refused:
            if need.required or refused.reason != "consent_missing":
                raise
            row["outcome"] = "not_consented"
        else:
            row.update(
                outcome="provided",
                owner_id=evidence.owner_id,
                seal_serial=evidence.seal_serial,
                records=_dump(evidence.records),
                response=protocol.canonical_json(evidence.payload).decode("utf-8"),
            )
        rows.append(row)
    # one INSERT after the fetches: nothing reads the rows back in this transaction through
    # the ORM, so no unit of work (and no flush of the application) is spent on them; late
    # (see core.db): on PostgreSQL it goes with the audit records at commit
    insert_on_driver(session.connection(), EVIDENCE, rows, late=True)
    return case_id, [ApplicationEvidence(**row) for row in rows]


def _whom(app: Application, form: dict[str, Any], need: EvidenceNeed) -> list[str]:
    """Whom a need is fetched about: one person, or every item's ``id`` of a form list
    (``each``); nobody the form does not name."""
    if need.each is None:
        return [whom] if (whom := _about(app, form, need.about)) else []
    return _item_ids(form, need.each)


def _item_ids(form: dict[str, Any], path: str) -> list[str]:
    """The ``id`` of every item of the list at a ``form.…`` path."""
    items = rules.lookup(form, path[5:])
    return [str(i["id"]) for i in items or [] if isinstance(i, dict) and i.get("id")]


def _about(app: Application, form: dict[str, Any], about: str) -> str:
    """Whom the evidence is about: the subject, or the person a form field names ("" none)."""
    if about == "subject":
        return app.subject_id
    named = rules.lookup(form, about[5:])
    return str(named) if named not in (None, "") else ""


def evidence_of(session: Session, application_id: str) -> list[ApplicationEvidence]:
    return list(
        session.execute(
            select(ApplicationEvidence)
            .where(ApplicationEvidence.application_id == application_id)
            .order_by(ApplicationEvidence.id)
        ).scalars()
    )


def context(
    session: Session, app: Application, rows: list[ApplicationEvidence] | None = None
) -> dict[str, Any]:
    """What rules and register changes may refer to (``$form…``, ``$evidence…`` …).

    ``rows``: the evidence just fetched, when the caller holds it (no second read).
    """
    form = json.loads(app.form_data)
    fetched = evidence_of(session, app.id) if rows is None else rows
    evidence, about = _evidence_facts(get_procedure(app.procedure_id), form, fetched)
    owner = _owner_facts(session, app.owner_id) if app.owner_id else {}
    return {
        "form": form,
        "evidence": evidence,
        # person id → type → data, fetched by needs with ``each`` (see ``$item_evidence``)
        "evidence_about": about,
        "subject": {"kind": app.subject_kind, "id": app.subject_id},
        "owner": owner,
        "application": {
            "id": app.id,
            "procedure_id": app.procedure_id,
            "role": app.role,
            # what was filed together shares one id (a household moving in together)
            "group_id": app.batch_id or app.id,
            # an exemption (減免) was claimed: the claim is for a reviewer, never a rule, to accept
            "fee_waived": _fee_waived(session, app),
            "serial": serial(app),
            # what an approval creates (a newborn's resident record): its subject id and an
            # 11-digit number (住民票コード), derived from the application like ``serial``
            "new_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tsunagu:application:{app.id}")),
            "serial_long": serial(app, 11),
        },
        "today": tokyo_today().isoformat(),
        "review": {},
    }


def _evidence_facts(
    definition: ProcedureDefinition, form: dict[str, Any], rows: list[ApplicationEvidence]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """What was fetched: type → data about the subject (or the person the need names), and
    person id → type → data for the persons needs with ``each`` were fetched about (told apart
    by the sealed answer's subject: one type may be fetched both ways, e.g. 国保 of the dead
    and of each remaining member)."""
    each = {
        need.type_id: set(_item_ids(form, need.each))
        for need in definition.evidence
        if need.each is not None
    }
    evidence: dict[str, Any] = {}
    about: dict[str, dict[str, Any]] = {}
    for row in rows:
        records = json.loads(row.records)
        data = records[0]["data"] if records else None
        if row.evidence_type in each:
            whom = evidence_subject(row)
            if whom in each[row.evidence_type]:
                about.setdefault(whom, {})[row.evidence_type] = data
                continue
            if data is None and row.evidence_type in evidence:
                continue  # nothing found about a member: the subject's answer stands
        evidence[row.evidence_type] = data
    return evidence, about


def evidence_subject(row: ApplicationEvidence) -> str | None:
    """Whom a stored answer is about, as the owner sealed it (None: nothing was provided)."""
    return json.loads(row.response).get("subject_id") if row.response else None


def _fee_waived(session: Session, app: Application) -> bool:
    """Whether an exemption was claimed; only a procedure declaring exemptions can have one
    (:func:`fees.claim_exemption`), so the others need no read."""
    if not get_procedure(app.procedure_id).fee.exemptions:
        return False
    return session.get(FeeExemption, app.id) is not None


def serial(app: Application, digits: int = 10) -> str:
    """A number of ``digits`` digits for what an approval numbers (a member, recipient or
    certificate number), taken from the application's id so the same approval always gives
    the same one."""
    return str(int(app.id.replace("-", "")[:16], 16) % 10**digits).zfill(digits)


def _owner_facts(session: Session, owner_id: str) -> dict[str, Any]:
    """The owner's public facts, with its place names when it is a local government."""
    facts = identity.get_organization(session, owner_id).model_dump(mode="json")
    found = municipalities.find_municipality(facts["lgcode"]) if facts["lgcode"] else None
    if found is not None:
        facts["municipality"] = {"prefecture": found.prefecture.name, "name": found.name}
    return facts


@dataclass(frozen=True)
class Submitted:
    """A submitted application and the evidence stored for it, in the procedure's order
    (an answer to the filer shows both without reading back rows just written)."""

    application: Application
    evidence: list[ApplicationEvidence]


def submit(
    session: Session,
    actor: Actor,
    application_id: str,
    cms_der: bytes,
    *,
    store: sealing.SealStore,
    batch: SignedBatch | None = None,
) -> Submitted:
    """Validate, verify the signature, fetch the evidence, start the clock, decide if rules can.

    With ``batch`` the signature covers several applications at once (see
    :class:`SignedBatch`); the application remembers its batch.
    """
    app = _load(session, application_id)
    definition = _check_filer(session, actor, app)
    target = next_state(app.status, Action.SUBMIT)
    errors = form_errors(definition, json.loads(app.form_data))
    if errors:
        raise FormInvalid(errors)
    fees.require_settled(session, app)
    signer_serial = _verify_signature(session, actor, app, cms_der, batch)
    owner_id = _owner(session, definition, app)
    case_id, rows = _fetch_evidence(
        session, store, app, definition, owner_id,
        batch.consents(app.id) if batch is not None else [],
    )  # fmt: skip
    # set together after the fetch (whose queries would flush each change as its own UPDATE)
    app.signer_serial, app.signature, app.owner_id = signer_serial, cms_der, owner_id
    app.batch_id = batch.id if batch is not None else None
    app.case_id = case_id
    today = tokyo_today()
    app.status = target.value
    app.submitted_at = app.submitted_at or utcnow()
    app.updated_at = utcnow()
    app.clock_from = today
    app.due_on = calendar.add_business_days(
        today, max(definition.processing_days - app.days_used, 0)
    )
    _audit(session, actor.label, app, "procedure.submitted", owner_id=app.owner_id)
    values = context(session, app, rows)
    decided = rules.decide(definition.rules, values)
    if decided is not None:
        action = Action.AUTO_APPROVE if decided.decision == "approved" else Action.AUTO_REJECT
        reason = f"{decided.reason_ja}\n{decided.reason_en}"
        _decide(session, app, definition, action, SYSTEM, reason, values=values)
    store_changes(session, app)  # one UPDATE, not a unit of work at commit
    return Submitted(app, rows)


def submit_each(
    session: Session,
    actor: Actor,
    application_ids: Sequence[str],
    cms_der: bytes,
    *,
    store: sealing.SealStore,
    batch: SignedBatch,
) -> dict[str, TsunaguError | None]:
    """Submit applications signed together, each in its own savepoint.

    A refused one is rolled back alone and reported with its reason (None: submitted), so
    a life event fails partly and visibly while the other offices go on.
    """
    outcomes: dict[str, TsunaguError | None] = {}
    for application_id in application_ids:
        try:
            with session.begin_nested():
                submit(session, actor, application_id, cms_der, store=store, batch=batch)
        except TsunaguError as error:
            outcomes[application_id] = error
        else:
            outcomes[application_id] = None
    return outcomes


# --- review ------------------------------------------------------------------------------------


def is_reviewer(actor: Actor, app: Application) -> bool:
    return actor.can(Permission.APPLICATION_REVIEW) and actor.organization_id == app.owner_id


def for_review(session: Session, actor: Actor, application_id: str) -> Application:
    """The application, for a reviewer of its owner only (the official console's view of it)."""
    app = _load(session, application_id)
    if not is_reviewer(actor, app):
        raise _not_found()
    return app


def assign(
    session: Session, actor: Actor, application_id: str, official_id: str | None = None
) -> Application:
    """Give the application to a reviewer of the owning organization (oneself by default)."""
    app = for_review(session, actor, application_id)
    target_id = official_id or actor.official_id
    official = identity.get_official(session, target_id or "")
    if (
        not official.active
        or official.organization_id != app.owner_id
        or OfficialRole.REVIEWER not in official.roles
    ):
        raise ValidationError(
            "not_a_reviewer",
            "この機関の審査担当の職員ではありません。",
            "That official is not a reviewer of the owning organization.",
        )
    app.status = next_state(app.status, Action.ASSIGN).value
    app.assigned_to = official.id
    app.updated_at = utcnow()
    _audit(session, actor.label, app, "procedure.assigned", official_id=official.id)
    return app


def _assigned(session: Session, actor: Actor, application_id: str) -> Application:
    app = for_review(session, actor, application_id)
    if app.assigned_to != actor.official_id:
        raise _refused(
            "not_assigned",
            "この申請の担当者ではありません。",
            "The application is assigned to another reviewer.",
        )
    return app


def return_for_correction(
    session: Session, actor: Actor, application_id: str, reason: str
) -> Application:
    """補正: back to the applicant with the reasons; the clock stops until resubmission."""
    app = _assigned(session, actor, application_id)
    app.status = next_state(app.status, Action.RETURN).value
    if app.clock_from is not None:
        app.days_used += calendar.business_days_between(app.clock_from, tokyo_today())
    app.clock_from, app.due_on = None, None
    app.updated_at = utcnow()
    _add_comment(session, app, actor.label, _text(reason), internal=False)
    _audit(session, actor.label, app, "procedure.returned")
    return app


def decide(
    session: Session,
    actor: Actor,
    application_id: str,
    approved: bool,
    reason: str,
    review: dict[str, Any] | None = None,
) -> Application:
    """The assigned reviewer approves (applying the register changes) or rejects.

    An approval records what the procedure's ``review_form`` asks (e.g. the
    care level the certification board set); the register changes use it.
    """
    app = _assigned(session, actor, application_id)
    definition = get_procedure(app.procedure_id)
    action = Action.APPROVE if approved else Action.REJECT
    if approved and definition.review_form is not None:
        errors = definition.review_form.validator.errors(review or {})
        if errors:
            raise FormInvalid(errors)
    elif approved and review:
        raise ValidationError(
            "no_review_form",
            "この手続では承認時に記録する項目はありません。",
            "This procedure records nothing with an approval.",
        )
    _decide(session, app, definition, action, actor.label, _text(reason), review)
    return app


def _decide(
    session: Session,
    app: Application,
    definition: ProcedureDefinition,
    action: Action,
    by: str,
    reason: str,
    review: dict[str, Any] | None = None,
    *,
    values: dict[str, Any] | None = None,
) -> None:
    state = next_state(app.status, action)
    if state is State.APPROVED:
        facts = values if values is not None else context(session, app)
        _apply_effects(session, app, definition, by, {**facts, "review": review or {}})
    app.status = state.value
    app.decided_at = app.updated_at = utcnow()
    app.decided_by = by
    app.automatic = action in (Action.AUTO_APPROVE, Action.AUTO_REJECT)
    app.decision_reason = reason
    # the signed notice is issued after commit, from the event announced here (written in
    # this transaction, so it exists only if the decision does)
    notices.announce(session, app)
    _close_case(session, app, by)
    _audit(session, by, app, f"procedure.{state.value}", automatic=app.automatic)


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A template with every ``$path`` replaced by its value in ``values``."""
    if isinstance(template, str) and template.startswith("$"):
        return rules.lookup(values, template[1:])
    if isinstance(template, dict) and JOIN in template:
        return " ".join(str(part) for part in fill(template[JOIN], values) if part)
    if isinstance(template, dict) and DATE_OFFSET in template:
        day, days = template[DATE_OFFSET]
        return rules.date_offset(fill(day, values), days)
    if isinstance(template, dict) and APPEND in template:
        found, item = fill(template[APPEND], values)
        if isinstance(item, dict):  # an optional fact not known is left out, never null
            item = {key: value for key, value in item.items() if value is not None}
        return [*(found if isinstance(found, list) else []), item]
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template


def _apply_effects(
    session: Session,
    app: Application,
    definition: ProcedureDefinition,
    by: str,
    values: dict[str, Any],
) -> None:
    """Make the definition's register changes (``values``: the :func:`context` plus the
    review): patch the record valid then, or write the effect's whole record where there is
    none (or where the effect only adds records)."""
    if not definition.effects:
        return
    note = f"procedure:{app.procedure_id}:{app.id}"
    for effect in definition.effects:
        items = [None] if effect.each is None else fill(effect.each, values) or []
        for item in items:
            whom = item.get("id") if isinstance(item, dict) else None
            found = values.get("evidence_about", {}).get(whom)
            facts = {**values, "item": item, ITEM_EVIDENCE: found or {}}
            _apply_effect(session, app, effect, by, facts, note)


def _apply_effect(
    session: Session, app: Application, effect: Effect, by: str, values: dict[str, Any], note: str
) -> None:
    """One register change of an approval (for one item of ``each``), unless ``when`` fails."""
    if effect.when is not None and not rules.evaluate(effect.when, values):
        return
    subject = str(fill(effect.subject, values))
    valid_from = date.fromisoformat(str(fill(effect.valid_from, values)))
    if effect.reads_record:  # read just before the change, in its transaction
        found = registry.as_of(session, effect.registry, subject, valid_on=valid_from)
        values = {**values, RECORD: found[0].data if found else None}
    record = fill(effect.record, values) if effect.record is not None else None
    if effect.patch is None:
        registry.assert_fact(
            session, effect.registry, subject, record, keeper_id=str(app.owner_id), actor=by,
            valid_from=valid_from, note=note,
        )  # fmt: skip
        return
    # the patch where a version is valid then, else the whole record (one locked read)
    registry.change(
        session, effect.registry, subject, fill(effect.patch, values), actor=by,
        valid_from=valid_from, keeper_id=app.owner_id, note=note, record=record,
    )  # fmt: skip


def _close_case(session: Session, app: Application, by: str) -> None:
    if app.case_id is not None:
        exchange.close_case(session, app.case_id, actor=by)


def withdraw(session: Session, actor: Actor, application_id: str) -> Application:
    """取下げ by the applicant, at any time before a decision."""
    app = _load(session, application_id)
    if actor.label != app.applicant:
        raise _not_found()
    app.status = next_state(app.status, Action.WITHDRAW).value
    app.updated_at = utcnow()
    _close_case(session, app, actor.label)
    _audit(session, actor.label, app, "procedure.withdrawn")
    return app


# --- reading -----------------------------------------------------------------------------------


def _load(session: Session, application_id: str) -> Application:
    app = get_on_driver(session, Application, application_id)
    if app is None:
        raise _not_found()
    return app


def _is_party(actor: Actor, app: Application) -> bool:
    return actor.label == app.applicant or (
        actor.kind is ActorKind.PERSON and actor.person_id == app.subject_id
    )


def get(session: Session, actor: Actor, application_id: str) -> Application:
    """The application, for its applicant, its subject or a reviewer of the owner."""
    app = _load(session, application_id)
    if not (_is_party(actor, app) or is_reviewer(actor, app)):
        raise _not_found()
    return app


def decision(session: Session, actor: Actor, application_id: str) -> Decision:
    """The decision notice, for whoever may read the application (see :mod:`notices`)."""
    return notices.notice_of(session, get(session, actor, application_id))


def mine(session: Session, actor: Actor) -> list[Application]:
    """Applications the actor filed or that are about them (newest first)."""
    conditions = [Application.applicant == actor.label]
    if actor.kind is ActorKind.PERSON and actor.person_id:
        conditions.append(Application.subject_id == actor.person_id)
    return list(
        session.execute(
            select(Application).where(or_(*conditions)).order_by(Application.created_at.desc())
        ).scalars()
    )


SLA_STATES = ("overdue", "due_today", "on_time")
ASSIGNMENTS = ("me", "unassigned")


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrows the queue to; None means any."""

    status: str | None = None
    procedure_id: str | None = None
    sla: str | None = None  # one of SLA_STATES
    assigned: str | None = None  # one of ASSIGNMENTS


def _one_of(value: str | None, allowed: Iterable[str], name: str) -> None:
    if value is not None and value not in allowed:
        raise ValidationError(
            "bad_filter", f"絞り込みの指定（{name}）が不正です。", f"Unknown {name} filter."
        )


def _reviewing(actor: Actor) -> str:
    """The organization whose queue the actor reviews."""
    if not actor.can(Permission.APPLICATION_REVIEW) or actor.organization_id is None:
        raise _refused(
            "permission_denied",
            "この操作を行う権限がありません。",
            "Only reviewers see the application queue.",
        )
    return actor.organization_id


def _in_queue(actor: Actor) -> list[ColumnElement[bool]]:
    return [
        Application.owner_id == _reviewing(actor),
        Application.status != State.DRAFT.value,
    ]


def _queue_conditions(actor: Actor, filters: QueueFilter) -> list[ColumnElement[bool]]:
    _one_of(filters.status, [s.value for s in State], "status")
    _one_of(filters.sla, SLA_STATES, "sla")
    _one_of(filters.assigned, ASSIGNMENTS, "assigned")
    conditions = _in_queue(actor)
    if filters.status:
        conditions.append(Application.status == filters.status)
    if filters.procedure_id:
        conditions.append(Application.procedure_id == filters.procedure_id)
    if filters.sla:  # the same cut as sla_status, in SQL: the clock runs until a decision
        today = tokyo_today()
        due = {
            "overdue": Application.due_on < today,
            "due_today": Application.due_on == today,
            "on_time": Application.due_on > today,
        }
        conditions += [Application.status.not_in([s.value for s in FINAL]), due[filters.sla]]
    if filters.assigned == "me":
        conditions.append(Application.assigned_to == actor.official_id)
    elif filters.assigned == "unassigned":
        conditions.append(Application.assigned_to.is_(None))
    return conditions


def queue(
    session: Session,
    actor: Actor,
    filters: QueueFilter | None = None,
    *,
    latest_due_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[Application]:
    """The owning organization's applications past the draft stage, by deadline
    (oldest first unless ``latest_due_first``; those without one last)."""
    due = Application.due_on.desc() if latest_due_first else Application.due_on
    query = (
        select(Application)
        .where(*_queue_conditions(actor, filters or QueueFilter()))
        .order_by(Application.due_on.is_(None), due, Application.submitted_at, Application.id)
        .offset(offset)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def queue_size(session: Session, actor: Actor, filters: QueueFilter | None = None) -> int:
    """How many applications ``queue`` has with these filters (for paging)."""
    conditions = _queue_conditions(actor, filters or QueueFilter())
    return session.execute(select(func.count()).where(*conditions)).scalar_one()


def queue_counts(session: Session, actor: Actor) -> dict[str, int]:
    """Applications in the organization's queue per status (every status, zeros included)."""
    rows = session.execute(
        select(Application.status, func.count())
        .where(*_in_queue(actor))
        .group_by(Application.status)
    ).all()
    found = {status: count for status, count in rows}
    return {s.value: found.get(s.value, 0) for s in State if s is not State.DRAFT}


def reviewers(session: Session, actor: Actor, application_id: str) -> list[OfficialRecord]:
    """The active reviewers of the owning organization, to whom the application may be assigned."""
    app = for_review(session, actor, application_id)
    officials = identity.list_officials(
        session, organization_id=app.owner_id, role=OfficialRole.REVIEWER
    )
    return [o for o in officials if o.active]


def history(session: Session, actor: Actor, application_id: str) -> list[AuditRecord]:
    """The application's audit trail (who did what, when), for a reviewer of its owner."""
    return audit.records_of(session, "application", for_review(session, actor, application_id).id)


def sla_status(app: Application, today: date | None = None) -> str | None:
    """on_time / due_today / overdue while the clock runs; None otherwise."""
    if app.due_on is None or State(app.status) in FINAL:
        return None
    day = today or tokyo_today()
    if day > app.due_on:
        return "overdue"
    return "due_today" if day == app.due_on else "on_time"


# --- comments and audit ------------------------------------------------------------------------


def _text(value: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_COMMENT:
        raise ValidationError(
            "bad_comment",
            f"理由・コメントは 1〜{MAX_COMMENT} 文字で入力してください。",
            f"A reason or comment must be 1–{MAX_COMMENT} characters.",
        )
    return text


def _add_comment(
    session: Session, app: Application, author: str, body: str, *, internal: bool
) -> ApplicationComment:
    row = ApplicationComment(
        application_id=app.id, author=author, internal=internal, body=body, created_at=utcnow()
    )
    session.add(row)
    session.flush()
    return row


def comment(
    session: Session, actor: Actor, application_id: str, body: str, *, internal: bool = False
) -> ApplicationComment:
    """Applicants write to the office; reviewers to the applicant or (internal) to colleagues."""
    app = get(session, actor, application_id)
    if internal and not is_reviewer(actor, app):
        raise _refused(
            "permission_denied",
            "内部メモは審査担当の職員のみ書けます。",
            "Only reviewers write internal notes.",
        )
    row = _add_comment(session, app, actor.label, _text(body), internal=internal)
    _audit(session, actor.label, app, "procedure.commented", internal=internal)
    return row


def comments(session: Session, actor: Actor, application_id: str) -> list[ApplicationComment]:
    app = get(session, actor, application_id)
    query = select(ApplicationComment).where(ApplicationComment.application_id == app.id)
    if not is_reviewer(actor, app):
        query = query.where(ApplicationComment.internal.is_(False))
    return list(session.execute(query.order_by(ApplicationComment.id)).scalars())


def _audit(session: Session, actor: str, app: Application, action: str, **data: Any) -> None:
    """Ids, states and flags only: never form contents."""
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="application",
        object_id=app.id,
        data={"procedure_id": app.procedure_id, "status": app.status, **data},
    )
