"""Operators set an official's password and TOTP from the CLI; the official then logs in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from fastapi.testclient import TestClient

from .conftest import World

NEW_PASSWORD = "a long enough passphrase"


def _cli(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TSUNAGU_DATABASE_URL": world.settings.effective_database_url,
        "TSUNAGU_SECRET_KEY": world.settings.secret_key,
        "TSUNAGU_VAR_DIR": str(world.settings.var_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", "official", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def test_password_set_by_cli_allows_login(world: World, clients: Callable[[], TestClient]) -> None:
    result = _cli(world, "password", "reviewer1", "--password", NEW_PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "otpauth://totp/" in result.stdout
    code = _cli(world, "totp", "reviewer1").stdout.strip()
    body = {"login_name": "reviewer1", "password": NEW_PASSWORD, "totp": code}
    assert clients().post("/api/identity/login/password", json=body).status_code == 200


def test_unknown_official_and_weak_password_are_clear_errors(world: World) -> None:
    unknown = _cli(world, "password", "nobody", "--password", NEW_PASSWORD)
    assert unknown.returncode == 1 and "no official" in unknown.stderr
    weak = _cli(world, "password", "reviewer1", "--password", "short")
    assert weak.returncode == 1 and "at least" in weak.stderr
    assert "Traceback" not in unknown.stderr + weak.stderr
