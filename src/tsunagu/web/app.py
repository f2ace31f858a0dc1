"""FastAPI application factory.

Each module contributes its routers through ``ROUTERS``; nothing imports
``web``, so the dependency arrows keep pointing down.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from anyio import to_thread
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from tsunagu import __version__
from tsunagu.anonymize.api import router as anonymize_router
from tsunagu.anonymize.views import router as anonymize_views
from tsunagu.core.audit.api import router as audit_router
from tsunagu.core.config import Settings, get_settings
from tsunagu.core.db import make_engine, make_session_factory
from tsunagu.exchange.api import router as exchange_api
from tsunagu.exchange.views import router as exchange_views
from tsunagu.identity.access_api import router as access_router
from tsunagu.identity.api import router as identity_router
from tsunagu.identity.views import router as identity_views
from tsunagu.lifeevent.employer_api import router as lifeevent_employer_api
from tsunagu.lifeevent.notices_api import router as lifeevent_notices_api
from tsunagu.lifeevent.notices_views import router as lifeevent_notices_views
from tsunagu.lifeevent.onestop_api import router as lifeevent_onestop_api
from tsunagu.lifeevent.onestop_views import router as lifeevent_onestop_views
from tsunagu.lifeevent.proactive_api import router as lifeevent_proactive_api
from tsunagu.lifeevent.proactive_views import router as lifeevent_proactive_views
from tsunagu.opendata.api import router as opendata_api
from tsunagu.opendata.ckan import router as ckan_router
from tsunagu.opendata.publish import router as opendata_publish
from tsunagu.opendata.views import router as opendata_views
from tsunagu.procedure.api import router as procedure_api
from tsunagu.procedure.console import router as procedure_console
from tsunagu.procedure.documents_api import router as procedure_documents_api
from tsunagu.procedure.documents_views import router as procedure_documents_views
from tsunagu.procedure.payments_api import router as procedure_payments_api
from tsunagu.procedure.payments_views import router as procedure_payments_views
from tsunagu.procedure.views import router as procedure_views
from tsunagu.registry.api import router as registry_api
from tsunagu.registry.views import router as registry_views
from tsunagu.trust.api import router as trust_router
from tsunagu.web import errors, views

STATIC_DIR = Path(__file__).resolve().parent / "static"

# A request is matched against the routes in order: the shell's four routes (the hub,
# /healthz for load balancers) first, then the JSON APIs, which other systems call in
# bulk (fetches, submissions), then the pages. Every API path starts with /api/ and no
# page path does (nor with a parameter), so the order of the groups changes no match;
# within each group the order is as written (test_routes.py). No two API routers can
# match the same path either (checked there), so the busiest come first: Starlette tries
# every route before the right one, ~11 K instructions each, and a submission's route
# was the 95th (5 % of the submission went to finding it).
API_ROUTERS = [
    exchange_api,  # evidence fetches
    procedure_api,  # submissions
    registry_api,
    audit_router,
    identity_router,
    ckan_router,
    opendata_api,
    trust_router,
    access_router,
    anonymize_router,
    procedure_documents_api,
    procedure_payments_api,
    lifeevent_notices_api,
    lifeevent_onestop_api,
    lifeevent_proactive_api,
    lifeevent_employer_api,
]
PAGE_ROUTERS = [
    registry_views,
    exchange_views,
    opendata_publish,
    opendata_views,
    identity_views,
    anonymize_views,
    procedure_views,
    procedure_documents_views,
    procedure_console,
    procedure_payments_views,
    lifeevent_onestop_views,
    lifeevent_notices_views,
    lifeevent_proactive_views,
]
ROUTERS = [views.router, *API_ROUTERS, *PAGE_ROUTERS]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="tsunagu",
        version=__version__,
        description=(
            "デジタル・ガバメントと官民データ活用の基盤 / "
            "digital government and public–private data platform"
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    engine = make_engine(settings.effective_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        _add_routes(app, router)
    app.router.on_startup.append(partial(_limit_request_threads, settings.request_threads))
    errors.install(app)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Put a module's routes straight into the app's route list, in order.

    ``include_router`` would keep each module's router as a lazily resolved
    branch that every request walks (twice, with scope bookkeeping per route)
    until it reaches its own: a submission, whose router is far down the list,
    spent more CPU finding its route than signing its notice. A module's router
    already gave its routes their prefix, tags and schema flag, so nothing is
    lost. Modules keep their routers flat (no nested ``include_router``).
    """
    app.router.routes.extend(router.routes)
    app.router.on_startup.extend(router.on_startup)
    app.router.on_shutdown.extend(router.on_shutdown)


async def _limit_request_threads(threads: int) -> None:
    # Synchronous handlers run in anyio's default thread pool (40 threads unless told).
    to_thread.current_default_thread_limiter().total_tokens = threads
