"""Pages of the one-stop life events: choose, type the little that is new, sign once, follow.

- ``/life-events``: the life events one can file at once (public), and the
  resident's own filings.
- ``/life-events/{bundle}``: one form — what the registers know is shown,
  not asked; the resident chooses, types the new facts and the companies to tell.
- ``/life-events/filings/{id}/sign``: every part that will be filed, signed
  once with this browser's card.
- ``/life-events/filings/{id}``: the tracker — each part's state, what is
  pending and why, the notices to companies, what no longer needs doing.

Thin: the service checks that a filing is the caller's own (anyone else's is
"not found"). Pages work without JavaScript except the signing step.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import TsunaguError, ValidationError
from tsunagu.core.rendering import request_language, see_other
from tsunagu.core.web import DbSession
from tsunagu.exchange import sealing
from tsunagu.exchange.definitions import evidence_types
from tsunagu.identity import service as identity
from tsunagu.identity.deps import CurrentActor, login_redirect, private_page, settings_of
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.lifeevent import notices, onestop
from tsunagu.lifeevent.bundles import Bundle, bundles, get_bundle
from tsunagu.lifeevent.models import BundleFiling
from tsunagu.procedure.definitions import procedures
from tsunagu.trust import protocol

router = APIRouter(include_in_schema=False)
MEMBER_PREFIX = "member."
NOTIFY_PREFIX = "notify."
NEW_HEAD = "new_head"
HEAD_ERRORS = ("choose_new_head", "new_head_not_in_household", "new_head_too_young")


def _is_person(actor: Actor | None) -> bool:
    return actor is not None and actor.kind is ActorKind.PERSON and actor.person_id is not None


@router.get("/life-events", response_class=HTMLResponse)
def index(request: Request, db: DbSession, actor: CurrentActor) -> HTMLResponse:
    """Anyone: the life events; a resident also sees their filings."""
    mine = onestop.filings(db, actor) if actor is not None and _is_person(actor) else []
    return private_page(
        request, "lifeevent/onestop_index.html", {"bundles": bundles(), "filings": mine}
    )


def _companies(db: Session, bundle: Bundle) -> list[notices.PublicSubscriber]:
    return [s for s in notices.public_subscribers(db) if bundle.event in s.declared]


def _form_page(
    request: Request,
    db: Session,
    actor: Actor,
    bundle: Bundle,
    *,
    posted: dict[str, Any] | None = None,
    error: TsunaguError | None = None,
) -> HTMLResponse:
    assert actor.person_id is not None
    language = request_language(request)
    household = onestop.household(db, actor.person_id)
    members = [onestop.member_summary(m) for m in household]
    field_errors = {e.path: e.message_ja if language == "ja" else e.message_en
                    for e in getattr(error, "errors", [])}  # fmt: skip
    return private_page(
        request,
        "lifeevent/onestop_form.html",
        {
            "bundle": bundle,
            "members": members,
            "head_candidates": [
                onestop.member_summary(m) for m in onestop.head_candidates(bundle, household)
            ],
            "companies": _companies(db, bundle),
            "posted": posted,
            "error": error.message(language) if error else None,
            "errors": field_errors,
            "head_error": error.message(language) if error and error.code in HEAD_ERRORS else None,
            "procedure_names": {
                p.procedure_id: procedures()[p.procedure_id].name for p in bundle.parts
            },
        },
        status_code=422 if error else 200,
    )


@router.get("/life-events/{bundle_id}", response_class=HTMLResponse)
def form_page(request: Request, bundle_id: str, db: DbSession, actor: CurrentActor) -> Response:
    """The resident: one form for the whole life event."""
    bundle = get_bundle(bundle_id)
    if actor is None or not _is_person(actor):
        return login_redirect(request)
    return _form_page(request, db, actor, bundle)


def _checked(posted: dict[str, Any], prefix: str) -> list[str]:
    return [key[len(prefix) :] for key, value in posted.items() if key.startswith(prefix) and value]


@router.post("/life-events/{bundle_id}", response_class=HTMLResponse)
async def form_post(
    request: Request, bundle_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Check the answers, prepare every part's draft, go on to sign."""
    bundle = get_bundle(bundle_id)
    if actor is None or not _is_person(actor):
        return login_redirect(request)
    posted = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    choices = {q.id: posted.get(f"q.{q.id}", "") for q in bundle.questions}
    values = {f.id: posted.get(f"f.{f.id}", "").strip() for f in bundle.fields}
    try:
        filing = onestop.prepare(
            db, actor, bundle.id, choices=choices, values=values,
            member_ids=_checked(posted, MEMBER_PREFIX), notify=_checked(posted, NOTIFY_PREFIX),
            new_head=posted.get(NEW_HEAD) or None,
        )  # fmt: skip
    except ValidationError as exc:
        db.rollback()
        return _form_page(request, db, actor, bundle, posted=posted, error=exc)
    return see_other(request, f"/life-events/filings/{filing.id}/sign")


def _names_of(db: Session, person_ids: set[str]) -> dict[str, str]:
    names = {}
    for person_id in person_ids:
        record = identity.get_person(db, person_id)
        names[person_id] = f"{record.family_name} {record.given_name}"
    return names


def _review(db: Session, filing: BundleFiling) -> dict[str, Any]:
    """What the page shows of a filing: its parts with names, the companies, the bundle."""
    document = json.loads(filing.document or "{}")
    applications = document.get("applications", [])
    subjects = {a["subject"]["id"] for a in applications if a["subject"]["kind"] == "person"}
    told = set(json.loads(filing.notify))
    return {
        "filing": filing,
        "bundle": get_bundle(filing.bundle_id),
        "applications": applications,
        "names": _names_of(db, subjects),
        "procedure_definitions": procedures(),
        "companies": [s for s in notices.public_subscribers(db) if s.id in told],
        # per application, the evidence the one signature consents to have fetched
        "consents": {
            app_id: [evidence_types()[t].name for t in types]
            for app_id, types in document.get("consents", {}).items()
        },
    }


@router.get("/life-events/filings/{filing_id}/sign", response_class=HTMLResponse)
def sign_page(request: Request, filing_id: str, db: DbSession, actor: CurrentActor) -> Response:
    """The resident: everything that will be filed, signed once."""
    if actor is None:
        return login_redirect(request)
    filing = onestop.get_filing(db, actor, filing_id)
    if filing.status != "prepared":
        return see_other(request, f"/life-events/filings/{filing.id}")
    return _sign_page(request, db, filing)


def _sign_page(
    request: Request, db: Session, filing: BundleFiling, *, error: str | None = None
) -> HTMLResponse:
    content = (filing.document or "").encode("utf-8")
    return private_page(
        request,
        "lifeevent/onestop_sign.html",
        {**_review(db, filing), "document_b64": protocol.b64(content), "error": error},
        status_code=422 if error else 200,
    )


@router.post("/life-events/filings/{filing_id}/sign", response_class=HTMLResponse)
async def sign_post(
    request: Request, filing_id: str, db: DbSession, actor: CurrentActor
) -> Response:
    """Verify the one signature and submit every part; then the tracker."""
    if actor is None:
        return login_redirect(request)
    posted = await request.form()
    filing = onestop.get_filing(db, actor, filing_id)
    cms = posted.get("cms")
    try:
        if not isinstance(cms, str) or not cms.strip():
            raise ValidationError(
                "signature_missing",
                "電子署名がありません。この画面のカードで署名してください。",
                "There is no signature. Sign with this browser's card on this page.",
            )
        store = sealing.store_for(settings_of(request))
        onestop.submit(db, actor, filing.id, protocol.unb64(cms.strip(), what="cms"), store=store)
    except TsunaguError as exc:
        db.rollback()
        filing = onestop.get_filing(db, actor, filing_id)
        return _sign_page(request, db, filing, error=exc.message(request_language(request)))
    return see_other(request, f"/life-events/filings/{filing.id}")


@router.get("/life-events/filings/{filing_id}", response_class=HTMLResponse)
def tracker_page(request: Request, filing_id: str, db: DbSession, actor: CurrentActor) -> Response:
    """The resident: every part's state, what is pending and why, the companies told."""
    if actor is None:
        return login_redirect(request)
    tracker = onestop.tracker(db, actor, filing_id)
    if tracker.filing.status == "prepared":
        return see_other(request, f"/life-events/filings/{filing_id}/sign")
    return private_page(
        request,
        "lifeevent/onestop_tracker.html",
        {**_review(db, tracker.filing), "tracker": tracker},
    )
