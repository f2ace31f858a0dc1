"""How the app assembles its modules' routes: flat, APIs first, nothing lost.

Routes are put straight into the app (no lazily resolved ``include_router``
branches) and the JSON APIs come before the pages; that reordering is safe only
while the two groups can never match the same path, which is what is checked.
"""

from __future__ import annotations

import warnings

from fastapi import APIRouter
from fastapi.routing import APIRoute

from tsunagu.core.config import Settings
from tsunagu.web import views
from tsunagu.web.app import API_ROUTERS, PAGE_ROUTERS, ROUTERS, create_app


def _paths(routers: list[APIRouter]) -> list[str]:
    return [getattr(route, "path", "") for router in routers for route in router.routes]


def test_api_paths_and_page_paths_never_overlap() -> None:
    for path in _paths(API_ROUTERS):
        assert path.startswith("/api/"), path
    for path in _paths([views.router, *PAGE_ROUTERS]):
        assert not path.startswith(("/api/", "/{")), path


def test_the_app_has_every_route_of_every_module_in_order(settings: Settings) -> None:
    app = create_app(settings)
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    assert [route.path for route in routes] == _paths(ROUTERS)
    assert all(isinstance(route, APIRoute) for router in ROUTERS for route in router.routes)


def test_module_startup_handlers_run_with_the_app(settings: Settings) -> None:
    app = create_app(settings)
    for router in ROUTERS:
        for handler in router.on_startup:
            assert handler in app.router.on_startup


def test_openapi_operation_ids_are_unique(settings: Settings) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns of a duplicate operation id
        schema = create_app(settings).openapi()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
