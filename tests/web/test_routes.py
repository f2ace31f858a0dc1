"""How the app assembles its modules' routes: flat, APIs first, nothing lost.

Routes are put straight into the app (no lazily resolved ``include_router``
branches) and the JSON APIs come before the pages; that reordering is safe only
while the two groups can never match the same path, which is what is checked.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
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


def _could_match_the_same_path(a: str, b: str) -> bool:
    """Whether two path templates might match one path: a parameter matches one segment
    (``:path`` any number), so templates of different lengths, or with different literal
    segments at one place, never do."""
    first, second = a.split("/"), b.split("/")
    if ":path}" in a or ":path}" in b:
        return True
    return len(first) == len(second) and all(
        x == y or "{" in x or "{" in y for x, y in zip(first, second, strict=True)
    )


def test_no_two_api_routers_can_match_one_path_so_their_order_is_free() -> None:
    """Which API router comes first changes no match: the busiest may lead (app.py)."""
    for i, router in enumerate(API_ROUTERS):
        for later in API_ROUTERS[i + 1 :]:
            for a in _paths([router]):
                for b in _paths([later]):
                    assert not _could_match_the_same_path(a, b), (a, b)


def test_the_rule_sees_overlaps() -> None:
    assert _could_match_the_same_path("/api/a/{id}", "/api/a/queue")
    assert _could_match_the_same_path("/files/{rest:path}", "/files/a/b")
    assert not _could_match_the_same_path("/api/a/{id}", "/api/a/{id}/submit")
    assert not _could_match_the_same_path("/api/a/{id}/submit", "/api/b/{id}/submit")


def test_the_busiest_routes_are_tried_early(settings: Settings) -> None:
    paths = [getattr(route, "path", "") for route in create_app(settings).routes]
    assert paths.index("/api/exchange/fetch") < 15
    assert paths.index("/api/applications/{application_id}/submit") < 40


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


def _sync_dependencies(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and not (
            inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
        ):
            yield getattr(call, "__qualname__", repr(call))
        yield from _sync_dependencies(dependency)


def test_no_dependency_is_sent_to_a_thread() -> None:
    """FastAPI runs a plain ``def`` dependency in its thread pool: a hand-off to a thread
    and back on every request that uses it. Dependencies do no blocking work (database
    work happens in the handlers), so each is ``async``."""
    app = create_app(Settings(database_url="sqlite://"))
    sync = {
        f"{route.path}: {name}"
        for route in app.routes
        if isinstance(route, APIRoute)
        for name in _sync_dependencies(route.dependant)
    }
    assert not sync
