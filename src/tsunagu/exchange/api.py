"""JSON API of the exchange: fetches, cases, consent, subscriptions, inbox, access log.

Who may call what:
- ``POST /api/exchange/fetch``, cases, inbox: officials of the requesting /
  receiving organization (the seal says which organization asks; the session
  must belong to it).
- subscriptions: the organization's administrators.
- the matrix: administrators.
- consent and the access log under ``/api/me``: the logged-in resident, about
  themselves only.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from tsunagu.core.errors import PermissionDenied
from tsunagu.core.web import DbSession, LoopSession, run_and_commit
from tsunagu.exchange import accesslog, notifications, sealing
from tsunagu.exchange import service as exchange
from tsunagu.exchange.definitions import evidence_types, matrix
from tsunagu.identity.deps import require_official, require_person, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole

router = APIRouter(tags=["exchange"])

Official = Annotated[Actor, Depends(require_official())]
Administrator = Annotated[Actor, Depends(require_official(OfficialRole.ADMINISTRATOR))]
Resident = Annotated[Actor, Depends(require_person)]


def store_of(request: Request) -> sealing.SealStore:
    return sealing.store_for(settings_of(request))


def _organization(actor: Actor) -> str:
    if actor.organization_id is None:
        raise PermissionDenied(
            "no_organization", "所属組織がありません。", "The official belongs to no organization."
        )
    return actor.organization_id


class CaseIn(BaseModel):
    procedure_id: str
    application_ref: str
    subjects: dict[str, str] = Field(description="party id → role (applicant, spouse, child …)")


@router.post("/api/exchange/cases", status_code=201)
def open_case(body: CaseIn, session: DbSession, actor: Official) -> dict[str, Any]:
    """Register an application this organization handles (what fetches must cite)."""
    case = exchange.open_case(
        session,
        requester_id=_organization(actor),
        procedure_id=body.procedure_id,
        application_ref=body.application_ref,
        subjects=body.subjects,
        actor=actor.label,
    )
    return {"id": case.id, "application_ref": case.application_ref, "subjects": case.subjects}


@router.post("/api/exchange/fetch")
async def fetch(
    document: dict[str, Any], request: Request, session: LoopSession, actor: Official
) -> JSONResponse:
    """Answer a sealed fetch request; refusals come back as 403 with the reason, and are logged.

    The hottest endpoint between agencies: the fetch and its commit run without a
    thread hand-off where the database allows (see ``run_and_commit``).
    """
    payload = document.get("payload")
    claimed = payload.get("requester_id") if isinstance(payload, dict) else None
    if claimed != _organization(actor):
        raise PermissionDenied(
            "not_your_organization",
            "所属組織の名義の要求のみ送信できます。",
            "Officials may only send requests in their own organization's name.",
        )
    store = store_of(request)
    result = await run_and_commit(session, lambda: exchange.fetch(session, document, store=store))
    if result.refused is not None:
        return JSONResponse(status_code=403, content={"error": result.refused.as_dict()})
    if result.response is None:
        return JSONResponse(
            status_code=404,
            content={
                "error": {
                    "code": "no_record",
                    "message_ja": "該当する記録がありません。",
                    "message_en": "The register holds no record for this subject.",
                }
            },
        )
    return JSONResponse(content=result.response)


@router.get("/api/exchange/matrix")
def get_matrix(actor: Administrator) -> dict[str, Any]:
    """The legal-basis matrix and the evidence types (what is allowed; the rest is denied)."""
    m = matrix()
    return {
        "functions": [
            {"id": f.id, "name": f.name.__dict__, "kinds": f.kinds, "implied": f.implied}
            for f in m.functions.values()
        ],
        "procedures": [{"id": p.id, "name": p.name.__dict__} for p in m.procedures.values()],
        "provisions": [
            {
                "id": p.id,
                "procedure": p.procedure_id,
                "requesters": p.requesters,
                "evidence": p.evidence,
                "consent": p.consent,
                "basis": p.basis.__dict__,
            }
            for p in m.provisions
        ],
        "notifications": [
            {
                "id": n.id,
                "registry": n.registry_id,
                "events": n.events,
                "subscribers": n.subscribers,
                "fields": n.fields,
                "basis": n.basis.__dict__,
            }
            for n in m.notifications.values()
        ],
        "evidence_types": [
            {"id": e.id, "name": e.name.__dict__, "registry": e.registry_id, "fields": e.fields}
            for e in evidence_types().values()
        ],
    }


class SubscriptionIn(BaseModel):
    basis_id: str
    event_id: str


def _subscription(s: notifications.SubscriptionOut) -> dict[str, Any]:
    return {
        "id": s.id,
        "basis_id": s.basis_id,
        "registry_id": s.registry_id,
        "event_id": s.event_id,
        "created_at": s.created_at.isoformat(),
        "ended_at": s.ended_at.isoformat() if s.ended_at else None,
    }


@router.get("/api/exchange/subscriptions")
def list_subscriptions(session: DbSession, actor: Administrator) -> list[dict[str, Any]]:
    return [_subscription(s) for s in notifications.subscriptions_of(session, _organization(actor))]


@router.post("/api/exchange/subscriptions", status_code=201)
def subscribe(body: SubscriptionIn, session: DbSession, actor: Administrator) -> dict[str, Any]:
    return _subscription(
        notifications.subscribe(
            session,
            subscriber_id=_organization(actor),
            basis_id=body.basis_id,
            event_id=body.event_id,
            actor=actor.label,
        )
    )


@router.delete("/api/exchange/subscriptions/{subscription_id}")
def unsubscribe(subscription_id: str, session: DbSession, actor: Administrator) -> dict[str, Any]:
    return _subscription(
        notifications.end_subscription(
            session, subscription_id, subscriber_id=_organization(actor), actor=actor.label
        )
    )


@router.get("/api/exchange/inbox")
def inbox(session: DbSession, actor: Official) -> list[dict[str, Any]]:
    """Notifications delivered to this organization (seals verified on receipt)."""
    return [
        {
            "id": i.id,
            "publisher_id": i.publisher_id,
            "registry_id": i.registry_id,
            "events": i.events,
            "subject_id": i.subject_id,
            "received_at": i.received_at.isoformat(),
            "message": i.message,
        }
        for i in notifications.inbox(session, _organization(actor))
    ]


class ConsentIn(BaseModel):
    evidence_type_id: str | None = None


@router.post("/api/me/consents/{case_id}", status_code=201)
def give_consent(
    case_id: str, body: ConsentIn, session: DbSession, actor: Resident
) -> dict[str, str]:
    """The resident consents, for themselves, to a fetch for an application they are party to."""
    assert actor.person_id is not None
    exchange.give_consent(
        session,
        case_id=case_id,
        party_id=actor.person_id,
        evidence_type_id=body.evidence_type_id,
        actor=actor.label,
    )
    return {"status": "given"}


async def _filters(
    agency: Annotated[str | None, Query(max_length=64)] = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    return {"agency": agency or None, "since": since, "until": until}


Filters = Annotated[dict[str, Any], Depends(_filters)]


def _language(request: Request) -> str:
    return "en" if request.query_params.get("lang") == "en" else "ja"


@router.get("/api/me/access-log")
def my_access_log(
    request: Request, session: DbSession, actor: Resident, filters: Filters
) -> dict[str, Any]:
    """Every fetch of my data and every notification about me, with Merkle proofs."""
    assert actor.person_id is not None
    return accesslog.export(session, actor.person_id, _language(request), **filters)


@router.get("/api/me/access-log.json")
def download_json(
    request: Request, session: DbSession, actor: Resident, filters: Filters
) -> Response:
    assert actor.person_id is not None
    document = accesslog.export(session, actor.person_id, _language(request), **filters)
    return JSONResponse(
        document,
        headers={"Content-Disposition": 'attachment; filename="access-log.json"'},
    )


@router.get("/api/me/access-log.csv")
def download_csv(
    request: Request, session: DbSession, actor: Resident, filters: Filters
) -> Response:
    assert actor.person_id is not None
    document = accesslog.export(session, actor.person_id, _language(request), **filters)
    return Response(
        accesslog.to_csv(document),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="access-log.csv"'},
    )
