"""HTML pages of the digital card: login and logout, the resident's card, the counter,
business accounts and powers of attorney.

Thin, like the JSON API: every permission is checked by the service function
a page calls (``card``, ``business``, ``delegation``), never only here. Pages
work without JavaScript except where the browser's key is the point (card
login, wallet enrollment and signing: ``/static/wallet.js``). Every form
carries a CSRF token; ``current_session`` checks it for logged-in visitors and
the password form checks its own pre-login token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from tsunagu.core.errors import PermissionDenied, TsunaguError, ValidationError
from tsunagu.core.rendering import environment, render, request_language
from tsunagu.core.web import DbSession
from tsunagu.identity import auth, business, card, delegation, sessions
from tsunagu.identity.deps import (
    CurrentActor,
    clear_session_cookie,
    csrf_for,
    login_redirect,
    session_token,
    set_session_cookie,
    settings_of,
)
from tsunagu.identity.roles import Actor, ActorKind, Permission, require_person
from tsunagu.trust import protocol
from tsunagu.trust import service as trust

router = APIRouter(include_in_schema=False)

LOGIN_COOKIE = "tsunagu_login"
NO_STORE = {"Cache-Control": "no-store"}
# Where a login may send the visitor back to: a plain path on this site, no query.
NEXT_PATH = re.compile(r"^/[A-Za-z0-9_\-./]{0,200}(\?lang=[a-z]{2})?$")
HUB = "/me"
MAX_SIGNATURE_FILE = 256 * 1024
DOCUMENTS = card.DOCUMENTS
CARD_EVENTS = (
    trust.Reason.LOSS,
    trust.Reason.ATTRIBUTE_CHANGE,
    trust.Reason.ABROAD,
    trust.Reason.DEATH,
)


# --- helpers ----------------------------------------------------------------------


def _message(request: Request, error: TsunaguError) -> str:
    return error.message_en if request_language(request) == "en" else error.message_ja


def _page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    private: bool = True,
) -> HTMLResponse:
    """Render with the visitor's CSRF token; pages about a person are never cached."""
    response = render(
        request, template, {"csrf_token": csrf_for(request), **(context or {})}, status_code
    )
    if private:
        response.headers.update(NO_STORE)
    return response


def _safe_next(target: str | None) -> str | None:
    if target and NEXT_PATH.match(target) and not target.startswith("//") and ".." not in target:
        return target
    return None


def _home_of(actor: Actor) -> str:
    if actor.kind is ActorKind.OFFICIAL:
        issues = actor.can(Permission.CARD_ISSUE) or actor.can(Permission.CARD_REVOKE)
        if issues:
            return "/counter"
        # reviewers work from the official console of the procedure module; others from the hub
        return "/console/applications" if actor.can(Permission.APPLICATION_REVIEW) else HUB
    if actor.kind is ActorKind.MEMBER:
        return "/business"
    return HUB


def _see_other(path: str, **query: str) -> RedirectResponse:
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


def session_nav(request: Request) -> dict[str, str] | None:
    """Who is logged in, for the header's logout button (None when nobody is)."""
    token = session_token(request)
    if not token:
        return None
    actor: Actor | None = getattr(request.state, "tsunagu_actor", None)
    if actor is None:
        with request.app.state.session_factory() as db:
            actor = sessions.resolve(db, token)
    if actor is None:
        return None
    # "My page" is the hub (web/), listing what this party may open; the login lands on _home_of
    return {"name": actor.display_name, "home": HUB, "csrf": csrf_for(request)}


# The layout includes identity/_session_nav.html, which calls this when present.
environment().globals["session_nav"] = session_nav


# --- login and logout ---------------------------------------------------------------


def _login_csrf(request: Request, nonce: str) -> str:
    secret = settings_of(request).secret_key.encode("utf-8")
    return hmac.new(secret, b"login:" + nonce.encode("utf-8"), hashlib.sha256).hexdigest()


def _login_page(
    request: Request,
    *,
    next_path: str | None,
    error: str | None = None,
    login_name: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The login page with a pre-login CSRF token (double submit: cookie + HMAC field)."""
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = _page(
        request,
        "identity/login.html",
        {
            "login_csrf": _login_csrf(request, nonce),
            "next_path": next_path or "",
            "error": error,
            "login_name": login_name,
            "logged_out": request.query_params.get("logged_out") == "1",
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="strict", path="/login"
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next: Annotated[str | None, Query(max_length=200)] = None
) -> HTMLResponse:
    """Anyone: card login (browser wallet) and the password + TOTP form for staff."""
    return _login_page(request, next_path=_safe_next(next))


@router.post("/login/password", response_class=HTMLResponse)
def login_password(
    request: Request,
    db: DbSession,
    login_name: Annotated[str, Form(max_length=100)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    totp: Annotated[str, Form(max_length=8)] = "",
    login_csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Officials and business members: password + one-time code → session cookie."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(_login_csrf(request, nonce), login_csrf):
        error = ValidationError(
            "csrf_failed",
            "フォームの有効期限が切れました。もう一度入力してください。",
            "The form expired. Please enter your details again.",
        )
        return _login_page(
            request, next_path=_safe_next(next), error=_message(request, error), status_code=403
        )
    started = None
    if login_name and password and totp:
        started = auth.login_with_password(
            db, settings_of(request), login_name=login_name, password=password, totp=totp
        )
    if started is None:
        failed = ValidationError(
            "login_failed",
            "ログイン名・パスワード・確認コードのいずれかが違います。",
            "Wrong login name, password or one-time code.",
        )
        return _login_page(
            request,
            next_path=_safe_next(next),
            error=_message(request, failed),
            login_name=login_name,
            status_code=401,
        )
    response = RedirectResponse(_safe_next(next) or _home_of(started.actor), status_code=303)
    set_session_cookie(request, response, started)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, actor: CurrentActor, db: DbSession) -> RedirectResponse:
    """The session's holder (CSRF-checked when the session is live): end it, clear the cookie."""
    sessions.end(db, session_token(request))
    response = _see_other("/login", logged_out="1")
    clear_session_cookie(response)
    return response


# --- the browser wallet -----------------------------------------------------------------


@router.get("/wallet/enroll", response_class=HTMLResponse)
def wallet_enroll_page(request: Request) -> HTMLResponse:
    """Anyone holding a counter code: create the keys in this browser and get the card."""
    return _page(request, "identity/wallet_enroll.html")


@router.get("/wallet/sign", response_class=HTMLResponse)
def wallet_sign_page(request: Request) -> HTMLResponse:
    """Anyone with an enrolled browser wallet: sign a file (CMS, time-stamped)."""
    return _page(request, "identity/wallet_sign.html")


# --- the resident's card ------------------------------------------------------------


def _card_page(
    request: Request, db: DbSession, actor: Actor, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "identity/card.html",
        {
            "actor": actor,
            "certificates": card.my_certificates(db, actor),
            "error": error,
        },
        status_code=status,
    )


@router.get("/me/card", response_class=HTMLResponse)
def card_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    """A person: their own certificates, status and validity; report loss."""
    if actor is None:
        return login_redirect(request)
    return _card_page(request, db, require_person(actor))


@router.post("/me/card/loss", response_class=HTMLResponse)
def card_loss(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """A person: the device is lost — both certificates are revoked and the session ends."""
    if actor is None:
        return login_redirect(request)
    person = require_person(actor)
    if confirm != "yes":
        missing = ValidationError(
            "confirmation_required",
            "失効してよいか確認のチェックを入れてください。",
            "Tick the box to confirm that both certificates should be revoked.",
        )
        return _card_page(request, db, person, error=_message(request, missing), status=422)
    revoked = card.report_loss(db, person)
    response = _page(request, "identity/card_lost.html", {"revoked": revoked})
    clear_session_cookie(response)
    return response


# --- the counter ----------------------------------------------------------------------


def _official(request: Request, actor: Actor | None) -> Actor | RedirectResponse:
    if actor is None:
        return login_redirect(request)
    return card.require_counter_view(actor)


@router.get("/counter", response_class=HTMLResponse)
def counter_page(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    kana: Annotated[str, Query(max_length=100)] = "",
    birth_date: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    """Counter staff and registry keepers: find a resident of their municipality."""
    official = _official(request, actor)
    if isinstance(official, RedirectResponse):
        return official
    error, matches, born = None, None, None
    try:
        born = date.fromisoformat(birth_date) if birth_date else None
    except ValueError:
        error = _message(request, _bad_date())
    if kana and error is None:
        matches = card.counter_search(db, official, kana=kana, birth_date=born)
    return _page(
        request,
        "identity/counter.html",
        {"kana": kana, "birth_date": birth_date, "matches": matches, "error": error},
        status_code=422 if error else 200,
    )


def _bad_date() -> ValidationError:
    return ValidationError(
        "bad_date",
        "日付は 1980-04-01 のように入力してください。",
        "Enter the date as 1980-04-01.",
    )


def _counter_person_page(
    request: Request,
    db: DbSession,
    official: Actor,
    person_id: str,
    *,
    code: trust.IssuedCode | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    person = card.counter_person(db, official, person_id)
    return _page(
        request,
        "identity/counter_person.html",
        {
            "person": person,
            "certificates": card.certificates(db, person.id),
            "documents": DOCUMENTS,
            "events": CARD_EVENTS,
            "can_issue": official.can(Permission.CARD_ISSUE),
            "can_revoke": official.can(Permission.CARD_REVOKE),
            "code": code,
            "error": error,
            "done": request.query_params.get("done"),
        },
        status_code=status,
    )


@router.get("/counter/persons/{person_id}", response_class=HTMLResponse)
def counter_person_page(
    person_id: str, request: Request, actor: CurrentActor, db: DbSession
) -> Response:
    """Counter staff of the person's municipality: their card, issue a code, record events."""
    official = _official(request, actor)
    if isinstance(official, RedirectResponse):
        return official
    return _counter_person_page(request, db, official, person_id)


@router.post("/counter/persons/{person_id}/enrollment", response_class=HTMLResponse)
def counter_issue(
    person_id: str,
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    document: Annotated[str, Form(max_length=40)] = "",
    scope: Annotated[str, Form(max_length=20)] = "both",
) -> Response:
    """Counter staff: record the in-person check and show the one-time enrollment code."""
    official = _official(request, actor)
    if isinstance(official, RedirectResponse):
        return official
    card.counter_person(db, official, person_id)
    try:
        issued = card.issue_at_counter(
            db,
            official,
            person_id=person_id,
            document=document,
            scope=trust.Scope.SIGNING if scope == trust.Scope.SIGNING else trust.Scope.BOTH,
        )
    except ValidationError as exc:
        db.rollback()  # a refused request leaves nothing behind
        return _counter_person_page(
            request, db, official, person_id, error=_message(request, exc), status=422
        )
    return _counter_person_page(request, db, official, person_id, code=issued)


@router.post("/counter/persons/{person_id}/events", response_class=HTMLResponse)
def counter_event(
    person_id: str,
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    event: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Counter staff or registry keepers: apply the JPKI rule of a life event."""
    official = _official(request, actor)
    if isinstance(official, RedirectResponse):
        return official
    card.counter_person(db, official, person_id)
    if event not in {e.value for e in CARD_EVENTS}:
        unknown = ValidationError(
            "unknown_event", "事由を選んでください。", "Choose what happened."
        )
        return _counter_person_page(
            request, db, official, person_id, error=_message(request, unknown), status=422
        )
    card.record_event(db, official, person_id=person_id, event=trust.Reason(event))
    return _see_other(f"/counter/persons/{person_id}", done=event)


# --- business accounts ----------------------------------------------------------------


def _business_page(
    request: Request,
    db: DbSession,
    actor: Actor,
    *,
    new_member: dict[str, Any] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    found = business.membership(db, actor)
    return _page(
        request,
        "identity/business.html",
        {
            "account": found.account,
            "me": found.member,
            "members": business.members(db, actor),
            "new_member": new_member,
            "error": error,
            "form": form or {},
            "removed": request.query_params.get("removed") == "1",
        },
        status_code=status,
    )


@router.get("/business", response_class=HTMLResponse)
def business_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    """Members of a business account: its members; the prime adds and removes them."""
    if actor is None:
        return login_redirect(request)
    return _business_page(request, db, actor)


@router.post("/business/members", response_class=HTMLResponse)
def business_add_member(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    login_name: Annotated[str, Form(max_length=100)] = "",
    display_name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """The prime only: a new member; their authenticator secret is shown this once."""
    if actor is None:
        return login_redirect(request)
    try:
        member, enrolment = business.add_member(
            db,
            settings_of(request),
            actor,
            login_name=login_name,
            display_name=display_name,
            password=password,
        )
    except TsunaguError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        db.rollback()  # a refused member is not half-created
        form = {"login_name": login_name, "display_name": display_name}
        return _business_page(
            request, db, actor, error=_message(request, exc), form=form, status=exc.status_code
        )
    shown = {"login_name": member.login_name, "secret": enrolment.secret, "uri": enrolment.uri}
    return _business_page(request, db, actor, new_member=shown)


@router.post("/business/members/{member_id}/remove")
def business_remove_member(
    member_id: str, request: Request, actor: CurrentActor, db: DbSession
) -> Response:
    """The prime only: remove a member of the same account (their sessions end)."""
    if actor is None:
        return login_redirect(request)
    business.remove_member(db, actor, member_id)
    return _see_other("/business", removed="1")


# --- powers of attorney ---------------------------------------------------------------


def _delegations_page(
    request: Request,
    db: DbSession,
    actor: Actor,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = [
        {**delegation.view(row), "principal_side": delegation.is_principal_side(db, actor, row)}
        for row in delegation.mine(db, actor)
    ]
    return _page(
        request,
        "identity/delegations.html",
        {
            "delegations": rows,
            "can_give": actor.kind in (ActorKind.PERSON, ActorKind.MEMBER),
            "error": error,
            "form": form or {},
            "done": request.query_params.get("done"),
        },
        status_code=status,
    )


@router.get("/delegations", response_class=HTMLResponse)
def delegations_page(request: Request, actor: CurrentActor, db: DbSession) -> Response:
    """Anyone logged in: the powers of attorney they gave or hold; give or revoke one."""
    if actor is None:
        return login_redirect(request)
    return _delegations_page(request, db, actor)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/delegations/draft", response_model=None)
def delegation_draft(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    agent_kind: Annotated[str, Form(max_length=20)] = "person",
    agent: Annotated[str, Form(max_length=64)] = "",
    procedures: Annotated[str, Form(max_length=2000)] = "",
    valid_from: Annotated[str, Form(max_length=10)] = "",
    valid_until: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The principal: the exact document to sign (JSON for the wallet script, else a page
    to sign it with the Python wallet and upload the signature)."""
    if actor is None:
        return login_redirect(request)
    form = {
        "agent_kind": agent_kind,
        "agent": agent,
        "procedures": procedures,
        "valid_from": valid_from,
        "valid_until": valid_until,
    }
    try:
        first, last = date.fromisoformat(valid_from), date.fromisoformat(valid_until)
    except ValueError:
        return _delegation_error(request, db, actor, _bad_date(), form)
    try:
        document = delegation.draft(
            db,
            actor,
            agent_kind=agent_kind,
            agent=agent,
            procedures=re.split(r"[\s,、]+", procedures),
            first_day=first,
            last_day=last,
        )
    except TsunaguError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return _delegation_error(request, db, actor, exc, form)
    canonical = protocol.canonical_json(document)
    if _wants_json(request):
        return JSONResponse(
            {"document": document, "content": protocol.b64(canonical)}, headers=NO_STORE
        )
    return _page(
        request,
        "identity/delegation_sign.html",
        {"document_text": canonical.decode("utf-8"), "document_b64": protocol.b64(canonical)},
    )


def _delegation_error(
    request: Request, db: DbSession, actor: Actor, error: TsunaguError, form: dict[str, str]
) -> Response:
    db.rollback()  # a refused power of attorney leaves nothing behind
    if _wants_json(request):
        body = {"code": error.code, "message_ja": error.message_ja, "message_en": error.message_en}
        return JSONResponse({"error": body}, status_code=error.status_code)
    return _delegations_page(
        request, db, actor, error=_message(request, error), form=form, status=error.status_code
    )


@router.post("/delegations", response_model=None)
def delegation_register(
    request: Request,
    actor: CurrentActor,
    db: DbSession,
    document: Annotated[str, Form(max_length=20_000)] = "",
    cms: Annotated[str, Form(max_length=350_000)] = "",
    cms_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The principal: register a signed power of attorney (signature from the browser wallet,
    or a .p7s made with ``tsunagu wallet sign`` and uploaded)."""
    if actor is None:
        return login_redirect(request)
    try:
        signature = (
            _uploaded(cms_file)
            if cms_file is not None and cms_file.filename
            else protocol.unb64(cms, what="cms")
        )
        parsed = json.loads(document) if document else None
        if not isinstance(parsed, dict) or not signature:
            raise ValidationError(
                "signature_required",
                "署名済みの委任状が必要です。",
                "A signed power of attorney is required.",
            )
        delegation.register(db, actor, document=parsed, cms_der=signature)
    except json.JSONDecodeError:
        bad = ValidationError(
            "bad_document", "委任状の形式が不正です。", "The power of attorney is malformed."
        )
        return _delegation_error(request, db, actor, bad, {})
    except TsunaguError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        return _delegation_error(request, db, actor, exc, {})
    return _see_other("/delegations", done="registered")


def _uploaded(upload: UploadFile) -> bytes:
    data = upload.file.read(MAX_SIGNATURE_FILE + 1)
    if len(data) > MAX_SIGNATURE_FILE:
        raise ValidationError(
            "signature_too_large",
            "署名ファイルが大きすぎます。",
            "The signature file is too large.",
        )
    return data


@router.post("/delegations/{delegation_id}/revoke")
def delegation_revoke(
    delegation_id: str, request: Request, actor: CurrentActor, db: DbSession
) -> Response:
    """The principal side only: revoke now (every later check fails)."""
    if actor is None:
        return login_redirect(request)
    delegation.revoke(db, actor, delegation_id)
    return _see_other("/delegations", done="revoked")
