"""``tsunagu registry``: operators read what the registers say, as of any day and knowledge."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.registry.conftest import resident
from tsunagu.cli import app
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction
from tsunagu.identity import service as identity
from tsunagu.registry import cli, service

SUBJECT = "00000000-0000-0000-0000-000000000099"
T1 = datetime(2024, 1, 10, tzinfo=UTC)
T2 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def corrected(
    session_factory: sessionmaker[Session], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 住民票 recorded at T1 with a wrong birth date, corrected at T2."""
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    with transaction(session_factory) as session:
        keeper = identity.ensure_local_government(session, "131016", actor="t").id
        service.assert_fact(
            session, "juki", SUBJECT, resident(birth_date="1980-01-03"), keeper_id=keeper,
            actor="t", valid_from=date(2010, 4, 1), at=T1,
        )  # fmt: skip
        service.correct(
            session, "juki", SUBJECT, {"birth_date": "1980-01-02"}, actor="t",
            valid_from=date(2010, 4, 1), at=T2,
        )  # fmt: skip


@pytest.mark.usefixtures("corrected")
def test_list_show_and_history() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["registry", "list"])
    assert listed.exit_code == 0
    juki = next(line for line in listed.output.splitlines() if line.startswith("juki "))
    assert juki.split()[1] == "1" and "住民基本台帳" in juki

    now = runner.invoke(app, ["registry", "show", "juki", SUBJECT])
    assert now.exit_code == 0 and json.loads(now.output)[0]["data"]["birth_date"] == "1980-01-02"
    before = runner.invoke(
        app, ["registry", "show", "juki", SUBJECT, "--known-at", "2024-02-01T00:00:00"]
    )
    assert json.loads(before.output)[0]["data"]["birth_date"] == "1980-01-03"
    assert json.loads(runner.invoke(app, ["registry", "show", "juki", SUBJECT,
                                          "--valid-on", "2009-01-01"]).output) == []  # fmt: skip

    versions = json.loads(runner.invoke(app, ["registry", "history", "juki", SUBJECT]).output)
    assert [v["reason"] for v in versions] == ["change", "correction"]
    assert versions[0]["superseded_at"] is not None and versions[1]["superseded_at"] is None
