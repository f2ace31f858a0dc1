"""JSON API: the procedure catalog, and applications from draft to decision.

Thin: parse, call the service (which checks every permission), shape the
answer. External front ends and HR/accounting software file through it with
the same signed documents as the web forms.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from tsunagu.core.web import DbSession, LoopSession, run_and_commit
from tsunagu.exchange import sealing
from tsunagu.identity.deps import require_login, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.procedure import decisions, forms, inventory, service
from tsunagu.procedure.definitions import ProcedureDefinition, get_procedure, procedures
from tsunagu.procedure.inventory import InventoryRow
from tsunagu.procedure.models import Application, ApplicationEvidence
from tsunagu.procedure.schemas import (
    ApplicationDetail,
    ApplicationIn,
    ApplicationOut,
    AssignIn,
    CommentIn,
    CommentOut,
    DecisionIn,
    EvidenceOut,
    FormIn,
    PartyIn,
    ProcedureDetail,
    ProcedureOut,
    ReasonIn,
    SubmitIn,
)
from tsunagu.trust import protocol

# Each server worker parses the packs (procedures, and the registries and evidence types they
# name) while starting, not while its first requests wait.
router = APIRouter(tags=["procedure"], on_startup=[procedures])
Caller = Annotated[Actor, Depends(require_login)]


def _procedure(definition: ProcedureDefinition) -> ProcedureOut:
    return ProcedureOut(
        id=definition.id,
        name_ja=definition.name.ja,
        name_en=definition.name.en,
        category=definition.category,
        owner_kind=definition.owner.kind,
        legal_basis_ja=definition.legal_basis.ja,
        legal_basis_en=definition.legal_basis.en,
        ial=definition.ial,
        aal=definition.aal,
        applicants=list(definition.applicants),
        processing_days=definition.processing_days,
        fee_paper=definition.fee.paper,
        fee_online=definition.fee.online,
        attachments_eliminated=definition.attachments_eliminated,
        automatic_rules=len(definition.rules),
    )


@router.get("/api/procedures", response_model=list[ProcedureOut])
def catalog() -> list[ProcedureOut]:
    return [_procedure(d) for d in procedures().values()]


@router.get("/api/procedures/inventory", response_model=list[InventoryRow])
def inventory_json(db: DbSession) -> list[InventoryRow]:
    """行政手続の棚卸 (public): every procedure, its owner and basis, and live figures."""
    return inventory.inventory(db)


@router.get(
    "/api/procedures/inventory.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def inventory_csv(db: DbSession) -> Response:
    """The same inventory as CSV (UTF-8; an empty cell means no figure yet)."""
    return Response(
        inventory.to_csv(inventory.inventory(db)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="procedure-inventory.csv"'},
    )


@router.get("/api/procedures/{procedure_id}", response_model=ProcedureDetail)
def procedure(procedure_id: str) -> ProcedureDetail:
    definition = get_procedure(procedure_id)
    return ProcedureDetail(
        **_procedure(definition).model_dump(),
        description_ja=definition.description.ja,
        description_en=definition.description.en,
        form_schema=definition.form.schema,
        fields=[
            {
                "path": f.path,
                "label": {"ja": f.label.ja, "en": f.label.en},
                "help": {"ja": f.help.ja, "en": f.help.en} if f.help else None,
                "required": f.required,
            }
            for f in definition.form.fields
        ],
        evidence=[
            {"type": e.type_id, "replaces": {"ja": e.replaces.ja, "en": e.replaces.en}}
            for e in definition.evidence
        ],
    )


def _out(app: Application) -> ApplicationOut:
    return ApplicationOut(
        id=app.id,
        procedure_id=app.procedure_id,
        status=app.status,
        role=app.role,
        applicant=app.applicant,
        subject=PartyIn(kind="person" if app.subject_kind == "person" else "organization",
                        id=app.subject_id),
        owner_id=app.owner_id,
        fee=app.fee,
        submitted_at=app.submitted_at,
        due_on=app.due_on,
        sla=service.sla_status(app),
        assigned_to=app.assigned_to,
        decided_at=app.decided_at,
        automatic=app.automatic,
        decision_reason=app.decision_reason,
        attachments_requested=0,
        document=service.document(app),
    )  # fmt: skip


def _shown_records(actor: Actor, app: Application, row: ApplicationEvidence) -> list[Any]:
    """What the registers said, for the office's reviewers; a filer sees only what is about them.

    An employer's or a parent's filing names other people: their register data was
    fetched for the office to check, not to be handed to whoever typed their id.
    """
    records: list[Any] = json.loads(row.records)
    if not records or service.is_reviewer(actor, app):
        return records
    subject = service.evidence_subject(row)
    return records if subject is not None and subject == actor.person_id else []


def _detail(
    db: DbSession,
    actor: Actor,
    app: Application,
    rows: list[ApplicationEvidence] | None = None,
) -> ApplicationDetail:
    """The application with its evidence (``rows``: those just stored; else read)."""
    evidence = [
        EvidenceOut(
            evidence_type=row.evidence_type,
            outcome=row.outcome,
            owner_id=row.owner_id,
            seal_serial=row.seal_serial,
            records=_shown_records(actor, app, row),
            fetched_at=row.fetched_at,
        )
        for row in (rows if rows is not None else service.evidence_of(db, app.id))
    ]
    return ApplicationDetail(**_out(app).model_dump(), evidence=evidence)


@router.post("/api/procedures/{procedure_id}/applications", response_model=ApplicationOut)
def create(procedure_id: str, body: ApplicationIn, db: DbSession, actor: Caller) -> ApplicationOut:
    party = (
        service.Party(body.on_behalf_of.kind, body.on_behalf_of.id) if body.on_behalf_of else None
    )
    form = forms.with_derived(get_procedure(procedure_id), body.form)
    app = service.create(
        db, actor, procedure_id, form, on_behalf_of=party, organization_id=body.organization_id,
    )  # fmt: skip
    return _out(app)


@router.get("/api/applications", response_model=list[ApplicationOut])
def mine(db: DbSession, actor: Caller) -> list[ApplicationOut]:
    return [_out(app) for app in service.mine(db, actor)]


@router.get("/api/applications/queue", response_model=list[ApplicationOut])
def queue(
    db: DbSession,
    actor: Caller,
    status: str | None = None,
    procedure_id: str | None = None,
    sla: str | None = None,
    assigned: str | None = None,
) -> list[ApplicationOut]:
    filters = service.QueueFilter(status, procedure_id, sla, assigned)
    return [_out(app) for app in service.queue(db, actor, filters)]


@router.get("/api/applications/{application_id}", response_model=ApplicationDetail)
def detail(application_id: str, db: DbSession, actor: Caller) -> ApplicationDetail:
    return _detail(db, actor, service.get(db, actor, application_id))


@router.put("/api/applications/{application_id}/form", response_model=ApplicationOut)
def update(application_id: str, body: FormIn, db: DbSession, actor: Caller) -> ApplicationOut:
    """Replace the draft's form; what a life event worked out in it is kept, never typed."""
    app, definition = service.editable(db, actor, application_id)
    form = forms.with_derived(definition, body.form, json.loads(app.form_data))
    return _out(service.update(db, actor, application_id, form))


@router.post("/api/applications/{application_id}/submit", response_model=ApplicationDetail)
async def submit(
    application_id: str, body: SubmitIn, request: Request, db: LoopSession, actor: Caller
) -> ApplicationDetail:
    """Verify, fetch the evidence, decide where the rules allow; committed by ``run_and_commit``."""
    store = sealing.store_for(settings_of(request))
    cms_der = protocol.unb64(body.cms, what="cms")

    def submitted() -> ApplicationDetail:
        done = service.submit(db, actor, application_id, cms_der, store=store)
        return _detail(db, actor, done.application, done.evidence)

    return await run_and_commit(db, submitted)


@router.post("/api/applications/{application_id}/withdraw", response_model=ApplicationOut)
def withdraw(application_id: str, db: DbSession, actor: Caller) -> ApplicationOut:
    return _out(service.withdraw(db, actor, application_id))


@router.post("/api/applications/{application_id}/assign", response_model=ApplicationOut)
def assign(application_id: str, body: AssignIn, db: DbSession, actor: Caller) -> ApplicationOut:
    return _out(service.assign(db, actor, application_id, body.official_id))


@router.post("/api/applications/{application_id}/return", response_model=ApplicationOut)
def return_(application_id: str, body: ReasonIn, db: DbSession, actor: Caller) -> ApplicationOut:
    return _out(service.return_for_correction(db, actor, application_id, body.reason))


@router.post("/api/applications/{application_id}/decision", response_model=ApplicationOut)
def decide(application_id: str, body: DecisionIn, db: DbSession, actor: Caller) -> ApplicationOut:
    """Decide; the signed notice follows shortly (decision.pdf answers 409 until then)."""
    return _out(service.decide(db, actor, application_id, body.approved, body.reason, body.review))


@router.get(
    "/api/applications/{application_id}/decision.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def decision_pdf(application_id: str, db: DbSession, actor: Caller) -> Response:
    """The decision notice as issued: PDF signed with the owner's seal (PAdES, time-stamped)."""
    row = service.decision(db, actor, application_id)
    return Response(
        bytes(row.pdf),
        media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="decision-{row.id}.pdf"'},
    )


@router.get("/api/applications/{application_id}/decision.json")
def decision_json(application_id: str, db: DbSession, actor: Caller) -> dict[str, Any]:
    """The machine-readable copy: a sealed JSON envelope (POST /api/trust/signatures/verify)."""
    return decisions.envelope(service.decision(db, actor, application_id))


def _comment(row: object) -> CommentOut:
    return CommentOut.model_validate(row, from_attributes=True)


@router.get("/api/applications/{application_id}/comments", response_model=list[CommentOut])
def comments(application_id: str, db: DbSession, actor: Caller) -> list[CommentOut]:
    return [_comment(row) for row in service.comments(db, actor, application_id)]


@router.post("/api/applications/{application_id}/comments", response_model=CommentOut)
def comment(application_id: str, body: CommentIn, db: DbSession, actor: Caller) -> CommentOut:
    return _comment(service.comment(db, actor, application_id, body.body, internal=body.internal))
