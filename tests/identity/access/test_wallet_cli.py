"""The operator/automation path end to end over real HTTP: ``tsunagu wallet …`` and
``tsunagu pki ca-cert`` as subprocesses against a live uvicorn server, checked by OpenSSL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI

from tests.openssl import cms_verify
from tsunagu.core.db import transaction
from tsunagu.identity import card

from .conftest import PIN, World


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from tsunagu.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_wallet_cli_enroll_sign_login(
    world: World, app: FastAPI, live_server: str, tmp_path: Path, database_url: str
) -> None:
    app.state.settings.base_url = live_server
    env = {
        **os.environ,
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_VAR_DIR": str(world.settings.var_dir),
        "TSUNAGU_BASE_URL": live_server,
    }
    with transaction(world.factory) as session:
        code = card.issue_at_counter(
            session, world.official_actor(world.counter), person_id=world.alice, document="passport"
        ).code
    wallet = tmp_path / "alice.wallet"
    created = run("wallet", "create", "--out", str(wallet), "--pin", PIN, env=env)
    assert created.returncode == 0, created.stderr
    enrolled = run(
        "wallet", "enroll", str(wallet), "--code", code, "--url", live_server, "--pin", PIN, env=env
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert "authentication, signing" in enrolled.stdout
    again = run(
        "wallet", "enroll", str(wallet), "--code", code, "--url", live_server, "--pin", PIN, env=env
    )
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    document = tmp_path / "転入届.pdf"
    document.write_bytes(b"%PDF-1.4 demo application\r\n\x00\xff")
    p7s = tmp_path / "転入届.pdf.p7s"
    signed = run(
        "wallet",
        "sign",
        str(wallet),
        "--in",
        str(document),
        "--out",
        str(p7s),
        "--pin",
        PIN,
        "--timestamp",
        env=env,
    )
    assert signed.returncode == 0, signed.stderr
    wrong = run(
        "wallet",
        "sign",
        str(wallet),
        "--in",
        str(document),
        "--out",
        str(tmp_path / "x.p7s"),
        "--pin",
        "000000",
        env=env,
    )
    assert wrong.returncode != 0 and "PIN" in wrong.stderr and "Traceback" not in wrong.stderr
    assert not (tmp_path / "x.p7s").exists()

    root = tmp_path / "root.pem"
    ca = run("pki", "ca-cert", env=env)
    assert ca.returncode == 0, ca.stderr
    root.write_text(ca.stdout)
    verified = cms_verify(p7s, document, root, "-signer", str(tmp_path / "signer.pem"))
    assert verified.returncode == 0, verified.stderr
    subject = subprocess.run(
        [
            "openssl",
            "x509",
            "-in",
            str(tmp_path / "signer.pem"),
            "-noout",
            "-subject",
            "-nameopt",
            "utf8,sep_multiline",
        ],
        capture_output=True,
        text=True,
    ).stdout
    for value in ("山田\u3000花子", "1985-04-01", "女", "東京都千代田区永田町1丁目1番1号"):
        assert value in subject

    login = run("wallet", "login", str(wallet), "--url", live_server, "--pin", PIN, env=env)
    assert login.returncode == 0, login.stderr
    assert "IAL3/AAL2" in login.stdout
