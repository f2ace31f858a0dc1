"""Keeping 個人番号 (My Number) without keeping it in clear.

A person row holds two things derived from the number:

* ``mynumber_hmac`` — HMAC-SHA256 of the normalised number, for lookup
  ("who has this number?") without being able to read numbers back; a keyed
  hash, because the space of 12-digit numbers is small enough to enumerate.
* ``mynumber_ciphertext`` — a Fernet token, so an authorised, audited
  procedure can still produce the number (番号法 limits who may).

Both keys are derived from ``Settings.secret_key`` with HKDF under distinct
labels; changing the secret key makes stored numbers unreadable and
unfindable, so it must be kept (and rotated only with a re-encryption).
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import urlsafe_b64encode

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tsunagu.core import ids
from tsunagu.core.config import Settings
from tsunagu.core.errors import ValidationError

_LOOKUP_LABEL = b"tsunagu/identity/mynumber/lookup-hmac-sha256"
_SEAL_LABEL = b"tsunagu/identity/mynumber/fernet"


def _derive(secret: str, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
        secret.encode("utf-8")
    )


def valid_mynumber(raw: str, field: str = "mynumber") -> str:
    """The normalised number (全角 accepted), or a ValidationError naming ``field``.

    The message never repeats the number itself, so it can be logged.
    """
    result = ids.check(ids.IdKind.MYNUMBER, raw)
    if not result.valid:
        raise ValidationError(
            "invalid_mynumber", f"{field}: {result.reason_ja}", f"{field}: {result.reason_en}"
        )
    return result.normalized


class MyNumberVault:
    """Keyed lookup hash and encryption for 個人番号; build it from the settings."""

    def __init__(self, secret_key: str) -> None:
        self._lookup_key = _derive(secret_key, _LOOKUP_LABEL)
        self._fernet = Fernet(urlsafe_b64encode(_derive(secret_key, _SEAL_LABEL)))

    @classmethod
    def from_settings(cls, settings: Settings) -> MyNumberVault:
        return cls(settings.secret_key)

    def lookup_key(self, raw: str) -> str:
        """Hex HMAC-SHA256 of the validated number: equal numbers, equal keys."""
        number = valid_mynumber(raw)
        return hmac.new(self._lookup_key, number.encode("ascii"), hashlib.sha256).hexdigest()

    def seal(self, raw: str) -> str:
        """Encrypt the validated number (a fresh token each time)."""
        return self._fernet.encrypt(valid_mynumber(raw).encode("ascii")).decode("ascii")

    def unseal(self, token: str) -> str:
        """Decrypt a token made by :meth:`seal` under the same secret key."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise ValidationError(
                "mynumber_unreadable",
                "個人番号を復号できません（秘密鍵が変更された可能性があります）",
                "the stored individual number cannot be decrypted (was the secret key changed?)",
            ) from exc
