"""The operator CLI: clear messages and exit codes, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def tsunagu(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=60,
    )


def test_help_lists_the_commands() -> None:
    result = tsunagu("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "db", "demo", "audit", "ids"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("kind", "number", "code"),
    [
        ("corporate", "7000012050002", 0),
        ("corporate", "7000012050003", 1),
        ("mynumber", "123456789018", 0),
        ("mynumber", "１２３４５６７８９０１８", 0),
        ("lgcode", "131016", 0),
        ("lgcode", "131017", 1),
    ],
)
def test_ids_check_exit_codes(kind: str, number: str, code: int) -> None:
    assert tsunagu("ids", "check", kind, number).returncode == code


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("12345", "must have 12 digits"),
        ("12345678901x", "digits only"),
        ("123456789019", "check digit"),
    ],
)
def test_ids_check_gives_one_line_reason(number: str, reason: str) -> None:
    result = tsunagu("ids", "check", "mynumber", number)
    assert result.returncode == 1
    assert reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_subcommand_and_kind_are_usage_errors() -> None:
    for args in (("frobnicate",), ("ids", "check", "passport", "1")):
        result = tsunagu(*args)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr


def test_unreachable_database_is_a_clear_error() -> None:
    result = tsunagu(
        "db",
        "upgrade",
        env={"TSUNAGU_DATABASE_URL": "postgresql+psycopg://nobody:secret@127.0.0.1:1/none"},
    )
    assert result.returncode == 3
    assert "cannot reach the database" in result.stderr
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_ids_generate_is_deterministic_and_valid() -> None:
    first = tsunagu("ids", "generate", "corporate", "--count", "3", "--seed", "7").stdout.split()
    assert (
        first
        == tsunagu("ids", "generate", "corporate", "--count", "3", "--seed", "7").stdout.split()
    )
    assert all(tsunagu("ids", "check", "corporate", n).returncode == 0 for n in first)
