"""The moving scenario: a demo family of three with a car moves to another municipality.

What a front end does: the head of the household logs in with the card key,
reads what the registers already know, answers where they move, types the
new address and the date, ticks the four companies to tell, signs once and
submits. The rules decide what they can; a reviewer of the new
municipality decides the rest (the child allowance); the worker applies
the register changes, which tell the four companies by signed webhooks to a
receiver started here. Only the HTTP API is used for the resident's side.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tsunagu.core.clock import tokyo_today
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.core.errors import ConflictError, NotFoundError
from tsunagu.core.outbox import worker
from tsunagu.exchange import sealing
from tsunagu.exchange import service as exchange
from tsunagu.handlers import HANDLER_MODULES
from tsunagu.identity import service as identity
from tsunagu.identity.card import enroll_demo_wallet
from tsunagu.identity.models import Person
from tsunagu.identity.roles import Actor, ActorKind
from tsunagu.identity.schemas import OfficialIn, OfficialRole, OrganizationKind
from tsunagu.lifeevent import allowance, notices, onestop
from tsunagu.lifeevent.receiver import Receiver, ReceiverThread
from tsunagu.lifeevent.webhooks import WebhookDispatcher
from tsunagu.procedure import service as procedures
from tsunagu.procedure.models import Application
from tsunagu.procedure.scenario import serving
from tsunagu.registry.demo import AGENCIES as DEMO_KEEPERS
from tsunagu.trust import protocol
from tsunagu.trust import wallet as wallets

PIN = "123456"
PROVIDERS = ("electricity", "gas", "bank", "mobile")
WANTED = ["name", "new_address", "move_date"]


def _family(session: Session) -> tuple[str, list[dict[str, Any]]]:
    """The first demo household of three, with a child, whose head owns a car."""
    heads = session.execute(
        select(Person.id).where(Person.demo.is_(True), Person.relationship == "head")
        .order_by(Person.id)
    ).scalars()  # fmt: skip
    for head in heads:
        try:
            members = onestop.household(session, head)
        except NotFoundError:  # no longer a resident here: not a candidate
            continue
        children = [m for m in members if m["age"] < onestop.ADULT_AGE]
        if len(members) == 3 and children and members[0]["vehicles"]:
            return head, members
    raise ConflictError(
        "no_demo_family",
        "条件に合うデモの世帯（3人・子・自動車）がありません"
        "（tsunagu demo seed を実行してください）。",
        "No demo household of three with a child and a car (run tsunagu demo seed).",
    )


def _official(session: Session, organization_id: str, role: OfficialRole, login: str) -> Actor:
    """A demo official of the organization with ``role`` (created for the scenario if missing)."""
    found = identity.find_official_by_login(session, login)
    record = found or identity.create_official(
        session,
        OfficialIn(organization_id=organization_id, display_name=login, login_name=login,
                   roles=[role], demo=True),
        actor="demo",
    )  # fmt: skip
    return Actor(
        kind=ActorKind.OFFICIAL, ial=2, aal=2, official_id=record.id,
        organization_id=record.organization_id, roles=frozenset(record.roles),
    )  # fmt: skip


def _prepare_agencies(
    session: Session, settings: Settings, members: list[dict[str, Any]], lgcodes: Sequence[str]
) -> None:
    """Seals for every office involved (municipalities, and the national keepers that answer
    evidence requests), and the transport bureau's designation."""
    store = sealing.store_for(settings)
    offices = [identity.find_organization(session, lgcode=code) for code in lgcodes]
    for kind in (OrganizationKind.MINISTRY, OrganizationKind.OTHER_AGENCY):
        offices += identity.list_organizations(session, kind=kind)
    for organization in offices:
        if organization is not None:
            store.ensure(session, organization.id, actor="demo")
    for vehicle in members[0]["vehicles"]:
        keeper = vehicle["keeper_id"]
        store.ensure(session, keeper, actor="demo")
        if "transport_bureau" not in exchange.functions_of(session, keeper):
            exchange.designate(session, keeper, "transport_bureau", actor="demo")


def _providers(session: Session, settings: Settings, url: str) -> list[str]:
    """Four demo companies receive moving notices at ``url`` (earlier endpoints are ended)."""
    corporations = identity.list_organizations(session, kind=OrganizationKind.CORPORATION)
    corporations = corporations[: len(PROVIDERS)]
    subscribers = []
    for sector, company in zip(PROVIDERS, corporations, strict=True):
        admin = _official(
            session, company.id, OfficialRole.ADMINISTRATOR, f"{company.id[:8]}.notices"
        )
        for old in notices.subscribers_of(session, admin):
            notices.end_subscriber(session, admin, old.id)
        registered = notices.register_subscriber(
            session, settings, admin, corporate_number=str(company.corporate_number),
            sector=sector, webhook_url=url, declared={"moved": WANTED},
        )  # fmt: skip
        subscribers.append(registered.subscriber.id)
    return subscribers


def _operated(settings: Settings) -> Settings:
    """The demo platform is operated by the demo Digital Agency unless one is configured."""
    if settings.platform_corporate_number:
        return settings
    operator = str(DEMO_KEEPERS["koukin_kouza"].corporate_number)
    return settings.model_copy(update={"platform_corporate_number": operator})


def _drain(factory: sessionmaker[Session], settings: Settings) -> None:
    worker.run(
        factory, settings, threading.Event(), handler_modules=HANDLER_MODULES, until_idle=True
    )


def _review(session: Session, app: Application) -> dict[str, Any] | None:
    """What the reviewer records: the allowance as the calculator gives it for the household."""
    if app.procedure_id != "jidou_teate":
        return None
    today = tokyo_today()
    children = allowance.household_children(session, app.subject_id, today)
    return {"monthly_amount": allowance.calculate(children, today).monthly_total}


def _decide_pending(factory: sessionmaker[Session], head: str, ids: list[str]) -> None:
    """The official side: a reviewer of each owning office approves what the rules left."""
    applicant = Actor(kind=ActorKind.PERSON, ial=3, aal=2, person_id=head)
    with transaction(factory) as session:
        for application_id in ids:
            app = procedures.get(session, applicant, application_id)
            assert app.owner_id is not None
            reviewer = _official(
                session, app.owner_id, OfficialRole.REVIEWER, f"{app.owner_id[:8]}.scenario"
            )
            procedures.assign(session, reviewer, application_id)
            procedures.decide(
                session, reviewer, application_id, True,
                "内容を確認しました。 / Checked by the office.", _review(session, app),
            )  # fmt: skip


def _call(http: httpx2.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = http.request(method, path, **kwargs)
    if not response.is_success:
        error = response.json().get("error", {}) if response.content else {}
        raise ConflictError(
            str(error.get("code", f"http_{response.status_code}")),
            str(error.get("message_ja", f"サーバがエラーを返しました（{response.status_code}）。")),
            str(error.get("message_en", f"The server answered {response.status_code}.")),
        )
    return response.json()


def _file(url: str, wallet_path: Path, destination: str, notify: list[str]) -> dict[str, Any]:
    """The resident's side, over HTTP: read, answer, sign once, submit."""
    wallet = wallets.Wallet.open(wallet_path)
    with httpx2.Client(base_url=url.rstrip("/"), timeout=60) as http:
        login = wallets.login(wallet, PIN, url=url, client=http)
        http.headers["x-csrf-token"] = str(login["csrf_token"])
        _call(http, "GET", "/api/life-events/moving/household")
        values = {
            "move_date": (tokyo_today() - timedelta(days=1)).isoformat(),
            "new_address.municipality_code": destination,
            "new_address.town": "本町",
            "new_address.block": "2丁目3番4号",
        }
        filing = _call(
            http, "POST", "/api/life-events/moving/filings",
            json={"choices": {"scope": "other_city"}, "values": values, "notify": notify},
        )  # fmt: skip
        signature = wallet.unlock(PIN).sign(protocol.canonical_json(filing["document"]))
        result: dict[str, Any] = _call(
            http, "POST", f"/api/life-events/filings/{filing['id']}/submit",
            json={"cms": protocol.b64(signature)},
        )  # fmt: skip
        return result


def _tracker(url: str, wallet_path: Path, filing_id: str) -> dict[str, Any]:
    wallet = wallets.Wallet.open(wallet_path)
    with httpx2.Client(base_url=url.rstrip("/"), timeout=60) as http:
        wallets.login(wallet, PIN, url=url, client=http)
        result: dict[str, Any] = _call(http, "GET", f"/api/life-events/filings/{filing_id}")
        return result


def run(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    make_app: Callable[[Settings], Any],
    lgcodes: Sequence[str],
) -> dict[str, Any]:
    """``tsunagu demo scenario moving``: returns one JSON-ready object of the outcome."""
    started = time.perf_counter()
    wallet_path = settings.var_dir / "demo" / "wallets" / "moving-family.wallet"
    with transaction(factory) as session:
        head, members = _family(session)
        _prepare_agencies(session, settings, members, lgcodes)
        if not wallet_path.exists():
            enroll_demo_wallet(session, settings, head, wallet_path)
        current = members[0]["address"]["municipality_code"]
        destination = next(code for code in lgcodes if code != current)
    receiver = Receiver()
    with ReceiverThread(receiver) as endpoint, serving(settings, make_app) as url:
        with transaction(factory) as session:
            subscribers = _providers(session, settings, endpoint.url)
        submitted = _file(url, wallet_path, destination, subscribers)
        _drain(factory, settings)
        _decide_pending(factory, head, submitted["pending"])
        _drain(factory, settings)
        with WebhookDispatcher(factory, _operated(settings), backoff_base=0.0) as webhooks:
            webhooks.run(threading.Event(), poll_interval=0.05, until_idle=True)
        final = _tracker(url, wallet_path, submitted["id"])
    delivered = [json.loads(r.body) for r in receiver.received]
    return {
        "filing_id": final["id"],
        "family": [m["id"] for m in members],
        "from_municipality": current,
        "to_municipality": destination,
        "applications": [
            {
                "procedure_id": p["procedure_id"],
                "application_id": p["application_id"],
                "status": p["status"],
            }
            for p in final["parts"]
        ],
        "private_notices_delivered": len(delivered),
        "private_notice_recipients": sorted(n["recipient"]["id"] for n in delivered),
        "attachments_requested": final["attachments_requested"],
        "fields_typed": final["fields_typed"],
        "fields_prefilled": final["fields_prefilled"],
        "choices": final["choices"],
        "procedures_unnecessary": final["procedures_unnecessary"],
        "all_completed": final["all_completed"],
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
