"""Link checks, self-published statistics, counters and the ``tsunagu opendata`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.opendata.conftest import CallAction, World, dataset
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.opendata import quality, service
from tsunagu.opendata.config import storage_for
from tsunagu.opendata.models import OdResource


def test_link_check_marks_broken_links(
    world: World, call: CallAction, live_server: str, session_factory: sessionmaker[Session]
) -> None:
    call(
        "package_create",
        "editor",
        world,
        **dataset(
            resources=[
                {"name": "ok", "url": f"{live_server}/healthz", "format": "JSON"},
                {"name": "missing", "url": f"{live_server}/no-such-file.csv", "format": "CSV"},
                {"name": "down", "url": "http://127.0.0.1:9/x.csv", "format": "CSV"},
            ]
        ),
    )
    with transaction(session_factory) as session:
        assert quality.check_links(session) == {"ok": 1, "broken": 2}
        states = {r.name: (r.link_status, r.link_error) for r in session.query(OdResource)}
    assert states["ok"] == ("ok", None)
    assert states["missing"] == ("broken", "HTTP 404")
    assert states["down"][0] == "broken" and "Connect" in states["down"][1]


def test_statistics_are_published_as_open_data(
    world: World,
    call: CallAction,
    client: TestClient,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    call("package_create", "editor", world, **dataset())
    call("package_search", q="AED")
    with transaction(session_factory) as session:
        quality.publish_statistics(session, "http://testserver", storage_for(settings))
    with transaction(session_factory) as session:  # a second run refreshes, never duplicates
        quality.publish_statistics(session, "http://testserver", storage_for(settings))
    pkg = call("package_show", id=quality.STATS_DATASET).json()["result"]
    assert len(pkg["resources"]) == 1 and pkg["resources"][0]["datastore_active"]
    rows = call(
        "datastore_search",
        resource_id=pkg["resources"][0]["id"],
        filters={"区分": "API呼出し数", "項目": "package_search"},
    ).json()["result"]
    assert rows["records"][0]["値"] >= 1
    stats = client.get("/api/opendata/stats").json()
    assert stats["datasets"] == 2 and stats["api_calls"]["package_search"] >= 1


def test_views_and_downloads_are_counted(
    world: World, call: CallAction, client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    call("package_create", "editor", world, **dataset())
    resource = call("package_show", id="aed").json()["result"]["resources"][0]
    response = client.get(
        f"/dataset/{resource['package_id']}/resource/{resource['id']}/download/aed.csv",
        follow_redirects=False,
    )
    assert response.status_code == 302
    with transaction(session_factory) as session:
        assert service.get_package(session, "aed").download_count == 1


def test_cli_token_lifecycle(
    database_url: str, tmp_path: Path, call: CallAction, world: World
) -> None:
    env = {**os.environ, "TSUNAGU_DATABASE_URL": database_url, "TSUNAGU_VAR_DIR": str(tmp_path)}
    tsunagu = str(Path(sys.executable).parent / "tsunagu")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [tsunagu, "opendata", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )

    assert run("user", "robot", "--org", "chiyoda", "--capacity", "editor").returncode == 0
    created = run("token", "create", "robot", "--name", "ci")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("tsod_")
    world.tokens["robot"] = token
    assert call("package_create", "robot", world, **dataset()).status_code == 200
    missing = run("token", "create", "nobody")
    assert missing.returncode == 1
    assert "nobody" in missing.stderr and "Traceback" not in missing.stderr
