"""Settings read from ``TSUNAGU_*`` environment variables.

One object, built once per process, so that a worker and a web process started
with the same environment agree on every path and URL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Deployment configuration; every field can be set as ``TSUNAGU_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="Runtime data (SQLite, files, keys).")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at <var_dir>/tsunagu.db.",
    )
    secret_key: str = Field(
        default="dev-only-secret-change-me",
        description="Signs session cookies; must be set in production.",
    )
    pki_key_password: str = Field(
        default="",
        description="Encrypts CA and TSA private keys at rest; empty derives it from secret_key.",
    )
    default_language: str = "ja"
    base_url: str = "http://127.0.0.1:8000"
    request_threads: int = Field(
        default=4,
        ge=1,
        description="Requests one server process works on at once. Requests are short and "
        "mostly Python (one core per process): a few threads keep the core busy while one "
        "waits for the database; dozens only fight over the interpreter lock.",
    )
    worker_batch_size: int = 200
    worker_poll_interval: float = 0.5
    outbox_max_attempts: int = 8
    outbox_backoff_base: float = 1.0
    outbox_lease_seconds: float = 60.0
    # E-mail hints ("a notice is in your inbox"); off while smtp_host is empty.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "noreply@tsunagu.invalid"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    upload_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        description="Largest document a resident may upload to an application (bytes).",
    )
    platform_corporate_number: str = Field(
        default="",
        description="法人番号 of the organization operating the platform; its seal certificate "
        "signs what the platform itself sends out (e.g. life-event webhooks to companies).",
    )

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the default SQLite file under ``var_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'tsunagu.db').as_posix()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    return Settings()
