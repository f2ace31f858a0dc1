"""The operator's path: ``tsunagu anonymize run | release | sign | publish`` as subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from tests.anonymize.conftest import CONFIG, World
from tsunagu.anonymize import service
from tsunagu.core.config import Settings
from tsunagu.core.db import transaction


def _tsunagu(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TSUNAGU_DATABASE_URL": settings.database_url,
        "TSUNAGU_VAR_DIR": str(settings.var_dir),
        "TSUNAGU_PKI_KEY_PASSWORD": settings.pki_key_password,
        "TSUNAGU_BASE_URL": settings.base_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "tsunagu", "anonymize", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_release_sign_and_publish_from_the_command_line(
    settings: Settings,
    world: World,
    csv_text: str,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
) -> None:
    (tmp_path / "in.csv").write_text(csv_text, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(CONFIG, encoding="utf-8")
    ran = _tsunagu(
        settings, "run", "--config", str(tmp_path / "c.yaml"), "--in", str(tmp_path / "in.csv"),
        "--out", str(tmp_path / "out.csv"), "--report", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    release_args = [
        "release", "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "out.csv"),
        "--title", "住民統計", "--provision", "ウェブ公開",
    ]  # fmt: skip
    unknown = _tsunagu(settings, *release_args, "--organization", "011002")
    assert unknown.returncode == 1 and "011002" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1  # one line, no traceback
    recorded = _tsunagu(settings, *release_args, "--organization", "131016")
    assert recorded.returncode == 0, recorded.stderr
    release_id = recorded.stdout.split()[1]
    sealed = _tsunagu(settings, "sign", release_id)
    assert sealed.returncode == 0, sealed.stderr
    # the released file was altered on disk: publication refuses it
    kept = settings.var_dir / "anonymize" / "releases" / f"{release_id}.csv"
    original = kept.read_bytes()
    kept.write_bytes(original + b"extra\n")
    refused = _tsunagu(settings, "publish", release_id)
    assert refused.returncode == 1 and "SHA-256" in refused.stderr
    kept.write_bytes(original)
    published = _tsunagu(settings, "publish", release_id, "--license", "gov-jp-2.0")
    assert published.returncode == 0, published.stderr
    with transaction(session_factory) as session:
        row = service.get_release(session, release_id)
        assert row.organization_id == world.chiyoda and row.status == service.PUBLISHED
        assert row.signed_by == row.published_by == "cli:cli"
