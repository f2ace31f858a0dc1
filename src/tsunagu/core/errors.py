"""Domain errors that carry their message in Japanese and English.

Services raise these; the web layer maps them to HTTP status codes and the CLI
to exit codes, so the same failure reads the same everywhere.
"""

from __future__ import annotations

from typing import Any


class TsunaguError(Exception):
    """Base error with a stable code and bilingual message."""

    status_code = 400
    # HTTP headers the web layer adds to the answer (e.g. Retry-After of "not ready yet").
    headers: dict[str, str] | None = None

    def __init__(self, code: str, message_ja: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_ja = message_ja
        self.message_en = message_en

    def message(self, language: str) -> str:
        """The message in ``language`` (Japanese unless English is asked for)."""
        return self.message_en if language == "en" else self.message_ja

    def as_dict(self) -> dict[str, Any]:
        """JSON form; subclasses extend it with structured details (the API returns them)."""
        return {"code": self.code, "message_ja": self.message_ja, "message_en": self.message_en}


class ValidationError(TsunaguError):
    status_code = 422


class NotFoundError(TsunaguError):
    status_code = 404


class PermissionDenied(TsunaguError):
    status_code = 403


class ConflictError(TsunaguError):
    status_code = 409
