"""HTML pages of the exchange: the resident's access log; for officials the matrix, the
organization's subscriptions to change notifications and its inbox."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from tsunagu.core.errors import PermissionDenied, TsunaguError
from tsunagu.core.i18n import N_, translate
from tsunagu.core.rendering import render, request_language
from tsunagu.core.web import DbSession
from tsunagu.exchange import accesslog, notifications
from tsunagu.exchange.definitions import evidence_types, matrix
from tsunagu.identity import service as identity
from tsunagu.identity.deps import csrf_for, require_official, require_person
from tsunagu.identity.roles import Actor
from tsunagu.identity.schemas import OfficialRole
from tsunagu.registry import forms
from tsunagu.registry.definitions import get_registry

router = APIRouter(include_in_schema=False)

# Page wording in both languages (kept with the page, like the anonymization report).
TEXT: dict[str, dict[str, str]] = {
    "ja": {
        "title": "わたしの情報の利用記録",
        "lead": "行政機関があなたの情報を取得した記録（拒否されたものを含む）と、"
        "あなたに関する変更の通知の記録です。各記録は改ざん検知できる監査証跡に含まれ、"
        "日ごとに公開されるルートに対する包含証明が付いています。",
        "filters": "絞り込み",
        "agency": "機関",
        "all": "すべて",
        "since": "期間（から）",
        "until": "期間（まで）",
        "apply": "絞り込む",
        "date_hint": "日付は 2025-04-01 のように入力してください。",
        "download": "ダウンロード",
        "csv": "CSV 形式でダウンロード",
        "json": "JSON 形式（検証用）でダウンロード",
        "verify": "JSON をダウンロードし、リポジトリの tools/verify_access_log.py で"
        "オフラインで検証できます（標準ライブラリのみ・サーバを信頼する必要はありません）。",
        "caption": "利用記録",
        "when": "日時",
        "what": "種類",
        "by": "取得・受領した機関",
        "purpose": "目的（手続）",
        "data": "情報",
        "basis": "法令上の根拠",
        "fields": "項目",
        "outcome": "結果",
        "proof": "監査記録",
        "fetch": "情報の取得",
        "notification": "変更の通知",
        "provided": "提供",
        "refused": "拒否",
        "not_found": "該当なし",
        "delivered": "通知済み",
        "rejected": "受領拒否（署名不正）",
        "unverified": "（未検証）",
        "empty": "該当する記録はありません。",
        "count": "件",
    },
    "en": {
        "title": "Who used my data",
        "lead": "Every time an agency fetched your data (including refused attempts) and every "
        "change notification about you. Each entry is part of the tamper-evident audit trail "
        "and comes with an inclusion proof against the published daily root.",
        "filters": "Filter",
        "agency": "Agency",
        "all": "All",
        "since": "From",
        "until": "To",
        "apply": "Apply",
        "date_hint": "Enter dates as 2025-04-01.",
        "download": "Download",
        "csv": "Download as CSV",
        "json": "Download as JSON (verifiable)",
        "verify": "Download the JSON and check it offline with tools/verify_access_log.py from "
        "the repository (standard library only; no need to trust the server).",
        "caption": "Access log",
        "when": "When",
        "what": "Kind",
        "by": "Agency",
        "purpose": "Purpose (procedure)",
        "data": "Data",
        "basis": "Legal basis",
        "fields": "Fields",
        "outcome": "Outcome",
        "proof": "Audit record",
        "fetch": "Fetch",
        "notification": "Change notification",
        "provided": "provided",
        "refused": "refused",
        "not_found": "no record",
        "delivered": "delivered",
        "rejected": "rejected (bad seal)",
        "unverified": "(unverified)",
        "empty": "No entries.",
        "count": "entries",
    },
}


@router.get("/me/access-log", response_class=HTMLResponse)
def access_log_page(
    request: Request,
    session: DbSession,
    actor: Annotated[Actor, Depends(require_person)],
    agency: Annotated[str | None, Query(max_length=64)] = None,
    since: date | None = None,
    until: date | None = None,
) -> HTMLResponse:
    assert actor.person_id is not None
    language = request_language(request)
    every = accesslog.describe(session, accesslog.entries_for(session, actor.person_id), language)
    agencies = sorted({(e["agency_id"], e["agency"]) for e in every if e["agency_id"]})
    filters: dict[str, Any] = {"agency": agency or None, "since": since, "until": until}
    entries = accesslog.describe(
        session, accesslog.entries_for(session, actor.person_id, **filters), language
    )
    query = urlencode({k: str(v) for k, v in filters.items() if v})
    return render(
        request,
        "exchange/access_log.html",
        {
            "t": TEXT[language],
            "entries": entries,
            "agencies": agencies,
            "filters": filters,
            "query": f"?{query}" if query else "",
        },
    )


@router.get("/exchange/matrix", response_class=HTMLResponse)
def matrix_page(
    request: Request,
    actor: Annotated[Actor, Depends(require_official(OfficialRole.ADMINISTRATOR))],
) -> HTMLResponse:
    """The legal-basis matrix as administrators review it."""
    return render(
        request,
        "exchange/matrix.html",
        {"matrix": matrix(), "evidence": evidence_types(), "language": request_language(request)},
    )


# --- subscriptions to change notifications (an organization's administrators) ---------------

Administrator = Annotated[Actor, Depends(require_official(OfficialRole.ADMINISTRATOR))]
# Events every registry offers; the packs name their own (a death, a move out …).
BUILTIN_EVENT_NAMES = {
    "created": N_("record created"),
    "changed": N_("record changed"),
    "corrected": N_("record corrected"),
    "retracted": N_("record retracted"),
}


def _administered(actor: Actor) -> str:
    if actor.organization_id is None:
        raise PermissionDenied(
            "no_organization", "所属組織がありません。", "The official belongs to no organization."
        )
    return actor.organization_id


def event_name(registry_id: str, event_id: str, language: str) -> str:
    rule = get_registry(registry_id).event(event_id)
    if rule is not None:
        return rule.name.get(language)
    return translate(language, BUILTIN_EVENT_NAMES.get(event_id, event_id))


def _subscriptions_page(
    request: Request, session: Session, organization: str, *, error: TsunaguError | None = None,
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    language = request_language(request)
    subscriptions = notifications.subscriptions_of(session, organization)
    bases = notifications.bases_for(session, organization)
    active = {(s.basis_id, s.event_id) for s in subscriptions if s.ended_at is None}
    return render(
        request,
        "exchange/subscriptions.html",
        {
            "language": language,
            "organization": identity.get_organization(session, organization),
            "subscriptions": subscriptions,
            "bases": bases,
            "active": active,
            "registry_name": lambda registry_id: get_registry(registry_id).name.get(language),
            "event_name": lambda registry_id, event_id: event_name(registry_id, event_id, language),
            "csrf": csrf_for(request),
            "error": error.message(language) if error else None,
            "saved": request.query_params.get("saved"),
        },
        status_code=status_code,
    )


@router.get("/exchange/subscriptions", response_class=HTMLResponse)
def subscriptions_page(request: Request, session: DbSession, actor: Administrator) -> HTMLResponse:
    """The organization's subscriptions and the notifications it may subscribe to."""
    return _subscriptions_page(request, session, _administered(actor))


@router.post("/exchange/subscriptions", response_class=HTMLResponse)
async def subscribe_form(request: Request, session: DbSession, actor: Administrator) -> Response:
    organization = _administered(actor)
    form = await request.form()
    try:
        notifications.subscribe(
            session, subscriber_id=organization, basis_id=str(form.get("basis_id", "")),
            event_id=str(form.get("event_id", "")), actor=actor.label,
        )  # fmt: skip
    except TsunaguError as error:
        return _subscriptions_page(
            request, session, organization, error=error, status_code=error.status_code
        )
    return RedirectResponse("/exchange/subscriptions?saved=subscribed", status_code=303)


@router.post("/exchange/subscriptions/{subscription_id}/end", response_class=HTMLResponse)
def end_subscription_form(
    subscription_id: str, session: DbSession, actor: Administrator
) -> Response:
    notifications.end_subscription(
        session, subscription_id, subscriber_id=_administered(actor), actor=actor.label
    )
    return RedirectResponse("/exchange/subscriptions?saved=ended", status_code=303)


def _displayed(registry_id: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    return forms.displayed(forms.fields_of(get_registry(registry_id)), data)


@router.get("/exchange/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, session: DbSession, actor: Annotated[Actor, Depends(require_official())]
) -> HTMLResponse:
    """Notifications delivered to the official's organization (seals verified on receipt)."""
    language = request_language(request)
    organization = _administered(actor)
    return render(
        request,
        "exchange/inbox.html",
        {
            "language": language,
            "items": [
                (item, _displayed(item.registry_id, item.message.get("data") or {}))
                for item in notifications.inbox(session, organization)
            ],
            "registry_name": lambda registry_id: get_registry(registry_id).name.get(language),
            "event_name": lambda registry_id, event_id: event_name(registry_id, event_id, language),
            "publisher": lambda org_id: identity.get_organization(session, org_id).name_ja,
        },
    )
