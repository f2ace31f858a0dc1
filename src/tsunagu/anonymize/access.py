"""Who may call the anonymization API until officials' login exists.

Anonymization handles raw personal data, so the API is closed by default: a
caller must present ``Authorization: Bearer <token>`` where the token is an
HMAC of the deployment's secret key (``tsunagu anonymize token`` prints it
for the operator). Once officials log in (identity issue), this check is to
be replaced by the role check of the official's session.
"""

from __future__ import annotations

import hashlib
import hmac

from tsunagu.core.errors import PermissionDenied, TsunaguError

_PURPOSE = b"tsunagu.anonymize.api/v1"
ACTOR = "anonymize-operator-token"


class Unauthenticated(TsunaguError):
    status_code = 401


def operator_token(secret_key: str) -> str:
    """The operator token of a deployment (changes when the secret key changes)."""
    return hmac.new(secret_key.encode("utf-8"), _PURPOSE, hashlib.sha256).hexdigest()


def authorize(authorization: str | None, secret_key: str) -> str:
    """The audit actor for a valid ``Authorization`` header; raises 401/403 otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "anonymize.unauthenticated",
            "匿名加工 API には運用者トークンが必要です (Authorization: Bearer …)",
            "the anonymization API needs the operator token (Authorization: Bearer …)",
        )
    if not hmac.compare_digest(token.strip(), operator_token(secret_key)):
        raise PermissionDenied(
            "anonymize.forbidden",
            "トークンが正しくありません",
            "the token is not valid for the anonymization API",
        )
    return ACTOR
