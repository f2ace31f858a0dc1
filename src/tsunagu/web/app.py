"""FastAPI application factory.

Each module contributes its routers through ``ROUTERS``; nothing imports
``web``, so the dependency arrows keep pointing down.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI
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

ROUTERS = [
    views.router,
    registry_api,
    registry_views,
    exchange_api,
    exchange_views,
    audit_router,
    identity_router,
    ckan_router,
    opendata_views,
    opendata_api,
    trust_router,
    access_router,
    identity_views,
    anonymize_router,
    anonymize_views,
    procedure_api,
    procedure_views,
    procedure_documents_api,
    procedure_documents_views,
    procedure_console,
    procedure_payments_api,
    procedure_payments_views,
    lifeevent_notices_api,
    lifeevent_onestop_api,
    lifeevent_onestop_views,
    lifeevent_notices_views,
    lifeevent_proactive_api,
    lifeevent_proactive_views,
    lifeevent_employer_api,
]


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
        app.include_router(router)
    app.router.on_startup.append(partial(_limit_request_threads, settings.request_threads))
    errors.install(app)
    return app


async def _limit_request_threads(threads: int) -> None:
    # Synchronous handlers run in anyio's default thread pool (40 threads unless told).
    to_thread.current_default_thread_limiter().total_tokens = threads
