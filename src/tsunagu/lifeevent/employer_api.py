"""JSON API of the employer one-stop (入社・退社), for HR and payroll software.

Who may call: a member of the corporation's business account, or a person holding
the corporation's valid power of attorney for the procedures filed (a 社会保険労務士);
anyone else is refused (403) and someone else's filing is "not found" (404).
Anonymous callers get 401.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.identity.deps import require_login, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import employer
from tsunagu.lifeevent.employer_schemas import HireFacts, LeaveFacts
from tsunagu.lifeevent.models import EmployerFiling
from tsunagu.trust import protocol

router = APIRouter(tags=["lifeevent"])
Caller = Annotated[Actor, Depends(require_login)]


class SubmitIn(BaseModel):
    cms: str = Field(description="Base64 DER CMS over the filing's document (canonical JSON)")


def _filing(filing: EmployerFiling) -> dict[str, Any]:
    return {
        "id": filing.id,
        "event": filing.event,
        "corporation_id": filing.corporation_id,
        "employee_person_id": filing.employee_person_id,
        "status": filing.status,
        "created_at": filing.created_at,
        "submitted_at": filing.submitted_at,
        "document": json.loads(filing.document),
    }


def _prepared(prepared: employer.Prepared) -> dict[str, Any]:
    return {
        **_filing(prepared.filing),
        "plan": [
            {
                "procedure_id": d.procedure_id,
                "applies": d.applies,
                "reason": {"ja": d.reason.ja, "en": d.reason.en},
            }
            for d in prepared.decisions
        ],
    }


@router.post("/api/employers/{corporation_id}/hires", status_code=201)
def hire(corporation_id: str, body: HireFacts, db: DbSession, actor: Caller) -> dict[str, Any]:
    """Plan a new employee's enrolments and draft them; answers the one document to sign."""
    return _prepared(employer.hire(db, actor, corporation_id, body.employee_person_id, body))


@router.post("/api/employers/{corporation_id}/leavers", status_code=201)
def leaver(corporation_id: str, body: LeaveFacts, db: DbSession, actor: Caller) -> dict[str, Any]:
    """Plan the notices for an employee who leaves and draft them."""
    return _prepared(employer.leave(db, actor, corporation_id, body.employee_person_id, body))


@router.get("/api/employers/{corporation_id}/filings")
def filings(corporation_id: str, db: DbSession, actor: Caller) -> list[dict[str, Any]]:
    """The corporation's hires and leavers (for a 社労士: those they filed), newest first."""
    return [_filing(f) for f in employer.filings(db, actor, corporation_id)]


def _status(db: DbSession, actor: Actor, filing_id: str) -> dict[str, Any]:
    parts = employer.status(db, actor, filing_id)
    return {
        **_filing(employer.get_filing(db, actor, filing_id)),
        "parts": [vars(p) for p in parts],
        "all_completed": all(p.status == "approved" for p in parts),
        "attachments_requested": 0,
    }


@router.post("/api/employers/filings/{filing_id}/submit")
def submit(
    filing_id: str, body: SubmitIn, request: Request, db: DbSession, actor: Caller
) -> dict[str, Any]:
    """Submit every part under the one signature; answers each part's state."""
    store = sealing.store_for(settings_of(request))
    employer.submit(db, actor, filing_id, protocol.unb64(body.cms, what="cms"), store=store)
    return _status(db, actor, filing_id)


@router.get("/api/employers/filings/{filing_id}")
def filing(filing_id: str, db: DbSession, actor: Caller) -> dict[str, Any]:
    """Each part's live state at each agency."""
    return _status(db, actor, filing_id)
