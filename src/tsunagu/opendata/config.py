"""Catalog settings (``TSUNAGU_OPENDATA_*``) and the objects built from them.

Recommended-dataset definitions: the YAML files in the shared reference folder
carry no licence statement, so they are not copied into this package. They
are converted to Frictionless Table Schemas at run time from
``TSUNAGU_OPENDATA_RECOMMENDED_DIR``; when unset, the folder is looked for as
``../shared/reference/recommended-datasets`` beside the repository (where CI
places it) and beside the current directory. Without it the catalog works and
simply offers no recommended-dataset templates.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from tsunagu.core.config import Settings
from tsunagu.opendata.storage import LocalStorage, Storage

REPO_ROOT = Path(__file__).resolve().parents[3]
RECOMMENDED_SUBPATH = Path("shared/reference/recommended-datasets")


class OpendataSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TSUNAGU_OPENDATA_", env_file=".env", extra="ignore"
    )

    recommended_dir: Path | None = None
    site_title: str = "tsunagu オープンデータ"
    datastore_sync_limit: int = 20 * 1024 * 1024
    link_check_timeout: float = 10.0


@lru_cache(maxsize=1)
def opendata_settings() -> OpendataSettings:
    return OpendataSettings()


def recommended_dir() -> Path | None:
    """The folder of recommended-dataset YAML definitions, if one can be found."""
    configured = opendata_settings().recommended_dir
    candidates = (
        [configured]
        if configured
        else [
            REPO_ROOT.parent / RECOMMENDED_SUBPATH,
            Path.cwd().parent / RECOMMENDED_SUBPATH,
            Path.cwd() / RECOMMENDED_SUBPATH,
        ]
    )
    for candidate in candidates:
        if candidate and candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return None


def storage_for(settings: Settings) -> Storage:
    return LocalStorage(settings.var_dir / "opendata" / "files")
