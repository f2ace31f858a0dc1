"""JSON API of the one-stop life events.

Who may call what: the bundle catalog is public; everything else is for a
logged-in resident about their own household (the service checks that the
filing is theirs; anyone else's answers "not found").
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import require_person, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import notices, onestop
from tsunagu.lifeevent.bundles import Bundle, bundles, get_bundle
from tsunagu.lifeevent.models import BundleFiling
from tsunagu.trust import protocol

router = APIRouter(tags=["lifeevent"])
Resident = Annotated[Actor, Depends(require_person)]


class FilingIn(BaseModel):
    choices: dict[str, str] = Field(description="question id → chosen option value")
    values: dict[str, Any] = Field(
        default_factory=dict, description="field id (e.g. new_address.town) → typed value"
    )
    member_ids: list[str] | None = Field(
        default=None, description="household members who move (all when omitted)"
    )
    notify: list[str] = Field(default_factory=list, description="companies to tell (ids)")
    principal_id: str | None = Field(
        default=None,
        description="file for this person's household under their power of attorney",
    )
    new_head: str | None = Field(
        default=None,
        description="a death: the member who heads the household when the head died and "
        "several members aged 15 or over remain (with one, that one without asking)",
    )


class SubmitIn(BaseModel):
    cms: str = Field(description="Base64 DER CMS over the filing's document (canonical JSON)")


def _bundle(bundle: Bundle) -> dict[str, Any]:
    return {
        "id": bundle.id,
        "name": {"ja": bundle.name.ja, "en": bundle.name.en},
        "description": {"ja": bundle.description.ja, "en": bundle.description.en},
        "event": bundle.event,
        "questions": [
            {
                "id": q.id,
                "label": {"ja": q.label.ja, "en": q.label.en},
                "options": [
                    {"value": o.value, "label": {"ja": o.label.ja, "en": o.label.en}}
                    for o in q.options
                ],
            }
            for q in bundle.questions
        ],
        "fields": [
            {
                "id": f.id,
                "schema": f.schema,
                "required": f.required,
                "when": f.when,
                "label": {"ja": f.label.ja, "en": f.label.en},
            }
            for f in bundle.fields
        ],
        "procedures": sorted({p.procedure_id for p in bundle.parts}),
        "unnecessary": [{"ja": u.ja, "en": u.en} for u in bundle.unnecessary],
    }


@router.get("/api/life-events")
def catalog() -> list[dict[str, Any]]:
    """Every life event that can be filed at once (public)."""
    return [_bundle(b) for b in bundles().values()]


@router.get("/api/life-events/filings")
def mine(db: DbSession, actor: Resident) -> list[dict[str, Any]]:
    return [_filing(f) for f in onestop.filings(db, actor)]


@router.get("/api/life-events/{bundle_id}")
def bundle(bundle_id: str) -> dict[str, Any]:
    return _bundle(get_bundle(bundle_id))


@router.get("/api/life-events/{bundle_id}/figures")
def figures(bundle_id: str, db: DbSession) -> dict[str, Any]:
    """The bundle's figures (public, aggregates only): fields typed versus prefilled,
    procedures covered and made unnecessary, filings completed and the median time."""
    return asdict(onestop.figures(db, bundle_id))


@router.get("/api/life-events/{bundle_id}/household")
def household(bundle_id: str, db: DbSession, actor: Resident) -> dict[str, Any]:
    """What the registers already say (shown, never asked) and the companies one may tell."""
    found = get_bundle(bundle_id)
    assert actor.person_id is not None
    members = onestop.household(db, actor.person_id)
    return {
        "members": [onestop.member_summary(m) for m in members],
        "companies": [
            {"id": s.id, "name": s.name, "sector": s.sector, "fields": s.declared[event]}
            for s in notices.public_subscribers(db)
            for event in [found.event]
            if event is not None and event in s.declared
        ],
    }


def _filing(filing: BundleFiling) -> dict[str, Any]:
    return {
        "id": filing.id,
        "bundle_id": filing.bundle_id,
        "status": filing.status,
        "fields_typed": filing.fields_typed,
        "fields_prefilled": filing.fields_prefilled,
        "choices": filing.choices,
        "created_at": filing.created_at,
        "submitted_at": filing.submitted_at,
        "document": json.loads(filing.document) if filing.document else None,
    }


@router.post("/api/life-events/{bundle_id}/filings", status_code=201)
def prepare(bundle_id: str, body: FilingIn, db: DbSession, actor: Resident) -> dict[str, Any]:
    """Plan every part and create its draft; answers the one document to sign."""
    filing = onestop.prepare(
        db, actor, bundle_id, choices=body.choices, values=body.values,
        member_ids=body.member_ids, notify=body.notify, principal_id=body.principal_id,
        new_head=body.new_head,
    )  # fmt: skip
    return _filing(filing)


def _tracker(tracker: onestop.Tracker) -> dict[str, Any]:
    return {
        **_filing(tracker.filing),
        "parts": [vars(p) for p in tracker.parts],
        "pending": [p.application_id for p in tracker.pending],
        "all_completed": tracker.all_completed,
        "completed_at": tracker.completed_at,
        "attachments_requested": 0,
        "procedures_unnecessary": tracker.unnecessary,
        "notices": [vars(n) for n in tracker.notices],
        # what remains by a date, and check-ups and vaccinations due from a date
        "checklist": [
            {"id": item.id, "kind": item.kind, "date": day, "label": vars(item.label)}
            for item, day in tracker.deadlines
        ],
    }


@router.post("/api/life-events/filings/{filing_id}/submit")
def submit(
    filing_id: str, body: SubmitIn, request: Request, db: DbSession, actor: Resident
) -> dict[str, Any]:
    """Submit every part under the one signature; the answer is the tracker."""
    store = sealing.store_for(settings_of(request))
    onestop.submit(db, actor, filing_id, protocol.unb64(body.cms, what="cms"), store=store)
    return _tracker(onestop.tracker(db, actor, filing_id))


@router.get("/api/life-events/filings/{filing_id}")
def tracker(filing_id: str, db: DbSession, actor: Resident) -> dict[str, Any]:
    """Each part's live state, the notices to companies, the figures."""
    return _tracker(onestop.tracker(db, actor, filing_id))
