"""JSON API of private-sector notices.

Who may call what:
- ``/api/lifeevent/subscribers…`` and replay: an administrator (official) of the
  company, or a member of its business account; only the company's own
  subscriptions and deliveries (another company's are "not found").
- ``/api/me/life-notices…``: the logged-in resident, about themselves only.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from tsunagu.core.web import DbSession
from tsunagu.identity.deps import require_login, require_person, settings_of
from tsunagu.identity.roles import Actor
from tsunagu.lifeevent import notices

router = APIRouter(tags=["lifeevent"])

Caller = Annotated[Actor, Depends(require_login)]
Resident = Annotated[Actor, Depends(require_person)]


class SubscriberIn(BaseModel):
    corporate_number: str = Field(max_length=20, description="法人番号 (13 digits)")
    sector: str = Field(description=f"one of {', '.join(notices.SECTORS)}")
    webhook_url: str = Field(max_length=2000)
    declared: dict[str, list[str]] = Field(
        description="life event → the fields wanted, e.g. {'moved': ['new_address', 'move_date']}"
    )


class ConsentIn(BaseModel):
    subscriber_id: str = Field(max_length=36)
    event: str = Field(max_length=30)
    fields: list[str] | None = Field(
        default=None, description="a subset of the declared fields; all of them when omitted"
    )


@router.get("/api/lifeevent/catalog")
def catalog() -> dict[str, Any]:
    """The life events, the fields each can tell, and the sectors (public)."""
    return {
        "events": {e: list(f) for e, f in notices.EVENT_FIELDS.items()},
        "sectors": list(notices.SECTORS),
    }


@router.post("/api/lifeevent/subscribers", status_code=201)
def register(
    body: SubscriberIn, request: Request, session: DbSession, actor: Caller
) -> dict[str, Any]:
    """Register the caller's company; the HMAC secret is in this answer and never again."""
    registered = notices.register_subscriber(
        session, settings_of(request), actor, corporate_number=body.corporate_number,
        sector=body.sector, webhook_url=body.webhook_url, declared=body.declared,
    )  # fmt: skip
    return {"subscriber": asdict(registered.subscriber), "secret": registered.secret}


@router.get("/api/lifeevent/subscribers")
def my_subscribers(session: DbSession, actor: Caller) -> dict[str, Any]:
    return {"subscribers": [asdict(s) for s in notices.subscribers_of(session, actor)]}


@router.get("/api/lifeevent/subscribers/{subscriber_id}/deliveries")
def subscriber_deliveries(subscriber_id: str, session: DbSession, actor: Caller) -> dict[str, Any]:
    """Deliveries to one of the company's subscriptions: status only, no personal data."""
    deliveries = notices.deliveries_to(session, actor, subscriber_id)
    return {"deliveries": [asdict(d) for d in deliveries]}


@router.post("/api/lifeevent/deliveries/{delivery_id}/replay")
def replay(delivery_id: str, session: DbSession, actor: Caller) -> dict[str, Any]:
    """Replay a dead-lettered delivery to the company's endpoint."""
    return asdict(notices.replay(session, actor, delivery_id))


@router.get("/api/me/life-notices")
def my_notices(session: DbSession, actor: Resident) -> dict[str, Any]:
    """Companies that ask to be told, consents in force and ever given, deliveries so far."""
    assert actor.person_id is not None
    return {
        "subscribers": [asdict(s) for s in notices.public_subscribers(session)],
        "consents": [asdict(c) for c in notices.consents_of(session, actor.person_id)],
        "consent_history": [
            asdict(c) for c in notices.consents_of(session, actor.person_id, history=True)
        ],
        "deliveries": [asdict(d) for d in notices.deliveries_of_person(session, actor.person_id)],
    }


@router.post("/api/me/life-notices/consents", status_code=201)
def give_consent(body: ConsentIn, session: DbSession, actor: Resident) -> dict[str, Any]:
    consent = notices.give_consent(
        session, actor, subscriber_id=body.subscriber_id, event=body.event, fields=body.fields
    )
    return asdict(consent)


@router.post("/api/me/life-notices/consents/{consent_id}/withdraw")
def withdraw_consent(consent_id: str, session: DbSession, actor: Resident) -> dict[str, Any]:
    return asdict(notices.withdraw_consent(session, actor, consent_id))


@router.get("/api/me/life-notices/deliveries/{delivery_id}")
def my_delivery(delivery_id: str, session: DbSession, actor: Resident) -> dict[str, Any]:
    assert actor.person_id is not None
    return asdict(notices.delivery_of_person(session, actor.person_id, delivery_id))
