"""Harvesting from a live CKAN-compatible catalog and from its DCAT document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.opendata.conftest import CallAction, World, dataset
from tsunagu.core import migrate
from tsunagu.core.db import make_engine, make_session_factory, transaction
from tsunagu.opendata import auth, harvest, service


@pytest.fixture
def remote(world: World, call: CallAction) -> World:
    call(
        "package_create",
        "editor",
        world,
        **dataset(spatial_lg_code="131016", temporal_start="2024-04-01"),
    )
    call(
        "package_create",
        "editor",
        world,
        **dataset(
            name="toilets",
            title="公衆トイレ一覧",
            license_id="gov-jp-2.0",
            notes="トイレ",
            resources=[{"name": "一覧", "format": "CSV", "url": "https://e.jp/t.csv"}],
        ),
    )
    call("package_create", "editor", world, **dataset(name="hidden", private=True))
    return world


@pytest.fixture
def local(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A second, independent tsunagu catalog that harvests the remote one."""
    url = f"sqlite:///{tmp_path / 'local.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        admin = auth.ensure_user(session, "admin", sysadmin=True)
        service.create_organization(
            session, auth.actor_for_user(session, admin), {"name": "tokyo", "title": "東京都"}
        )
    yield factory
    engine.dispose()


@pytest.mark.parametrize(("kind", "path"), [("ckan", ""), ("dcat", "/catalog.ttl")])
def test_harvest_imports_public_datasets_once(
    remote: World, live_server: str, local: sessionmaker[Session], kind: str, path: str
) -> None:
    with transaction(local) as session:
        source = harvest.create_source(
            session,
            harvest.HARVESTER,
            name="chiyoda-src",
            url=live_server + path,
            kind=kind,
            organization="tokyo",
        )
        assert [s.name for s in harvest.due_sources(session)] == ["chiyoda-src"]
        first = harvest.run(session, source, "http://local")
        assert first == {"created": 2, "updated": 0, "failed": 0}
        assert harvest.due_sources(session) == []
    with transaction(local) as session:
        second = harvest.run(session, harvest.get_source(session, "chiyoda-src"), "http://local")
        assert second == {"created": 0, "updated": 2, "failed": 0}
        found = service.package_search(session, harvest.HARVESTER, {"q": "AED"}, "http://local")
        assert found["count"] == 1
        pkg = found["results"][0]
        assert pkg["organization"]["name"] == "tokyo"
        assert pkg["spatial_lg_code"] == "131016"
        assert pkg["temporal_start"] == "2024-04-01"
        assert pkg["resources"][0]["url"] == "https://example.jp/aed.csv"
        assert pkg["license_id"] == "cc-by-4.0"
        toilets = service.package_search(
            session, harvest.HARVESTER, {"q": "トイレ"}, "http://local"
        )
        assert toilets["results"][0]["license_id"] == "gov-jp-2.0"


def test_unreachable_source_is_recorded(local: sessionmaker[Session]) -> None:
    with transaction(local) as session:
        source = harvest.create_source(
            session,
            harvest.HARVESTER,
            name="gone",
            url="http://127.0.0.1:9",
            kind="ckan",
            organization="tokyo",
        )
        with pytest.raises(harvest.HarvestError):
            harvest.run(session, source, "http://local")
        assert source.last_status == "error"
    with transaction(local) as session:
        actor = auth.actor_for_user(session, auth.ensure_user(session, "someone"))
        with pytest.raises(service.PermissionDenied):
            harvest.create_source(
                session, actor, name="x", url="http://x", kind="ckan", organization="tokyo"
            )
